package org.cryptforward.support;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * An independent second reader: Python's standard {@code mailbox} module, run as a subprocess
 * with {@code src/test/resources/read_mailbox.py}. Needs {@code python3} (CI installs it).
 */
public final class PythonMailbox {
    /** A message as Python's mbox reader split it out: the From_ line and the bytes (still quoted). */
    public record MboxMessage(String fromLine, byte[] stored) {}

    private PythonMailbox() {}

    /** The messages of a Maildir by key (file name in new/ or cur/ up to the ':'), sorted. */
    public static Map<String, byte[]> readMaildir(Path maildir, Path work) {
        Path out = run("maildir", maildir, work);
        Map<String, byte[]> messages = new LinkedHashMap<>();
        try (Stream<Path> s = Files.list(out)) {
            for (Path p : s.sorted().toList()) {
                messages.put(p.getFileName().toString(), Files.readAllBytes(p));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return messages;
    }

    /** The messages of an mbox, in order. */
    public static List<MboxMessage> readMbox(Path mbox, Path work) {
        Path out = run("mbox", mbox, work);
        List<MboxMessage> messages = new ArrayList<>();
        try {
            for (int n = 0; Files.exists(out.resolve(String.format("%06d.msg", n))); n++) {
                messages.add(new MboxMessage(
                        Files.readString(out.resolve(String.format("%06d.from", n)), StandardCharsets.UTF_8),
                        Files.readAllBytes(out.resolve(String.format("%06d.msg", n)))));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return messages;
    }

    private static Path run(String kind, Path mailbox, Path work) {
        ExternalTool.require("python3");
        try {
            Path script =
                    Path.of(PythonMailbox.class.getResource("/read_mailbox.py").toURI());
            Path out = Files.createTempDirectory(work, "python-" + kind);
            Path log = work.resolve(out.getFileName() + ".log");
            Process p = new ProcessBuilder("python3", script.toString(), kind, mailbox.toString(), out.toString())
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("python3 did not finish reading " + mailbox);
            }
            String output = Files.readString(log);
            assertEquals(0, p.exitValue(), () -> "python3 read_mailbox.py failed: " + output);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
