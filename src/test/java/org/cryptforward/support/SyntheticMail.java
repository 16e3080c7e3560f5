package org.cryptforward.support;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * Generated messages of a chosen size for the process-level tests: a cron-style header with a
 * unique Subject and Message-ID, and a body of varied lines — some starting with {@code From }
 * or {@code >From } (mboxrd quoting), some with 8-bit UTF-8, some long — that identify the
 * message on every line, so that two messages mixed up, or one cut short, are noticed.
 */
public final class SyntheticMail {
    private SyntheticMail() {}

    public static byte[] cron(String id, int approxBytes, long seed) {
        Random r = new Random(seed);
        ByteArrayOutputStream out = new ByteArrayOutputStream(approxBytes + 4096);
        String header = "From: root@host.example (Cron Daemon)\n"
                + "To: root\n"
                + "Subject: Cron <root@host> job " + id + "\n"
                + "Message-ID: <" + id + "@host.example>\n"
                + "MIME-Version: 1.0\n"
                + "Content-Type: text/plain; charset=UTF-8\n"
                + "Content-Transfer-Encoding: 8bit\n"
                + "\n";
        out.writeBytes(header.getBytes(StandardCharsets.UTF_8));
        for (int line = 0; out.size() < approxBytes; line++) {
            String text = switch (line % 7) {
                case 0 -> "From the job " + id + ", line " + line;
                case 1 -> ">From quoted " + id + " line " + line;
                case 2 -> "Prüfsumme " + id + " Zeile " + line + " ✓";
                case 3 -> "long " + id + " " + line + " " + "x".repeat(200 + r.nextInt(600));
                default -> "line " + line + " of " + id + " " + Long.toHexString(r.nextLong());
            };
            out.writeBytes((text + "\n").getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }
}
