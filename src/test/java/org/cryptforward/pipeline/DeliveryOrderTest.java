package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.cryptforward.config.Config;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.delivery.LocalMailbox;
import org.cryptforward.delivery.Mbox;
import org.cryptforward.journal.Journal;
import org.cryptforward.journal.JournalRecord;
import org.cryptforward.support.ConfigToml;
import org.cryptforward.support.MboxReader;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The order of a delivery's side effects, driven through in-memory ports (journal, mailbox,
 * relay) that fail exactly where each test says: what is acknowledged, what is recorded, and what
 * the retry does. The socket- and process-level versions of these cases are the *IT suites.
 */
class DeliveryOrderTest {
    static final byte[] MESSAGE = ("From: Cron Daemon <root@host.example>\nTo: root\nSubject: Cron <root@host> backup\n"
                    + "Message-ID: <order.1@host.example>\n\nbackup done\n")
            .getBytes(StandardCharsets.US_ASCII);
    static final String A = "admin@example.org";
    static final String B = "backup@example.net";

    @TempDir
    Path tmp;

    final MemoryPorts.Journal journal = new MemoryPorts.Journal();
    final MemoryPorts.Mailbox mailbox = new MemoryPorts.Mailbox();
    final MemoryPorts.Relay relay = new MemoryPorts.Relay();
    final MemoryPorts.Log log = new MemoryPorts.Log();

    Config config(boolean localCopy, String... forwardTo) throws Exception {
        Sandbox sb = new ConfigToml(new Sandbox(tmp.resolve("sb"), 9, "", false))
                .rootRule(localCopy, forwardTo)
                .write();
        return ConfigLoader.load(sb.config);
    }

    /** One run, as the MTA makes it: a fresh Delivery over the same ports (the state outlives the process). */
    void deliver(Config cfg, LocalMailbox local, org.cryptforward.journal.DeliveryJournal j) throws Exception {
        Clock clock = Clock.systemUTC();
        Deadline deadline = new Deadline(clock, Duration.ofSeconds(60));
        Delivery d = new Delivery(
                cfg,
                new Planner(cfg, clock, new SecureRandom()),
                new Delivery.Ports(local, j, relay),
                Map.of(),
                log,
                deadline,
                new PrintStream(new ByteArrayOutputStream()));
        d.run(
                new ByteArrayInputStream(MESSAGE),
                new Delivery.Request(Optional.of("root@cf.test"), Optional.of("root@host.example"), false));
    }

    void deliver(Config cfg) throws Exception {
        deliver(cfg, mailbox, journal);
    }

    static void assertDecryptsToOriginal(byte[] forward) {
        byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(forward)));
        assertTrue(Messages.isOriginalWithMark(MESSAGE, payload), "the forward decrypts to the original");
        assertArrayEquals(
                payload, TestKeys.RSA.decrypt(PgpMime.encryptedPart(PgpMime.parse(forward))), "and so for every key");
    }

    @Test
    void localCopyIsRecordedBeforeAnythingIsSentAndEachForwardAfterIts250() throws Exception {
        Config cfg = config(true, A, B);
        deliver(cfg);
        List<JournalRecord> records = journal.onlyEntry();
        assertEquals(3, records.size(), records.toString());
        assertTrue(records.get(0) instanceof JournalRecord.LocalCopy, "the local copy first");
        assertEquals(List.of(new JournalRecord.Forwarded(A), new JournalRecord.Forwarded(B)), records.subList(1, 3));
        assertEquals(List.of(A, B), relay.recipients());
        assertEquals(1, relay.connects, "one session for both forwards");
        assertEquals(0, relay.open, "and it is closed");
        relay.sent.forEach(s -> assertDecryptsToOriginal(s.bytes()));
        assertEquals(1, mailbox.copies.size());
        assertArrayEquals(MESSAGE, mailbox.copies.get(0));
    }

    @Test
    void theJournalWriteFailsAfterThe250_deferAndTheRetrySendsAgainRatherThanLose() throws Exception {
        Config cfg = config(true, A);
        journal.failNext(r -> r instanceof JournalRecord.Forwarded);
        Failure f = assertThrows(Failure.class, () -> deliver(cfg));
        assertTrue(f.isTemporary(), f.statusLine());
        assertEquals("4.3.1", f.status(), "a full disk says so");
        assertEquals(List.of(A), relay.recipients(), "the relay has it");
        assertFalse(journal.onlyEntry().contains(new JournalRecord.Forwarded(A)), "but the journal does not say so");
        assertTrue(log.last().contains("status=deferred"), log.last());

        deliver(cfg);
        assertEquals(List.of(A, A), relay.recipients(), "sent twice: a duplicate, never a loss");
        assertEquals(1, mailbox.copies.size(), "the local copy is not written again");
        relay.sent.forEach(s -> assertDecryptsToOriginal(s.bytes()));
    }

    @Test
    void relay4xxThenRetrySendsOnlyTheMissingForward() throws Exception {
        Config cfg = config(true, A, B);
        relay.reply(B, Failure.temporary("4.2.2", "452 4.2.2 mailbox full"));
        Failure f = assertThrows(Failure.class, () -> deliver(cfg));
        assertTrue(f.isTemporary());
        assertEquals("4.2.2", f.status());
        assertEquals(List.of(A), relay.recipients());
        assertTrue(log.last().contains("forwarded to " + A), log.last());

        deliver(cfg);
        assertEquals(List.of(A, B), relay.recipients(), "only the missing forward is sent on the retry");
        assertEquals(1, mailbox.copies.size());
        assertTrue(log.last().contains("status=sent"), log.last());
        relay.sent.forEach(s -> assertDecryptsToOriginal(s.bytes()));

        deliver(cfg);
        assertEquals(2, relay.sent.size(), "a third run sends nothing");
        assertEquals(2, relay.connects, "and does not even connect");
        assertTrue(log.last().contains("already delivered by an earlier run"), log.last());
    }

    @Test
    void aFailedSessionIsNotReusedForTheNextForward() throws Exception {
        Config cfg = config(true, A, B);
        relay.reply(A, Failure.temporary("4.4.2", "connection reset"));
        assertThrows(Failure.class, () -> deliver(cfg));
        assertEquals(List.of(B), relay.recipients(), "the second forward is still tried");
        assertEquals(2, relay.connects, "on a fresh session");
        assertEquals(0, relay.open);
    }

    @Test
    void aLocalCopyThatFailsStopsEverything() throws Exception {
        Config cfg = config(true, A);
        mailbox.failure = Failure.temporary("4.3.1", "cannot write to mailbox: No space left on device");
        Failure f = assertThrows(Failure.class, () -> deliver(cfg));
        assertEquals("4.3.1", f.status());
        assertEquals(0, relay.connects, "nothing is sent before the local copy is safe");
        assertEquals(List.of(), journal.onlyEntry());
    }

    @Test
    void aPermanentRefusalBouncesOnlyWhenALocalCopyIsKept() throws Exception {
        Config kept = config(true, A);
        relay.reply(A, Failure.permanent("5.1.1", "550 5.1.1 no such user"));
        Failure bounced = assertThrows(Failure.class, () -> deliver(kept));
        assertFalse(bounced.isTemporary(), "with a local copy a bounce loses nothing");

        Files.walk(tmp)
                .sorted(java.util.Comparator.reverseOrder())
                .forEach(p -> p.toFile().delete());
        journal.entries.clear();
        Config unkept = config(false, A);
        relay.reply(A, Failure.permanent("5.1.1", "550 5.1.1 no such user"));
        Failure queued = assertThrows(Failure.class, () -> deliver(unkept));
        assertTrue(queued.isTemporary(), "without one the message stays queued: " + queued.statusLine());
        assertEquals("4.1.1", queued.status());
        assertEquals(1, mailbox.copies.size(), "only the first, kept, run wrote a copy");
    }

    @Test
    void theMboxCommitAfterAKill_theRetryFindsTheCompleteAppendAndWritesNoSecondCopy() throws Exception {
        Config cfg = config(true, A);
        Path file = tmp.resolve("mbox");
        Clock clock = Clock.systemUTC();
        Mbox mbox = new Mbox(
                file,
                cfg.stateDir(),
                Duration.ofDays(14),
                clock,
                Duration.ofSeconds(10),
                new Deadline(clock, Duration.ofSeconds(60)));
        // the append completes, then the run dies before the journal records it (here: the record
        // fails, which leaves the mailbox and the pending record exactly as a kill at that point)
        journal.failNext(r -> r instanceof JournalRecord.LocalCopy);
        Failure f = assertThrows(Failure.class, () -> deliver(cfg, mbox, journal));
        assertTrue(f.isTemporary());
        assertEquals(0, relay.connects, "nothing sent: the copy is not known to be safe");
        assertEquals(1, MboxReader.read(file).size(), "the complete append stays");
        try (Stream<Path> s = Files.list(cfg.stateDir().resolve("pending"))) {
            assertEquals(1, s.count(), "with its pending record, for the repair");
        }

        deliver(cfg, mbox, journal);
        List<MboxReader.Entry> entries = MboxReader.read(file);
        assertEquals(1, entries.size(), "exactly one copy");
        assertArrayEquals(MESSAGE, entries.get(0).message());
        assertEquals(List.of(A), relay.recipients());
        assertDecryptsToOriginal(relay.sent.get(0).bytes());
        try (Stream<Path> s = Files.list(cfg.stateDir().resolve("pending"))) {
            assertEquals(List.of(), s.toList(), "nothing pending and no uncollected outcome left");
        }
    }

    @Test
    void journalEntriesWrittenByAnEarlierVersionAreReadAsTheyAre() throws Exception {
        Config cfg = config(true, A, B);
        // the state an earlier version leaves after a run that sent to A and deferred on B
        String key = Journal.key(
                "root@cf.test",
                java.security.MessageDigest.getInstance("SHA-256").digest(MESSAGE));
        Path dir = Files.createDirectories(cfg.stateDir().resolve("journal"));
        Files.writeString(dir.resolve(key), "maildir-intent 1.M2P3.cf.test\nlocal /var/mail/root\nsent " + A + "\n");
        deliver(cfg, mailbox, new Journal(cfg.stateDir(), Duration.ofDays(14), Clock.systemUTC()));
        assertEquals(List.of(B), relay.recipients(), "only what the old entry does not show as done");
        assertEquals(0, mailbox.copies.size(), "the old local record counts");
        assertTrue(
                Files.readString(dir.resolve(key)).endsWith("\nsent " + B + "\n"),
                "and the new record is in the same form");
    }

    @Test
    void aNoticeRecordedByAnEarlierRunIsNotSentAgain() throws Exception {
        Config cfg = config(true, A);
        String key = Journal.key(
                "root@cf.test",
                java.security.MessageDigest.getInstance("SHA-256").digest(MESSAGE));
        journal.entries.put(
                key,
                new java.util.ArrayList<>(List.of(new JournalRecord.LocalCopy("/x"), new JournalRecord.NoticeSent(A))));
        deliver(cfg);
        assertEquals(0, relay.connects);
        assertEquals(0, mailbox.copies.size());
    }

    @Test
    void journalRecordsKeepTheirLineForm() {
        for (JournalRecord r : List.of(
                new JournalRecord.LocalCopy("/home/jürgen/Maildir/new/1.x y"),
                new JournalRecord.MaildirIntent("1.M2P3.h"),
                new JournalRecord.Forwarded(A),
                new JournalRecord.NoticeSent(B))) {
            assertEquals(Optional.of(r), JournalRecord.parse(r.line()), r.line());
        }
        assertEquals("sent " + A, new JournalRecord.Forwarded(A).line());
        assertEquals("notice " + A, new JournalRecord.NoticeSent(A).line());
        assertEquals("local /var/mail/root", new JournalRecord.LocalCopy("/var/mail/root").line());
        assertEquals("maildir-intent n", new JournalRecord.MaildirIntent("n").line());
        for (String unknown : List.of("", "sent", "sent ", "pruned", "bogus x", " sent x")) {
            assertEquals(Optional.empty(), JournalRecord.parse(unknown), unknown);
        }
    }
}
