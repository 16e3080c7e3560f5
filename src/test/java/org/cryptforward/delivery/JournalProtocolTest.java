package org.cryptforward.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.journal.DeliveryJournal;
import org.cryptforward.journal.JournalRecord;
import org.cryptforward.support.MboxReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each mailbox format's own journal protocol ({@link LocalMailbox#deliverOnce}), against a journal
 * entry in memory that fails where a test says: whatever step a run dies after, the retry ends
 * with exactly one copy.
 */
class JournalProtocolTest {
    static final byte[] MESSAGE = "Subject: once\n\nexactly once\n".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path tmp;

    /** One message's entry, kept across "runs"; {@code failing} makes one record fail. */
    static final class Entry implements DeliveryJournal.Entry {
        final List<JournalRecord> records = new ArrayList<>();
        Predicate<JournalRecord> failing = r -> false;

        @Override
        public String key() {
            return "a".repeat(64);
        }

        @Override
        public boolean has(JournalRecord record) {
            return records.contains(record);
        }

        @Override
        public <R extends JournalRecord> Optional<R> last(Class<R> kind) {
            for (int i = records.size() - 1; i >= 0; i--) {
                if (kind.isInstance(records.get(i))) {
                    return Optional.of(kind.cast(records.get(i)));
                }
            }
            return Optional.empty();
        }

        @Override
        public void record(JournalRecord record) throws Failure {
            if (failing.test(record)) {
                failing = r -> false;
                throw Failure.temporary("4.3.1", "No space left on device");
            }
            records.add(record);
        }

        @Override
        public void close() {}
    }

    static LocalMailbox.MessageSource source() {
        return () -> new ByteArrayInputStream(MESSAGE);
    }

    static List<Path> files(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    @Test
    void maildirRecordsItsNameBeforeWritingAndAFailedRecordAfterTheLinkIsNotWrittenAgain() throws Exception {
        Maildir md = new Maildir(tmp.resolve("Maildir"), "cf.test", Clock.systemUTC(), new SecureRandom());
        Entry entry = new Entry();
        entry.failing = r -> r instanceof JournalRecord.LocalCopy;
        assertThrows(Failure.class, () -> md.deliverOnce(source(), "a@b", entry));
        String name = assertInstanceOf(JournalRecord.MaildirIntent.class, entry.records.get(0))
                .name();
        assertEquals(1, entry.records.size(), "the name, and no copy recorded");
        assertEquals(
                List.of(md.path().resolve("new").resolve(name)),
                files(md.path().resolve("new")),
                "the copy is in new/");

        Path p = md.deliverOnce(source(), "a@b", entry);
        assertEquals(md.path().resolve("new").resolve(name), p, "the retry finds it under the recorded name");
        assertEquals(new JournalRecord.LocalCopy(p.toString()), entry.records.get(1));
        assertEquals(1, files(md.path().resolve("new")).size(), "exactly one copy");
        assertArrayEquals(MESSAGE, Files.readAllBytes(p));
        assertEquals(p, md.deliverOnce(source(), "a@b", entry), "a copy recorded is not looked for again");
        assertEquals(2, entry.records.size());
    }

    @Test
    void maildirWritesAgainUnderANewNameWhenTheRecordedOneNeverReachedNew() throws Exception {
        Maildir md = new Maildir(tmp.resolve("Maildir"), "cf.test", Clock.systemUTC(), new SecureRandom());
        md.prepare();
        Entry entry = new Entry();
        entry.records.add(new JournalRecord.MaildirIntent("1.M1P1.cf.test"));
        Files.write(md.path().resolve("tmp").resolve("1.M1P1.cf.test"), new byte[] {'S', 'u'}); // killed while writing
        Path p = md.deliverOnce(source(), "a@b", entry);
        assertTrue(!p.getFileName().toString().equals("1.M1P1.cf.test"), p.toString());
        assertEquals(List.of(), files(md.path().resolve("tmp")), "the torn leftover is gone");
        assertEquals(List.of(p), files(md.path().resolve("new")));
        assertArrayEquals(MESSAGE, Files.readAllBytes(p));
    }

    @Test
    void mboxLeavesAnAppendWhoseRecordFailedToTheRepairAndTheRetryKeepsIt() throws Exception {
        Path state = Files.createDirectories(tmp.resolve("state"));
        Clock clock = Clock.systemUTC();
        Mbox mbox = new Mbox(
                tmp.resolve("mbox"),
                state,
                Duration.ofDays(1),
                clock,
                Duration.ofSeconds(5),
                new Deadline(clock, Duration.ofSeconds(30)));
        Entry entry = new Entry();
        entry.failing = r -> r instanceof JournalRecord.LocalCopy;
        assertThrows(Failure.class, () -> mbox.deliverOnce(source(), "a@b", entry));
        assertEquals(1, MboxReader.read(mbox.path()).size(), "the complete append is never undone");
        assertEquals(List.of(), entry.records);

        assertEquals(mbox.path(), mbox.deliverOnce(source(), "a@b", entry));
        List<MboxReader.Entry> copies = MboxReader.read(mbox.path());
        assertEquals(1, copies.size(), "the retry finds it complete and does not append again");
        assertArrayEquals(MESSAGE, copies.get(0).message());
        assertEquals(List.of(new JournalRecord.LocalCopy(mbox.path().toString())), entry.records);
        assertEquals(List.of(), files(state.resolve("pending")), "nothing pending, no outcome left");
    }
}
