package org.cryptforward.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.cryptforward.core.Deadline;
import org.cryptforward.support.MboxReader;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Repair of an append that a crash interrupted, set up as a killed process leaves it: the pending
 * record made durable, and any prefix of the message's bytes in the mailbox. The next holder of
 * the locks must cut a torn append back to the former length, keep a complete one, tell the
 * message's owner which, and touch nothing it cannot be sure is its own.
 */
class MboxRecoveryTest {
    static final String OWNER = "ab".repeat(32);
    static final byte[] MESSAGE = ("Subject: interrupted\n\nFrom the start\n" + "body line\n".repeat(2000))
            .getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path tmp;

    Path state;
    Path mbox;
    byte[] base;
    /** The bytes a complete append of MESSAGE writes after {@link #base}. */
    byte[] entry;

    byte[] fromLine;

    @BeforeEach
    void setUp() throws Exception {
        state = Files.createDirectory(tmp.resolve("state"));
        mbox = tmp.resolve("root");
        mbox().store(MboxTest.source("Subject: earlier\n\nstays\n"), "a@b");
        base = Files.readAllBytes(mbox);
        // the bytes of a complete append, learned from a scratch mailbox
        Path scratch = tmp.resolve("scratch");
        new Mbox(scratch, state, Duration.ofDays(1), MboxTest.CLOCK, Duration.ofSeconds(5), deadline())
                .store(() -> new ByteArrayInputStream(MESSAGE), "killed@example.org");
        entry = Files.readAllBytes(scratch);
        int nl = 0;
        while (entry[nl] != '\n') {
            nl++;
        }
        fromLine = Arrays.copyOf(entry, nl + 1);
    }

    static Deadline deadline() {
        return new Deadline(MboxTest.CLOCK, Duration.ofMinutes(5));
    }

    Mbox mbox() {
        return new Mbox(mbox, state, Duration.ofDays(14), MboxTest.CLOCK, Duration.ofSeconds(5), deadline());
    }

    /** What a process killed after writing {@code written} bytes of its append leaves behind. */
    void killedAfter(int written) throws IOException {
        Files.write(mbox, concat(base, Arrays.copyOf(entry, written)));
        pending(base.length, 0, entry.length, fileKey());
    }

    void pending(long offset, int separator, long length, String fileKey) throws IOException {
        new MboxRecovery(state, Duration.ofDays(14), MboxTest.CLOCK)
                .begin(mbox, new MboxRecovery.Pending(offset, separator, length, fromLine, fileKey, OWNER));
    }

    String fileKey() throws IOException {
        return String.valueOf(
                Files.readAttributes(mbox, BasicFileAttributes.class).fileKey());
    }

    Optional<Mbox.Recovered> takeLockAndRelease() throws Exception {
        try (Mbox.Lock lock = mbox().lock()) {
            assertEquals(lock.repaired(), lock.recovered(OWNER), "the owner is told what the repair found");
            return lock.repaired();
        }
    }

    @ParameterizedTest(name = "killed after {0} bytes")
    @ValueSource(ints = {1, 2, 30, 48, 1000, 10_000})
    void aTornAppendIsCutBack(int written) throws Exception {
        assertTrue(written < entry.length);
        killedAfter(written);
        assertEquals(Optional.of(Mbox.Recovered.TRUNCATED), takeLockAndRelease());
        assertArrayEquals(base, Files.readAllBytes(mbox), "back to the former length");
        assertNoPending();
    }

    @Test
    void tornAtTheLastByte() throws Exception {
        killedAfter(entry.length - 1);
        assertEquals(Optional.of(Mbox.Recovered.TRUNCATED), takeLockAndRelease());
        assertArrayEquals(base, Files.readAllBytes(mbox));
    }

    @Test
    void killedBeforeTheFirstByteLeavesNoTrace() throws Exception {
        killedAfter(0);
        assertEquals(Optional.of(Mbox.Recovered.TRUNCATED), takeLockAndRelease());
        assertArrayEquals(base, Files.readAllBytes(mbox));
    }

    @Test
    void aCompleteAppendIsKept() throws Exception {
        killedAfter(entry.length);
        assertEquals(Optional.of(Mbox.Recovered.COMPLETE), takeLockAndRelease());
        assertArrayEquals(concat(base, entry), Files.readAllBytes(mbox));
        List<MboxReader.Entry> entries = MboxReader.read(mbox);
        assertEquals(2, entries.size());
        assertArrayEquals(MESSAGE, entries.get(1).message());
        assertNoPending();
    }

    @Test
    void theNextDeliveryRepairsFirstAndThenAppends() throws Exception {
        killedAfter(entry.length / 2);
        mbox().store(MboxTest.source("Subject: next\n\nnext\n"), "c@d");
        List<MboxReader.Entry> entries = MboxReader.read(mbox);
        assertEquals(2, entries.size(), "the torn message is gone, the next one is intact");
        assertEquals("Subject: next\n\nnext\n", new String(entries.get(1).message(), StandardCharsets.US_ASCII));
        try (Mbox.Lock lock = mbox().lock()) {
            assertEquals(Optional.empty(), lock.repaired(), "repaired once");
            assertEquals(
                    Optional.of(Mbox.Recovered.TRUNCATED),
                    lock.recovered(OWNER),
                    "the outcome waits for the owner's retry");
            lock.forget(OWNER);
            assertEquals(Optional.empty(), lock.recovered(OWNER));
        }
    }

    @Test
    void aTornAppendAfterItsSeparatorIsCutBackWithIt() throws Exception {
        // the mailbox did not end with an empty line, so the append began with two line ends
        byte[] unterminated = "From x Thu Mar  5 07:08:09 2026\nno final line end".getBytes(StandardCharsets.US_ASCII);
        byte[] withSep = concat("\n\n".getBytes(StandardCharsets.US_ASCII), entry);
        Files.write(mbox, concat(unterminated, Arrays.copyOf(withSep, 40)));
        pending(unterminated.length, 2, withSep.length, fileKey());
        assertEquals(Optional.of(Mbox.Recovered.TRUNCATED), takeLockAndRelease());
        assertArrayEquals(unterminated, Files.readAllBytes(mbox));
    }

    @Test
    void aReplacedMailboxIsLeftAlone() throws Exception {
        killedAfter(500);
        byte[] now = Files.readAllBytes(mbox);
        Path copy = tmp.resolve("copy");
        Files.write(copy, now);
        Files.move(copy, mbox, java.nio.file.StandardCopyOption.REPLACE_EXISTING); // same bytes, another file
        assertEquals(Optional.of(Mbox.Recovered.UNKNOWN), takeLockAndRelease());
        assertArrayEquals(now, Files.readAllBytes(mbox), "not truncated: the bytes may not be ours");
        assertNoPending();
    }

    @Test
    void aShrunkMailboxIsLeftAlone() throws Exception {
        killedAfter(500);
        byte[] shorter = Arrays.copyOf(base, base.length - 3);
        Files.write(mbox, shorter); // rewritten in place by a mail reader, say
        assertEquals(Optional.of(Mbox.Recovered.UNKNOWN), takeLockAndRelease());
        assertArrayEquals(shorter, Files.readAllBytes(mbox));
    }

    @Test
    void anotherWritersMessageAfterTheTornAppendIsNeverCut() throws Exception {
        killedAfter(300);
        byte[] foreign = "\n\nFrom other@x Thu Mar  5 07:08:09 2026\nSubject: written by another program\n\nx\n\n"
                .getBytes(StandardCharsets.US_ASCII);
        try (var out = Files.newOutputStream(mbox, java.nio.file.StandardOpenOption.APPEND)) {
            out.write(foreign);
        }
        byte[] now = Files.readAllBytes(mbox);
        assertTrue(now.length < base.length + entry.length, "shorter than the complete append would be");
        assertEquals(Optional.of(Mbox.Recovered.UNKNOWN), takeLockAndRelease());
        assertArrayEquals(now, Files.readAllBytes(mbox), "not truncated: another program's message is there");
    }

    @Test
    void bytesThatAreNotOurFromLineAreNeverCut() throws Exception {
        Files.write(
                mbox,
                concat(
                        base,
                        "From someone-else Thu Mar  5 07:08:09 2026\npartial".getBytes(StandardCharsets.US_ASCII)));
        pending(base.length, 0, entry.length, fileKey());
        byte[] now = Files.readAllBytes(mbox);
        assertEquals(Optional.of(Mbox.Recovered.UNKNOWN), takeLockAndRelease());
        assertArrayEquals(now, Files.readAllBytes(mbox));
    }

    @Test
    void aDamagedPendingRecordIsDroppedWithoutTouchingTheMailbox() throws Exception {
        Files.write(mbox, concat(base, Arrays.copyOf(entry, 100)));
        MboxRecovery r = new MboxRecovery(state, Duration.ofDays(14), MboxTest.CLOCK);
        Files.createDirectories(r.directory());
        Files.write(r.pendingFile(mbox), new byte[] {'v', '1', ' ', 0, (byte) 0xff, '\n'});
        byte[] now = Files.readAllBytes(mbox);
        try (Mbox.Lock lock = mbox().lock()) {
            assertEquals(Optional.of(Mbox.Recovered.UNKNOWN), lock.repaired());
        }
        assertArrayEquals(now, Files.readAllBytes(mbox));
        assertNoPending();
        mbox().store(MboxTest.source("Subject: later\n\nx\n"), "a@b");
        assertTrue(Files.size(mbox) > now.length, "later deliveries go on");
    }

    @Test
    void aFifoInPlaceOfThePendingRecordIsNeverOpened() throws Exception {
        Files.write(mbox, concat(base, Arrays.copyOf(entry, 100)));
        MboxRecovery r = new MboxRecovery(state, Duration.ofDays(14), MboxTest.CLOCK);
        Files.createDirectories(r.directory());
        assertEquals(
                0,
                new ProcessBuilder("mkfifo", r.pendingFile(mbox).toString())
                        .start()
                        .waitFor());
        byte[] now = Files.readAllBytes(mbox);
        Optional<Mbox.Recovered> repaired = java.util.concurrent.CompletableFuture.supplyAsync(
                        () -> {
                            try (Mbox.Lock lock = mbox().lock()) {
                                return lock.repaired();
                            } catch (org.cryptforward.core.Failure f) {
                                throw new IllegalStateException(f);
                            }
                        },
                        java.util.concurrent.Executors.newSingleThreadExecutor(t -> {
                            Thread th = new Thread(t);
                            th.setDaemon(true);
                            return th;
                        }))
                .get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(Optional.of(Mbox.Recovered.UNKNOWN), repaired);
        assertArrayEquals(now, Files.readAllBytes(mbox), "left alone");
        assertFalse(Files.exists(r.pendingFile(mbox), java.nio.file.LinkOption.NOFOLLOW_LINKS), "moved out of the way");
        try (var s = Files.list(r.directory())) {
            assertEquals(
                    1,
                    s.filter(p -> p.getFileName().toString().contains(".damaged-"))
                            .count(),
                    "kept for inspection");
        }
    }

    @Test
    void pendingRecordsHoldNoMessageContent() throws Exception {
        killedAfter(100);
        MboxRecovery r = new MboxRecovery(state, Duration.ofDays(14), MboxTest.CLOCK);
        String record = Files.readString(r.pendingFile(mbox), StandardCharsets.US_ASCII);
        assertFalse(record.contains("interrupted") || record.contains("body line"), record);
        assertTrue(record.matches("v1 \\d+ 0 \\d+ [0-9a-f]+ \\S+ [0-9a-f]{64}\n"), record);
    }

    void assertNoPending() throws IOException {
        try (var s = Files.list(state.resolve("pending"))) {
            assertEquals(
                    List.of(),
                    s.filter(p -> p.getFileName().toString().startsWith("mbox-"))
                            .toList());
        }
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
