package org.cryptforward.queue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.log.FileMailLog;
import org.cryptforward.message.OutboundMessage;
import org.cryptforward.support.Messages;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.ScriptedRelay.Action;
import org.cryptforward.support.ScriptedRelay.Step;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The queue runner against the scripted relay: per-recipient records, locks, the schedule, a permanent refusal. */
class QueueRunnerTest {
    @TempDir
    Path tmp;

    static OutboundMessage message(String text) {
        return new OutboundMessage() {
            @Override
            public void writeTo(OutputStream out) throws IOException {
                out.write(text.getBytes(StandardCharsets.US_ASCII));
            }

            @Override
            public String messageId() {
                return "<fwd@cf.test>";
            }
        };
    }

    Config config(int port) throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve("sb"), port, "", true);
        return ConfigLoader.load(sb.config);
    }

    QueueRunner runner(Config c, Clock clock) {
        return new QueueRunner(
                c, clock, new SecureRandom(), new FileMailLog(c.logFile().orElseThrow(), clock));
    }

    @Test
    void aRetrySendsOnlyToTheRecipientsTheRelayHasNotAccepted() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            smtp.at(Step.RCPT, 2, Action.reply("451 4.3.0 try later"));
            Config c = config(smtp.port());
            QueueRunner r = runner(c, Clock.systemUTC());
            QueueEntry e = r.queue()
                    .add(
                            message("Subject: q\n\nencrypted bytes\n"),
                            new Queue.Draft(
                                    "cryptforward@cf.test",
                                    List.of("a@example.org", "b@example.org"),
                                    "<orig@x>",
                                    "root-to-admin"));
            QueueRunner.Report first = r.runAll(Instant.now());
            assertEquals(1, first.deferred(), first.toString());
            assertEquals(1, smtp.accepted().size());
            QueueEntry after = r.queue().entries().get(0);
            assertEquals(List.of("b@example.org"), after.pending());
            assertEquals(1, after.attempts());
            assertTrue(after.lastError().startsWith("4.3.0 cryptforward: relay 127.0.0.1:"), after.lastError());
            assertTrue(Files.readString(e.dir().resolve("done")).contains("sent a@example.org\n"));

            smtp.clear();
            assertEquals(1, r.runAll(Instant.now()).sent());
            assertEquals(2, smtp.accepted().size());
            long rcptA = smtp.commands().stream()
                    .filter(cmd -> cmd.equalsIgnoreCase("RCPT TO:<a@example.org>"))
                    .count();
            long rcptB = smtp.commands().stream()
                    .filter(cmd -> cmd.equalsIgnoreCase("RCPT TO:<b@example.org>"))
                    .count();
            assertEquals(1, rcptA, "the recipient the relay accepted is not sent again: " + smtp.commands());
            assertEquals(2, rcptB);
            assertEquals(List.of(), r.queue().entries());
            assertFalse(Files.exists(e.dir()));
        }
    }

    @Test
    void anEntryAnotherRunnerHoldsIsLeftAlone() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Config c = config(smtp.port());
            QueueRunner r = runner(c, Clock.systemUTC());
            QueueEntry e = r.queue()
                    .add(message("Subject: q\n\nx\n"), new Queue.Draft("s@cf.test", List.of("a@example.org"), "", "r"));
            try (Queue.Held held = r.queue().hold(e).orElseThrow()) {
                assertEquals(Optional.empty(), r.queue().hold(e), "one holder at a time");
                QueueRunner.Report report = r.runAll(Instant.now());
                assertEquals(1, report.busy(), report.toString());
                assertEquals(0, smtp.sessions());
            }
            assertEquals(1, r.runAll(Instant.now()).sent());
        }
    }

    @Test
    void theIntervalsGrowFromAMinuteToAnHour() {
        List<Long> minutes = List.of(1, 2, 3, 4, 5, 6, 7, 8, 50).stream()
                .map(n -> QueueRunner.backoff(n).toMinutes())
                .toList();
        assertEquals(List.of(1L, 2L, 4L, 8L, 16L, 32L, 60L, 60L, 60L), minutes);
    }

    @Test
    void aRelayThatCannotBeReachedDefersEveryDueEntryOnTheSchedule() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Config c = config(port);
        QueueRunner r = runner(c, Clock.systemUTC());
        for (int i = 0; i < 3; i++) {
            r.queue()
                    .add(
                            message("Subject: " + i + "\n\nx\n"),
                            new Queue.Draft("s@cf.test", List.of("a" + i + "@example.org"), "", "r"));
        }
        Instant t0 = Instant.ofEpochMilli(System.currentTimeMillis() + 1); // the metadata keeps milliseconds
        QueueRunner.Report report = r.runDue(t0);
        assertEquals(3, report.deferred());
        for (QueueEntry e : r.queue().entries()) {
            assertEquals(1, e.attempts());
            assertTrue(e.lastError().contains("refused connection"), e.lastError());
            assertEquals(t0.plus(Duration.ofMinutes(1)), e.nextTry());
        }
        assertEquals(0, r.runDue(t0.plus(Duration.ofSeconds(59))).total(), "nothing is due before its time");
        assertEquals(3, r.runDue(t0.plus(Duration.ofMinutes(1))).deferred());
        for (QueueEntry e : r.queue().entries()) {
            assertEquals(2, e.attempts());
            assertEquals(t0.plus(Duration.ofMinutes(1)).plus(Duration.ofMinutes(2)), e.nextTry(), "then two minutes");
        }
        assertEquals(Optional.of(t0.plus(Duration.ofMinutes(3))), r.nextDue());
    }

    @Test
    void aPermanentRefusalIsGivenUpAtOnceWithANotice() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            smtp.at(Step.RCPT, Action.reply("550 5.1.1 no such user"));
            Config c = config(smtp.port());
            QueueRunner r = runner(c, Clock.systemUTC());
            QueueEntry e = r.queue()
                    .add(
                            message("Subject: secret subject\n\nx\n"),
                            new Queue.Draft("s@cf.test", List.of("gone@example.org"), "<m@x>", "r"));
            QueueRunner.Report report = r.runAll(Instant.now());
            assertEquals(1, report.gaveUp(), report.toString());
            assertEquals(List.of(), r.queue().entries());
            assertEquals(
                    List.of(e.id()),
                    r.queue().aside().stream().map(QueueEntry::id).toList());
            Path maildirNew = c.local().mailbox().resolve("new");
            List<Path> box;
            try (var s = Files.list(maildirNew)) {
                box = s.toList();
            }
            assertEquals(1, box.size());
            byte[] notice = Files.readAllBytes(box.get(0));
            assertTrue(Messages.contains(notice, "refused it permanently".getBytes(StandardCharsets.US_ASCII)));
            assertTrue(Messages.contains(notice, "gone@example.org".getBytes(StandardCharsets.US_ASCII)));
            assertFalse(Messages.contains(notice, "secret subject".getBytes(StandardCharsets.US_ASCII)));
            assertEquals(0, r.runAll(Instant.now()).total(), "an entry set aside is not tried again");
        }
    }

    @Test
    void aLeftoverOfAKilledBuilderIsRemovedButNotOneInProgress() throws Exception {
        Config c = config(1);
        Queue q = new Queue(c.stateDir(), Clock.systemUTC(), new SecureRandom());
        q.prepare();
        Path dead = Files.createDirectory(q.dir().resolve("tmp/6B0E000000DEAD"));
        Files.write(dead.resolve("lock"), new byte[0]);
        Files.write(dead.resolve("message"), "ciphertext".getBytes(StandardCharsets.US_ASCII));
        Path alive = Files.createDirectory(q.dir().resolve("tmp/6B0E000000A11E"));
        Files.write(alive.resolve("lock"), new byte[0]);
        Queue.Lock held = Queue.Lock.acquire(alive.resolve("lock"), false).orElseThrow();
        try {
            assertEquals(1, q.cleanLeftovers());
            assertFalse(Files.exists(dead));
            assertTrue(Files.exists(alive));
        } finally {
            held.release();
        }
        assertEquals(List.of(), q.entries(), "a leftover is never an entry");
    }
}
