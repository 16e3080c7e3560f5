package org.cryptforward.faults;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Never lose, whatever the input, under the launcher's real heap (-Xmx96m): a million empty MIME
 * parts and a million distinct To addresses are kept locally and forwarded (the rules matched on
 * what was read, which the log line says); a configuration that is a FIFO is refused at once;
 * after an OutOfMemoryError the status line is the only line; a SIGTERM'd delivery leaves a log
 * line.
 */
class BoundedInputIT {
    static ScriptedRelay relay;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        relay = new ScriptedRelay();
    }

    @AfterAll
    static void stop() {
        relay.close();
    }

    static byte[] millionEmptyParts() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(6 << 20);
        out.writeBytes(("From: a@b.example\nTo: root\nSubject: parts\nMessage-ID: <parts@b>\nMIME-Version: 1.0\n"
                        + "Content-Type: multipart/mixed; boundary=\"p\"\n\n")
                .getBytes(StandardCharsets.US_ASCII));
        byte[] part = "--p\n\n".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < 1_000_000; i++) {
            out.writeBytes(part);
        }
        out.writeBytes("--p--\n".getBytes(StandardCharsets.US_ASCII));
        return out.toByteArray();
    }

    static byte[] millionAddresses() {
        StringBuilder sb = new StringBuilder(24 << 20);
        sb.append("From: a@b.example\nSubject: addresses\nMessage-ID: <addresses@b>\n");
        // a thousand To fields of a thousand addresses each, and one more To line of the rest
        for (int f = 0; f < 1000; f++) {
            sb.append("To: ");
            for (int i = 0; i < 1000; i++) {
                sb.append(i == 0 ? "" : ",\n ")
                        .append("user")
                        .append(f * 1000 + i)
                        .append("@host")
                        .append(f)
                        .append(".example");
            }
            sb.append('\n');
        }
        sb.append("\nbody\n");
        return sb.toString().getBytes(StandardCharsets.US_ASCII);
    }

    void keptAndForwarded(String name, byte[] message, String expectNote) throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve(name), relay.port(), "", true, List.of(TestKeys.ED.email));
        int before = relay.accepted().size();
        Launcher.Run run = Launcher.run(
                new ByteArrayInputStream(message),
                Map.of(),
                300,
                "deliver",
                "--config",
                sb.config.toString(),
                "--recipient",
                "root");
        assertEquals(0, run.exit(), run.output());
        assertEquals("", run.output(), "nothing said on success");
        List<Path> local = sb.maildirMessages();
        assertEquals(1, local.size(), "kept locally");
        assertArrayEquals(message, Files.readAllBytes(local.get(0)), "local copy identical");
        List<byte[]> got = relay.accepted();
        assertEquals(before + 1, got.size(), "forwarded");
        byte[] plain = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(got.get(got.size() - 1))));
        assertTrue(Messages.isOriginalWithMark(message, plain), "decrypts to the original");
        if (expectNote != null) {
            assertTrue(sb.logText().contains(expectNote), sb.logText());
        }
    }

    @Test
    void aMillionEmptyPartsAreKeptAndForwarded() throws Exception {
        keptAndForwarded("parts", millionEmptyParts(), null);
    }

    @Test
    void aMillionAddressesAreKeptAndForwardedOnWhatWasRead() throws Exception {
        keptAndForwarded("addresses", millionAddresses(), "To/Cc too large: rules matched on the first");
    }

    @Test
    void aConfigurationThatIsAFifoIsRefusedAtOnce() throws Exception {
        Path fifo = tmp.resolve("cf.toml");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        long t0 = System.nanoTime();
        Path in = Files.write(tmp.resolve("in"), "Subject: x\n\nx\n".getBytes(StandardCharsets.US_ASCII));
        Launcher.Run run =
                Launcher.finish(Launcher.startDeliver(fifo, in, tmp.resolve("out"), Map.of()), tmp.resolve("out"), 60);
        assertEquals(75, run.exit(), run.output());
        assertTrue(run.output().startsWith("4.3.5 cryptforward: configuration error: "), run.output());
        assertTrue(run.output().contains("not a regular file"), run.output());
        assertEquals(1, run.output().lines().count(), run.output());
        Process check = Launcher.start(
                List.of(Launcher.path().toString(), "check", "--config", fifo.toString()),
                in,
                tmp.resolve("check"),
                Map.of());
        if (!check.waitFor(60, TimeUnit.SECONDS)) {
            check.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            check.destroyForcibly();
            throw new AssertionError("check hangs on a FIFO");
        }
        String checkOut = Files.readString(tmp.resolve("check"));
        assertTrue(check.exitValue() != 0 && checkOut.contains("not a regular file"), checkOut);
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(30), "at once, not at a deadline");
    }

    @Test
    void afterAnOutOfMemoryErrorTheStatusLineIsTheOnlyLine() throws Exception {
        // a heap too small for the delivery: the JVM runs out of memory for real
        Sandbox sb = new Sandbox(tmp.resolve("oom"), relay.port(), "", true, List.of(TestKeys.ED.email));
        Launcher.Run run = Launcher.run(
                new ByteArrayInputStream(millionAddresses()),
                Map.of("CRYPTFORWARD_JAVA_OPTS", "-Xmx6m -Xms6m"),
                120,
                "deliver",
                "--config",
                sb.config.toString(),
                "--recipient",
                "root");
        assertEquals(75, run.exit(), run.output());
        assertEquals(
                List.of("4.3.0 cryptforward: out of memory; the MTA will retry"),
                run.output().lines().toList(),
                run.output());
    }

    @Test
    void aSigtermedDeliveryLeavesALogLine() throws Exception {
        try (ScriptedRelay stalled = new ScriptedRelay()) {
            stalled.pause(ScriptedRelay.Step.END_OF_DATA, java.time.Duration.ofSeconds(60));
            Sandbox sb = new Sandbox(tmp.resolve("term"), stalled.port(), "", true, List.of(TestKeys.ED.email));
            Path in = Launcher.postfixInput(
                    tmp,
                    "in",
                    "a@b.example",
                    "From: a@b.example\nTo: root\nSubject: t\n\nbody\n".getBytes(StandardCharsets.US_ASCII));
            Path out = tmp.resolve("out");
            Process p = Launcher.startDeliver(sb.config, in, out, Launcher.postfixEnv("root@cf.test", "a@b.example"));
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (sb.maildirMessages().isEmpty() && System.nanoTime() < until) {
                Thread.sleep(50);
            }
            Thread.sleep(500);
            ProcessHandle jvm = Launcher.jvmOf(p);
            jvm.destroy(); // SIGTERM
            Launcher.Run run = Launcher.finish(p, out, 30);
            assertEquals(75, run.exit(), run.output());
            assertTrue(sb.logText().contains("status=deferred (4.3.0 terminated by a signal"), sb.logText());
            assertFalse(sb.logText().contains("status=sent"), sb.logText());
        }
    }
}
