package org.cryptforward.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The retry journal: records survive, a second run of the same message waits for the first and
 * sees its records, and no kind of damage (garbage, a torn line, a directory, a link, a FIFO, an
 * oversized or unreadable file, a journal directory that is a file) keeps a message from being
 * delivered. Pruning removes what is old and never what is in use.
 */
class JournalTest {
    static final String KEY = "0123456789abcdef".repeat(4);

    @TempDir
    Path state;

    Journal journal;
    Path dir;
    /** Threads of their own: the common pool has a single thread on two cores, which would serialise the "concurrent" runs. */
    final java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newCachedThreadPool();

    @org.junit.jupiter.api.AfterEach
    void stopThreads() {
        threads.shutdownNow();
    }

    @BeforeEach
    void setUp() {
        journal = new Journal(state, Duration.ofDays(14), Clock.systemUTC());
        dir = state.resolve("journal");
    }

    static Deadline deadline(Duration d) {
        return new Deadline(Clock.systemUTC(), d);
    }

    Journal.Entry open() throws Failure {
        return journal.open(KEY, deadline(Duration.ofSeconds(30)));
    }

    List<Path> setAside() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(KEY + ".damaged-"))
                    .toList();
        }
    }

    @Test
    void recordsSurviveAndComeBackInOrder() throws Exception {
        try (Journal.Entry e = open()) {
            assertEquals(List.of(), e.records());
            e.record("maildir-intent 1.M2P3.host");
            e.record("local /var/mail/root");
            e.record("sent admin@example.org");
        }
        try (Journal.Entry e = open()) {
            assertEquals(
                    List.of("maildir-intent 1.M2P3.host", "local /var/mail/root", "sent admin@example.org"),
                    e.records());
            assertEquals("/var/mail/root", e.last("local").orElseThrow());
            assertTrue(e.has("sent admin@example.org"));
        }
        Path f = dir.resolve(KEY);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    }

    @Test
    void aRecordWithNonAsciiComesBackAsItWas() throws Exception {
        String record = "local /home/jürgen/Maildir/new/1.x\\y";
        try (Journal.Entry e = open()) {
            e.record(record);
        }
        String disk = Files.readString(dir.resolve(KEY), StandardCharsets.US_ASCII);
        assertTrue(
                disk.chars().allMatch(c -> c == '\n' || (c >= 32 && c < 127)),
                "one line of printable ASCII on disk: " + disk);
        try (Journal.Entry e = open()) {
            assertEquals(List.of(record), e.records());
        }
    }

    @Test
    void aTornLastLineIsIgnoredAndTheNextRecordStandsOnItsOwnLine() throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(KEY), "local /var/mail/root\nsent adm");
        try (Journal.Entry e = open()) {
            assertEquals(List.of("local /var/mail/root"), e.records(), "the torn record does not count");
            e.record("sent admin@example.org");
        }
        try (Journal.Entry e = open()) {
            assertEquals(List.of("local /var/mail/root", "sent admin@example.org"), e.records());
        }
    }

    @Test
    void garbageLinesAreIgnored() throws Exception {
        Files.createDirectories(dir);
        byte[] garbage = {0, 1, 2, (byte) 0xff, (byte) 0xfe, '\n', 'l', 'o', 'c', 'a', 'l', ' ', 0, '\n', 'o', 'k', '\n'
        };
        Files.write(dir.resolve(KEY), garbage);
        try (Journal.Entry e = open()) {
            assertEquals(List.of("ok"), e.records());
            assertTrue(e.last("local").isEmpty(), "no local copy is believed done");
        }
    }

    @Test
    void aDirectoryInPlaceOfTheEntryIsSetAside() throws Exception {
        Files.createDirectories(dir.resolve(KEY).resolve("inside"));
        try (Journal.Entry e = open()) {
            e.record("local x");
        }
        assertTrue(Files.isRegularFile(dir.resolve(KEY)));
        assertEquals(1, setAside().size());
        assertTrue(Files.isDirectory(setAside().get(0).resolve("inside")), "kept for inspection");
    }

    @Test
    void aSymlinkInPlaceOfTheEntryIsSetAsideAndItsTargetUntouched() throws Exception {
        Files.createDirectories(dir);
        Path victim = Files.writeString(state.resolve("victim"), "precious\n");
        Files.createSymbolicLink(dir.resolve(KEY), victim);
        try (Journal.Entry e = open()) {
            assertEquals(List.of(), e.records());
            e.record("local x");
        }
        assertEquals("precious\n", Files.readString(victim));
        assertTrue(Files.isRegularFile(dir.resolve(KEY), java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void aFifoInPlaceOfTheEntryDoesNotHang() throws Exception {
        Files.createDirectories(dir);
        assertEquals(
                0,
                new ProcessBuilder("mkfifo", dir.resolve(KEY).toString())
                        .start()
                        .waitFor());
        Journal.Entry opened = CompletableFuture.supplyAsync(
                        () -> {
                            try {
                                return open();
                            } catch (Failure f) {
                                throw new IllegalStateException(f);
                            }
                        },
                        threads)
                .get(10, TimeUnit.SECONDS);
        try (Journal.Entry e = opened) {
            assertEquals(List.of(), e.records());
        }
        assertEquals(1, setAside().size());
    }

    @Test
    void anOversizedEntryIsSetAside() throws Exception {
        Files.createDirectories(dir);
        Files.write(
                dir.resolve(KEY),
                ("local x\n".repeat((int) (Journal.MAX_ENTRY / 8) + 10)).getBytes(StandardCharsets.US_ASCII));
        try (Journal.Entry e = open()) {
            assertEquals(List.of(), e.records());
            e.record("local y");
        }
        try (Journal.Entry e = open()) {
            assertEquals(List.of("local y"), e.records(), "the fresh entry keeps its records");
        }
    }

    @Test
    void anUnreadableEntryIsSetAside() throws Exception {
        assumeTrue(
                !"root".equals(System.getProperty("user.name")),
                "root reads any file; as root, JournalDamageIT runs this as nobody");
        Files.createDirectories(dir);
        Path f = Files.writeString(dir.resolve(KEY), "local x\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("---------"));
        try (Journal.Entry e = open()) {
            assertEquals(List.of(), e.records());
        }
        assertEquals(1, setAside().size());
    }

    @Test
    void aJournalDirectoryThatIsAFileIsSetAside() throws Exception {
        Files.writeString(dir, "not a directory");
        try (Journal.Entry e = open()) {
            e.record("local x");
        }
        assertTrue(Files.isDirectory(dir));
        try (Stream<Path> s = Files.list(state)) {
            assertEquals(
                    1,
                    s.filter(p -> p.getFileName().toString().startsWith("journal.damaged-"))
                            .count());
        }
    }

    @Test
    void aTombstonedEntryLeftBehindIsReplaced() throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(KEY), "local x\n" + Journal.TOMBSTONE + "\n");
        try (Journal.Entry e = open()) {
            assertEquals(List.of(), e.records(), "a pruned entry is not believed");
        }
    }

    @Test
    void aSecondRunWaitsForTheFirstAndSeesItsRecords() throws Exception {
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Void> first = CompletableFuture.runAsync(
                () -> {
                    try (Journal.Entry e = open()) {
                        holding.countDown();
                        release.await(30, TimeUnit.SECONDS);
                        e.record("local /var/mail/root");
                        e.record("sent admin@example.org");
                    } catch (Exception ex) {
                        throw new IllegalStateException(ex);
                    }
                },
                threads);
        assertTrue(holding.await(10, TimeUnit.SECONDS));
        CompletableFuture<List<String>> second = CompletableFuture.supplyAsync(
                () -> {
                    try (Journal.Entry e = open()) {
                        return e.records();
                    } catch (Failure f) {
                        throw new IllegalStateException(f);
                    }
                },
                threads);
        Thread.sleep(300);
        assertFalse(second.isDone(), "the second run waits while the first holds the entry");
        release.countDown();
        first.get(10, TimeUnit.SECONDS);
        assertEquals(List.of("local /var/mail/root", "sent admin@example.org"), second.get(10, TimeUnit.SECONDS));
    }

    @Test
    void waitingEndsWithATemporaryFailureAtTheDeadline() throws Exception {
        try (Journal.Entry held = open()) {
            CompletableFuture<Failure> second = CompletableFuture.supplyAsync(
                    () -> {
                        try (Journal.Entry e = journal.open(KEY, deadline(Duration.ofMillis(400)))) {
                            return null;
                        } catch (Failure f) {
                            return f;
                        }
                    },
                    threads);
            Failure f = second.get(10, TimeUnit.SECONDS);
            assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
            assertEquals("4.4.7", f.status());
        }
    }

    @Test
    void aMissingStateDirectoryIsATemporaryFailure() {
        Journal j = new Journal(state.resolve("missing"), Duration.ofDays(1), Clock.systemUTC());
        Failure f = assertThrows(Failure.class, () -> j.open(KEY, deadline(Duration.ofSeconds(5))));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
    }

    @Test
    void pruneRemovesOldEntriesKeepsRecentAndBusyOnesAndRunsHourly() throws Exception {
        Instant now = Instant.now();
        Journal j = new Journal(state, Duration.ofDays(3), Clock.systemUTC());
        j.prepare();
        String busyKey = "b".repeat(64);
        Path old = entry("a".repeat(64), now.minus(Duration.ofDays(4)));
        Path recent = entry("c".repeat(64), now.minus(Duration.ofDays(2)));
        Path damagedOld = Files.createDirectories(dir.resolve("d".repeat(64) + ".damaged-1/sub"));
        Files.setLastModifiedTime(damagedOld.getParent(), FileTime.from(now.minus(Duration.ofDays(5))));
        try (Journal.Entry busy = j.open(busyKey, deadline(Duration.ofSeconds(5)))) {
            Files.setLastModifiedTime(dir.resolve(busyKey), FileTime.from(now.minus(Duration.ofDays(10))));
            assertEquals(2, j.prune());
            assertTrue(Files.exists(dir.resolve(busyKey)), "an entry in use is never pruned");
            busy.record("local x");
        }
        assertFalse(Files.exists(old));
        assertFalse(Files.exists(damagedOld.getParent()));
        assertTrue(Files.exists(recent));
        Path another = entry("e".repeat(64), now.minus(Duration.ofDays(30)));
        assertEquals(0, j.prune(), "at most once an hour");
        assertTrue(Files.exists(another));
        try (Journal.Entry e = j.open(busyKey, deadline(Duration.ofSeconds(5)))) {
            assertEquals(List.of("local x"), e.records());
        }
    }

    @Test
    void aWaiterOnAnEntryThatGetsPrunedStartsAfresh() throws Exception {
        Journal longAgo = new Journal(state, Duration.ofDays(1), Clock.systemUTC());
        Journal.Entry first = longAgo.open(KEY, deadline(Duration.ofSeconds(5)));
        first.record("local x");
        CompletableFuture<List<String>> waiter = CompletableFuture.supplyAsync(
                () -> {
                    try (Journal.Entry e = longAgo.open(KEY, deadline(Duration.ofSeconds(10)))) {
                        return e.records();
                    } catch (Failure f) {
                        throw new IllegalStateException(f);
                    }
                },
                threads);
        Thread.sleep(200);
        // what prune does under the lock: tombstone, then delete; then the lock is released
        Files.writeString(dir.resolve(KEY), Journal.TOMBSTONE + "\n", java.nio.file.StandardOpenOption.APPEND);
        Files.delete(dir.resolve(KEY));
        first.close();
        assertEquals(List.of(), waiter.get(10, TimeUnit.SECONDS), "the waiter did not read the pruned entry's records");
        assertTrue(Files.exists(dir.resolve(KEY)), "and recorded into a file that exists");
    }

    @Test
    void pruneNeverFails() throws Exception {
        Files.createDirectories(dir.resolve(".pruned"));
        Files.createDirectories(dir.resolve("f".repeat(64)));
        Files.setLastModifiedTime(
                dir.resolve("f".repeat(64)), FileTime.from(Instant.now().minus(Duration.ofDays(40))));
        journal.prune();
        assertFalse(Files.exists(dir.resolve("f".repeat(64))), "a damaged entry is removed once it is old");
        try (Journal.Entry e = open()) {
            e.record("local x");
        }
    }

    Path entry(String key, Instant modified) throws IOException {
        Path p = Files.writeString(dir.resolve(key), "local x\n");
        Files.setLastModifiedTime(p, FileTime.from(modified));
        return p;
    }
}
