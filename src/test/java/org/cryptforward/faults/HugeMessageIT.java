package org.cryptforward.faults;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.cryptforward.support.ExternalTool;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.TestKeys;
import org.cryptforward.support.Tools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A message of 64 MB by default — 1 GB with {@code -Dhuge.megabytes=1024}, as CI's end-to-end run
 * does; any size with {@code -Dhuge.megabytes=N} — streamed through the real
 * launcher with its small heap: exit 0, the local copy identical to the input, and the relayed
 * forward decrypting with GnuPG to the original plus the header protection parameters, compared by SHA-256.
 */
class HugeMessageIT {
    static final String HEADER =
            "From: backup@host.example\nTo: root@host.example\nSubject: huge\nMessage-ID: <huge@host.example>\n"
                    + "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n";

    @TempDir
    Path tmp;

    /** Streams the header and {@code size} bytes of numbered lines, digesting what it gives out. */
    static final class Generator extends InputStream {
        private final long size;
        private final MessageDigest digest;
        private byte[] chunk;
        private int pos;
        private long produced;
        private long line;

        Generator(String header, long size) throws Exception {
            this.chunk = header.getBytes(StandardCharsets.US_ASCII);
            this.size = size;
            this.digest = MessageDigest.getInstance("SHA-256");
        }

        private boolean next() {
            if (produced >= size) {
                return false;
            }
            StringBuilder sb = new StringBuilder(77 * 1000);
            for (int i = 0; i < 1000 && produced + sb.length() < size; i++) {
                String n = String.format("%012d", line++);
                sb.append(n)
                        .append(" lorem ipsum dolor sit amet consectetur adipiscing elit sed do ")
                        .append('\n');
            }
            chunk = sb.toString().getBytes(StandardCharsets.US_ASCII);
            produced += chunk.length;
            pos = 0;
            return true;
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (pos >= chunk.length && !next()) {
                return -1;
            }
            int n = Math.min(len, chunk.length - pos);
            System.arraycopy(chunk, pos, b, off, n);
            digest.update(chunk, pos, n);
            pos += n;
            return n;
        }
    }

    @Test
    @Timeout(value = 40, unit = TimeUnit.MINUTES) // 1 GB on a busy machine; the default is 10 minutes
    void aHugeMessageIsStreamedKeptAndForwarded() throws Exception {
        ExternalTool.require("gpg");
        long megabytes = Long.getLong("huge.megabytes", 64);
        Path spool = Files.createDirectories(tmp.resolve("relay"));
        try (ScriptedRelay relay = new ScriptedRelay().spoolTo(spool)) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", true, List.of(TestKeys.ED.email));
            sb.writeConfig(Files.readString(sb.config)
                    .replace("deadline_seconds = 60", "deadline_seconds = 900")
                    .replace("timeout_seconds = 10", "timeout_seconds = 300"));
            Generator input = new Generator(HEADER, megabytes << 20);
            Launcher.Run run = Launcher.run(
                    input, Map.of(), 900, "deliver", "--config", sb.config.toString(), "--recipient", "root");
            assertEquals(0, run.exit(), run.output());
            byte[] inputDigest = input.digest.digest();

            List<Path> local = sb.maildirMessages();
            assertEquals(1, local.size());
            assertArrayEquals(
                    inputDigest, sha256(Files.newInputStream(local.get(0))), "local copy identical to the input");

            assertEquals(1, relay.acceptedFiles().size());
            Path home = Files.createDirectories(tmp.resolve("gnupg"));
            Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx------"));
            Map<String, String> env = Map.of("GNUPGHOME", home.toString());
            assertEquals(
                    0,
                    Tools.run(tmp, TestKeys.ED.secretKey(), List.of("gpg", "--batch", "--import"), env)
                            .exit());
            ProcessBuilder pb = new ProcessBuilder(
                    "gpg",
                    "--batch",
                    "--quiet",
                    "--decrypt",
                    relay.acceptedFiles().get(0).toString());
            pb.environment().putAll(env);
            pb.redirectError(tmp.resolve("gpg.err").toFile());
            Process gpg = pb.start();
            byte[] payloadDigest = sha256(gpg.getInputStream());
            assertEquals(0, gpg.waitFor(), Files.readString(tmp.resolve("gpg.err")));
            // the same message with the header protection parameters added to the Content-Type
            Generator expected = new Generator(
                    HEADER.replace("charset=us-ascii\n", "charset=us-ascii; hp=\"cipher\"; protected-headers=\"v1\"\n"),
                    megabytes << 20);
            expected.transferTo(java.io.OutputStream.nullOutputStream());
            assertArrayEquals(expected.digest.digest(), payloadDigest, "decrypts to the original");
            assertTrue(Files.size(relay.acceptedFiles().get(0)) > megabytes << 20, "the whole message was relayed");
        }
    }

    static byte[] sha256(InputStream in) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[1 << 16];
        try (in) {
            int n;
            while ((n = in.read(buf)) > 0) {
                d.update(buf, 0, n);
            }
        }
        return d.digest();
    }
}
