package org.cryptforward.faults;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.ScriptedRelay.Action;
import org.cryptforward.support.ScriptedRelay.Step;
import org.cryptforward.support.SyntheticMail;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sendmail} killed with SIGKILL at random points, 20 times, with a message large enough
 * that the kill often falls while its forward is encrypted into the queue: no kill ever leaves half
 * an entry in the queue (every entry there is complete and decrypts to the message), and no file of
 * the state directory ever holds the plaintext. The leftovers of killed runs are only in
 * {@code queue/tmp/}, and the next run of the queue removes them; then it sends every complete
 * entry exactly once.
 */
class SendmailKillIT {
    static final String CANARY = "CANARY-sigkill-5e1b";
    static final int TRIALS = 20;

    @TempDir
    Path tmp;

    static byte[] message(int i) {
        byte[] body = SyntheticMail.cron("kill" + i, 3_000_000, i);
        byte[] tail = ("last line " + CANARY + "\n").getBytes(StandardCharsets.US_ASCII);
        byte[] m = new byte[body.length + tail.length];
        System.arraycopy(body, 0, m, 0, body.length);
        System.arraycopy(tail, 0, m, body.length, tail.length);
        return m;
    }

    static List<Path> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    static List<Path> entries(Path queue) throws IOException {
        List<Path> out = new ArrayList<>();
        if (Files.isDirectory(queue)) {
            try (Stream<Path> s = Files.list(queue)) {
                s.filter(p -> p.getFileName().toString().matches("[0-9A-F]{10,32}"))
                        .forEach(out::add);
            }
        }
        return out;
    }

    /** A whole entry: its files, a metadata file that ends as it should, a message of the size it names. */
    static void assertWhole(Path entry) throws IOException {
        String meta = Files.readString(entry.resolve("meta"), StandardCharsets.US_ASCII);
        assertTrue(meta.startsWith("cryptforward-queue 1\n") && meta.endsWith("\nend\n"), entry + ": " + meta);
        long size = Long.parseLong(meta.lines()
                .filter(l -> l.startsWith("size "))
                .findFirst()
                .orElseThrow()
                .substring(5));
        assertEquals(size, Files.size(entry.resolve("message")), entry + ": the message is whole");
        assertTrue(Files.exists(entry.resolve("lock")));
        String msg = Files.readString(entry.resolve("message"), StandardCharsets.ISO_8859_1);
        assertTrue(msg.strip().endsWith("--"), entry + ": the message ends with its closing boundary");
    }

    @Test
    void sigkillAtRandomPointsNeverLeavesHalfAnEntryNorPlaintext() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay()) {
            relay.at(Step.GREETING, Action.reply("421 4.3.2 not now")); // everything stays queued
            Sandbox sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", true, List.of(TestKeys.ED.email));
            Path queue = sb.state.resolve("queue");

            // how long the JVM of a whole run lives here, to spread the kills over it
            Process first =
                    Launcher.start(message(0), Map.of(), "sendmail", "--config", sb.config.toString(), "-i", "root");
            Optional<ProcessHandle> firstJvm = Launcher.jvmIfStarted(first, 20_000);
            long t0 = System.nanoTime();
            assertTrue(first.waitFor(120, TimeUnit.SECONDS));
            long runMillis = Math.max(50, (System.nanoTime() - t0) / 1_000_000);
            assertTrue(firstJvm.isPresent());
            assertEquals(
                    0, first.exitValue(), new String(first.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            assertEquals(1, entries(queue).size());

            Random random = new Random(20261201);
            int killed = 0;
            for (int i = 1; i <= TRIALS; i++) {
                Process p = Launcher.start(
                        message(i), Map.of(), "sendmail", "--config", sb.config.toString(), "-i", "root");
                Optional<ProcessHandle> jvm = Launcher.jvmIfStarted(p, 20_000);
                long delay = (long) (random.nextDouble() * runMillis);
                long started = System.nanoTime();
                Thread.sleep(delay);
                if (jvm.isPresent() && jvm.get().isAlive()) {
                    jvm.get().destroyForcibly(); // SIGKILL
                    killed++;
                } else {
                    // it finished first: the machine is faster now than when measured
                    runMillis = Math.max(50, Math.min(runMillis, (System.nanoTime() - started) / 1_000_000));
                }
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher ends");
                p.getInputStream().readAllBytes();
                for (Path e : entries(queue)) {
                    assertWhole(e);
                }
                for (Path f : files(sb.state)) {
                    assertFalse(
                            Messages.contains(Files.readAllBytes(f), CANARY.getBytes(StandardCharsets.US_ASCII)),
                            "trial " + i + " (killed after " + delay + " ms): plaintext in " + f);
                }
            }
            assertTrue(
                    killed >= TRIALS / 2,
                    "at least half the trials were killed mid-run (" + killed + "); a run takes " + runMillis + " ms");

            int queued = entries(queue).size();
            assertTrue(queued >= 1 && queued <= TRIALS + 1, "entries: " + queued);
            relay.clear();
            Launcher.Run flush = Launcher.run(
                    new java.io.ByteArrayInputStream(new byte[0]),
                    Map.of(),
                    300,
                    "queue",
                    "--config",
                    sb.config.toString(),
                    "run");
            assertEquals(0, flush.exit(), flush.output());
            assertTrue(flush.output().contains(queued + " sent, 0 deferred"), flush.output());
            assertEquals(queued, relay.accepted().size(), "every whole entry sent once");
            for (byte[] forward : relay.accepted()) {
                byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(forward)));
                assertTrue(
                        Messages.contains(payload, CANARY.getBytes(StandardCharsets.US_ASCII)),
                        "the forward decrypts to the whole message");
            }
            assertEquals(List.of(), entries(queue));
            assertEquals(List.of(), files(queue), "leftovers of killed runs removed");
        }
    }

    @Test
    void runnersStartedTogetherSendEachEntryOnce() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay()) {
            relay.at(Step.GREETING, Action.reply("421 4.3.2 not now"));
            Sandbox sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", true, List.of(TestKeys.ED.email));
            int entries = 6;
            for (int i = 0; i < entries; i++) {
                byte[] m = ("To: root\nSubject: race " + i + "\nMessage-ID: <race" + i + "@host>\n\n" + CANARY + "\n")
                        .getBytes(StandardCharsets.US_ASCII);
                assertEquals(0, sb.run(m, "sendmail", "-i", "root").exit());
            }
            assertEquals(entries, entries(sb.state.resolve("queue")).size());
            relay.clear();
            relay.pause(Step.DATA, java.time.Duration.ofMillis(300)); // widen the window in which runners overlap
            List<Process> runners = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                runners.add(Launcher.start(new byte[0], Map.of(), "queue", "--config", sb.config.toString(), "run"));
            }
            for (Process p : runners) {
                assertTrue(p.waitFor(120, TimeUnit.SECONDS));
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertEquals(0, p.exitValue(), out);
            }
            assertEquals(entries, relay.accepted().size(), "each entry sent once, whichever runner took it");
            java.util.Set<String> subjects = new java.util.HashSet<>();
            relay.accepted()
                    .forEach(
                            a -> subjects.add(Messages.headerValue(a, "Subject").strip()));
            assertEquals(entries, subjects.size(), subjects.toString());
            assertEquals(List.of(), entries(sb.state.resolve("queue")));
        }
    }
}
