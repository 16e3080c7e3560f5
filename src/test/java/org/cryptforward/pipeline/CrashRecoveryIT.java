package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import jakarta.mail.internet.MimeMessage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.cryptforward.support.ConfigToml;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.MboxReader;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.SyntheticMail;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILL at random points. Each trial starts a real {@code deliver} process with a message of
 * 1.5 MB and kills its JVM — after a random delay within the time a whole run takes, or at a
 * random moment once it has begun writing the local copy — then checks what it left: either no
 * trace or the complete message (for an mbox: once the next delivery, or the retry, has taken the
 * mailbox locks; until then a torn tail must be a strict prefix of the message's bytes, never
 * anything else). In every third trial a different message is delivered before the retry, so
 * that a stranger repairs the mailbox. The retry, a new process with a new envelope line as
 * Postfix would start it, must end with exactly one local copy, everything delivered earlier
 * untouched, and the forward at the relay, decrypting to the original (twice at most: a kill
 * between the relay's 250 and the journal record is the one window where "at least once" cannot
 * be "exactly once"). Trials go on until {@value #KILLS} runs were really killed; the seed is
 * printed, and {@code -Dcrash.seed=N} repeats a sequence of delays.
 */
class CrashRecoveryIT {
    /** Trials go on until this many runs were really killed (a run may finish before its kill). */
    static final int KILLS = 20;

    static final int MAX_TRIALS = 30;
    static final int SIZE = 1_500_000;

    enum Kill {
        RANDOM_DELAY,
        WHILE_WRITING
    }

    /** What a killed run left in the mailbox. */
    enum Left {
        NOTHING,
        TORN,
        COMPLETE
    }

    @TempDir
    static Path tmp;

    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    @Test
    void aDeliveryKilledAtAnyPointLeavesNoTraceOrTheWholeMessageAndItsRetryDeliversOnce() throws Exception {
        long seed = Long.getLong("crash.seed", System.nanoTime());
        Random random = new Random(seed);
        System.out.println("crash test seed " + seed + " (rerun with -Dcrash.seed=" + seed + ")");
        Sandbox mbox = new ConfigToml(new Sandbox(tmp.resolve("mb"), relay.port(), "", false))
                .relayPort(relay.port())
                .lockTimeoutSeconds(60)
                .deadlineSeconds(120)
                .rootRule(true, "admin@example.org")
                .write();
        Path maildirPath = tmp.resolve("md").resolve("Maildir");
        Sandbox maildir = new ConfigToml(new Sandbox(tmp.resolve("md"), relay.port(), "", true))
                .relayPort(relay.port())
                .mailbox(maildirPath, true)
                .deadlineSeconds(120)
                .rootRule(true, "admin@example.org")
                .write();
        Map<String, String> env = Launcher.postfixEnv("root@cf.test", "root@host.example");
        Map<Left, Integer> seen = new EnumMap<>(Left.class);
        int killed = 0;
        int duplicates = 0;
        int strangers = 0;
        long runMillis = 1200; // how long an uninterrupted run takes, measured on each retry
        long t0 = System.nanoTime();

        int trials = 0;
        for (int trial = 0; killed < KILLS && trial < MAX_TRIALS; trial++) {
            trials++;
            boolean isMaildir = trial % 2 == 1;
            Kill how = (trial / 2) % 2 == 0 ? Kill.RANDOM_DELAY : Kill.WHILE_WRITING;
            boolean strangerFirst = trial % 6 >= 4;
            strangers += strangerFirst ? 1 : 0;
            Sandbox sb = isMaildir ? maildir : mbox;
            Path box = isMaildir ? maildirPath : mbox.mailbox;
            String id = "crash-" + trial;
            byte[] message = SyntheticMail.cron(id, SIZE, trial);
            relay.reset();
            byte[] mboxBefore = isMaildir ? null : (Files.exists(box) ? Files.readAllBytes(box) : new byte[0]);
            Set<Path> maildirBefore = isMaildir ? new HashSet<>(list(box.resolve("new"))) : null;

            // the run that gets killed
            Path out = tmp.resolve(id + ".out");
            Process p = Launcher.startDeliver(
                    sb.config, Launcher.postfixInput(tmp, id + ".in", "root@host.example", message), out, env);
            Optional<ProcessHandle> jvm = Launcher.jvmIfStarted(p, 20_000);
            long delay;
            if (how == Kill.RANDOM_DELAY) {
                delay = random.nextInt((int) Math.max(200, runMillis * 85 / 100));
                sleep(delay);
            } else {
                long until = System.nanoTime() + 30_000_000_000L;
                while (p.isAlive()
                        && !writing(isMaildir, box, mboxBefore, maildirBefore)
                        && System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
                delay = random.nextInt(8);
                sleep(delay);
            }
            boolean wasAlive = jvm.map(ProcessHandle::isAlive).orElse(false);
            jvm.ifPresent(ProcessHandle::destroyForcibly);
            Launcher.Run r = Launcher.finish(p, out, 60);
            assertTrue(r.exit() == 0 || r.exit() == 75, "exit 0 or 75 only: " + r.exit() + " " + r.output());
            if (r.exit() == 75) {
                killed++;
                // the launcher's status line (sh may print "Killed" before it)
                assertTrue(
                        r.output()
                                .strip()
                                .lines()
                                .reduce((a, b) -> b)
                                .orElse("")
                                .startsWith("4."),
                        r.output());
            }

            Left left = isMaildir ? leftInMaildir(box, maildirBefore, message) : leftInMbox(box, mboxBefore, message);
            seen.merge(left, 1, Integer::sum);
            System.out.printf(
                    "trial %2d %-7s %-13s after %4d ms%s: exit %d, left %s%n",
                    trial,
                    isMaildir ? "Maildir" : "mbox",
                    how,
                    delay,
                    wasAlive ? "" : " (had finished)",
                    r.exit(),
                    left);

            byte[] stranger = null;
            if (strangerFirst) {
                stranger = SyntheticMail.cron(id + "-stranger", 3000, trial);
                Launcher.Run s = Launcher.deliver(
                        sb.config,
                        Launcher.postfixInput(tmp, id + "-s.in", "root@host.example", stranger),
                        tmp.resolve(id + "-s.out"),
                        env);
                assertEquals(0, s.exit(), s.output());
                List<byte[]> copies = copies(isMaildir, box);
                assertEquals(
                        left == Left.COMPLETE ? 1 : 0,
                        count(copies, message),
                        "after the repair: no trace, or the complete message");
                assertEquals(1, count(copies, stranger));
            }

            // the MTA's retry
            Path retryOut = tmp.resolve(id + "-r.out");
            Process rp = Launcher.startDeliver(
                    sb.config, Launcher.postfixInput(tmp, id + "-r.in", "root@host.example", message), retryOut, env);
            Optional<ProcessHandle> retryJvm = Launcher.jvmIfStarted(rp, 20_000);
            long r0 = System.nanoTime();
            Launcher.Run retry = Launcher.finish(rp, retryOut, 120);
            if (retryJvm.isPresent()) {
                runMillis = (System.nanoTime() - r0) / 1_000_000;
            }
            assertEquals(0, retry.exit(), retry.output());
            List<byte[]> copies = copies(isMaildir, box);
            assertEquals(1, count(copies, message), "exactly one local copy after the retry, trial " + trial);
            if (isMaildir) {
                assertEquals(
                        maildirBefore.size() + 1 + (stranger == null ? 0 : 1),
                        list(box.resolve("new")).size());
                assertEquals(List.of(), list(box.resolve("tmp")), "nothing left in tmp/");
            } else {
                byte[] now = Files.readAllBytes(box);
                assertArrayEquals(
                        mboxBefore, Arrays.copyOf(now, mboxBefore.length), "what was in the mbox before is untouched");
            }

            int forwards = 0;
            int strangerForwards = 0;
            for (MimeMessage f : relay.received()) {
                byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(f));
                if (stranger != null && Messages.isOriginalWithMark(stranger, payload)) {
                    strangerForwards++;
                } else {
                    assertTrue(Messages.isOriginalWithMark(message, payload), "the forward decrypts to the original");
                    forwards++;
                }
            }
            assertTrue(forwards >= 1 && forwards <= 2, "forwarded (at most twice): " + forwards);
            assertEquals(stranger == null ? 0 : 1, strangerForwards);
            duplicates += forwards - 1;
        }

        // a last delivery takes the mbox locks: whatever was pending is settled now
        Launcher.Run last = Launcher.deliver(
                mbox.config,
                Launcher.postfixInput(
                        tmp,
                        "last.in",
                        "root@host.example",
                        "Subject: last\n\nx\n".getBytes(StandardCharsets.US_ASCII)),
                tmp.resolve("last.out"),
                env);
        assertEquals(0, last.exit(), last.output());
        long mboxTrials = java.util.stream.IntStream.range(0, trials)
                .filter(t -> t % 2 == 0)
                .count();
        long mboxStrangers = java.util.stream.IntStream.range(0, trials)
                .filter(t -> t % 2 == 0 && t % 6 >= 4)
                .count();
        assertEquals(
                mboxTrials + mboxStrangers + 1,
                MboxReader.read(mbox.mailbox).size(),
                "every message of the mbox once, well framed");
        try (Stream<Path> s = Files.list(mbox.state.resolve("pending"))) {
            assertEquals(
                    List.of(),
                    s.filter(f -> f.getFileName().toString().startsWith("mbox-"))
                            .toList(),
                    "no pending append left");
        }
        System.out.printf(
                "crash test: %d trials in %.1f s; %d runs killed; left %s; %d repaired by another delivery first;"
                        + " %d forwards relayed twice%n",
                trials, (System.nanoTime() - t0) / 1e9, killed, seen, strangers, duplicates);
        assertTrue(killed >= KILLS, "at least " + KILLS + " runs were really killed: " + killed);
        assertTrue(seen.getOrDefault(Left.TORN, 0) >= 1, "some kills landed in the middle of a write: " + seen);
    }

    /** Whether the run has begun writing its local copy. */
    static boolean writing(boolean isMaildir, Path box, byte[] mboxBefore, Set<Path> maildirBefore) {
        try {
            if (isMaildir) {
                return !list(box.resolve("tmp")).isEmpty()
                        || list(box.resolve("new")).size() > maildirBefore.size();
            }
            return Files.exists(box) && Files.size(box) > mboxBefore.length;
        } catch (IOException | java.io.UncheckedIOException e) {
            return false;
        }
    }

    static Left leftInMaildir(Path box, Set<Path> before, byte[] message) throws IOException {
        List<Path> added = list(box.resolve("new")).stream()
                .filter(f -> !before.contains(f))
                .toList();
        if (added.isEmpty()) {
            for (Path t : list(box.resolve("tmp"))) {
                byte[] partial = Files.readAllBytes(t);
                assertArrayEquals(
                        Arrays.copyOf(message, partial.length), partial, "tmp/ holds only a prefix of the message");
                return Left.TORN; // in tmp/, which is no delivery
            }
            return Left.NOTHING;
        }
        assertEquals(1, added.size(), "one file at most");
        assertArrayEquals(message, Files.readAllBytes(added.get(0)), "a file in new/ is the complete message");
        return Left.COMPLETE;
    }

    /** Classifies what follows the former contents: nothing, a strict prefix of the message's entry, or all of it. */
    static Left leftInMbox(Path box, byte[] before, byte[] message) throws IOException {
        byte[] now = Files.exists(box) ? Files.readAllBytes(box) : new byte[0];
        assertTrue(now.length >= before.length, "the mbox did not shrink");
        assertArrayEquals(before, Arrays.copyOf(now, before.length), "what was in the mbox before is untouched");
        byte[] tail = Arrays.copyOfRange(now, before.length, now.length);
        if (tail.length == 0) {
            return Left.NOTHING;
        }
        byte[] body = MboxReader.quote(message);
        byte[] rest = Arrays.copyOf(body, body.length + 1);
        rest[body.length] = '\n'; // the empty line after the message
        int nl = Messages.indexOf(tail, (byte) '\n', 0);
        String from = new String(tail, 0, nl < 0 ? tail.length : nl, StandardCharsets.US_ASCII);
        if (nl < 0) {
            assertTrue(
                    "From root@host.example ".startsWith(from) || from.startsWith("From root@host.example "),
                    "torn From line: " + from);
            return Left.TORN;
        }
        assertTrue(MboxReader.FROM_LINE.matcher(from).matches(), "From line: " + from);
        byte[] written = Arrays.copyOfRange(tail, nl + 1, tail.length);
        if (written.length > rest.length) {
            fail("more bytes than the message: " + written.length + " > " + rest.length);
        }
        assertArrayEquals(Arrays.copyOf(rest, written.length), written, "the tail is a prefix of the message's bytes");
        return written.length == rest.length ? Left.COMPLETE : Left.TORN;
    }

    static List<byte[]> copies(boolean isMaildir, Path box) throws IOException {
        List<byte[]> out = new ArrayList<>();
        if (isMaildir) {
            for (Path p : list(box.resolve("new"))) {
                out.add(Files.readAllBytes(p));
            }
        } else {
            MboxReader.read(box).forEach(e -> out.add(e.message()));
        }
        return out;
    }

    static long count(List<byte[]> copies, byte[] message) {
        return copies.stream().filter(c -> Arrays.equals(c, message)).count();
    }

    static void sleep(long millis) throws InterruptedException {
        Thread.sleep(millis);
    }

    static List<Path> list(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
