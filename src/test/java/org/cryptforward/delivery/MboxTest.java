package org.cryptforward.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.support.ExternalTool;
import org.cryptforward.support.MboxReader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * mbox delivery: the frame and quoting on disk, the locks and their bounded waits, stale
 * dot-locks, undo on failure (a full disk, injected or real), and every refusal: a symlink, a
 * hard link, a FIFO, a directory, a file of another user.
 */
class MboxTest {
    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-03-05T07:08:09Z"), ZoneOffset.UTC);

    @TempDir
    Path tmp;

    Path state;
    Path mbox;
    Process holder;

    @BeforeEach
    void setUp() throws IOException {
        state = Files.createDirectory(tmp.resolve("state"));
        mbox = tmp.resolve("mail").resolve("root");
    }

    @AfterEach
    void tearDown() {
        if (holder != null) {
            holder.destroyForcibly();
        }
    }

    Mbox mbox(Duration lockTimeout) {
        return new Mbox(
                mbox,
                state,
                Duration.ofDays(14),
                CLOCK,
                lockTimeout,
                new Deadline(Clock.systemUTC(), Duration.ofMinutes(5)));
    }

    static LocalMailbox.MessageSource source(String s) {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        return () -> new ByteArrayInputStream(b);
    }

    static LocalMailbox.MessageSource source(byte[] b) {
        return () -> new ByteArrayInputStream(b);
    }

    static boolean isRoot() {
        return FileSafety.uid() == 0;
    }

    @Test
    void appendsFromLineQuotedMessageAndEmptyLine() throws Exception {
        Mbox m = mbox(Duration.ofSeconds(5));
        String first = "Subject: one\n\nFrom here\n>From there\nend\n";
        String second = "Subject: two\n\nno final line end";
        assertEquals(mbox.toAbsolutePath(), m.store(source(first), "cron@example.org"));
        m.store(source(second), "");

        String disk = Files.readString(mbox, StandardCharsets.ISO_8859_1);
        assertEquals(
                "From cron@example.org Thu Mar  5 07:08:09 2026\n" + "Subject: one\n\n>From here\n>>From there\nend\n\n"
                        + "From MAILER-DAEMON Thu Mar  5 07:08:09 2026\n" + "Subject: two\n\nno final line end\n\n",
                disk);
        List<MboxReader.Entry> entries = MboxReader.read(mbox);
        assertEquals(2, entries.size());
        assertArrayEquals(
                first.getBytes(StandardCharsets.ISO_8859_1), entries.get(0).message());
        assertArrayEquals(
                (second + "\n").getBytes(StandardCharsets.ISO_8859_1),
                entries.get(1).message(),
                "a final line end is added");
        assertTrue(
                MboxReader.FROM_LINE.matcher(entries.get(0).fromLine()).matches(),
                entries.get(0).fromLine());
        assertNoPendingRecord();
    }

    @Test
    void senderCannotBreakTheFromLine() throws Exception {
        mbox(Duration.ofSeconds(5)).store(source("x\n"), "a b\nFrom evil@x\t@example.org");
        List<MboxReader.Entry> entries = MboxReader.read(mbox);
        assertEquals(1, entries.size());
        assertEquals(
                "From a_b_From_evil@x_@example.org Thu Mar  5 07:08:09 2026",
                entries.get(0).fromLine());
    }

    @Test
    void startsOnAFreshParagraphAfterAnUnterminatedMailbox() throws Exception {
        Files.createDirectories(mbox.getParent());
        Files.writeString(mbox, "From a Thu Mar  5 07:08:09 2026\nSubject: old\n\nno blank line after me");
        mbox(Duration.ofSeconds(5)).store(source("Subject: new\n\nbody\n"), "b@example.org");
        List<MboxReader.Entry> entries = MboxReader.read(mbox);
        assertEquals(2, entries.size(), "the new message does not run into the old one");
        assertEquals(
                "Subject: old\n\nno blank line after me\n",
                new String(entries.get(0).message(), StandardCharsets.US_ASCII));
        assertEquals("Subject: new\n\nbody\n", new String(entries.get(1).message(), StandardCharsets.US_ASCII));
    }

    @Test
    void createsTheMailbox0600AndItsFolder0700() throws Exception {
        mbox(Duration.ofSeconds(5)).store(source("x\n"), "a@b");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(mbox)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(mbox.getParent())));
        assertFalse(Files.exists(mbox.resolveSibling("root.lock")), "the dot-lock is removed");
    }

    @Test
    void refusesASymlinkInPlaceOfTheMailbox() throws Exception {
        Path target = Files.writeString(tmp.resolve("victim"), "precious\n");
        Files.createDirectories(mbox.getParent());
        Files.createSymbolicLink(mbox, target);
        Failure f =
                assertThrows(Failure.class, () -> mbox(Duration.ofSeconds(5)).store(source("x\n"), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertTrue(f.getMessage().contains("symbolic link"), f.getMessage());
        assertEquals("precious\n", Files.readString(target), "the link target is untouched");
        assertTrue(Files.isSymbolicLink(mbox));
    }

    @Test
    void neverWritesThroughASymlinkPlantedAsTheDotlock() throws Exception {
        Path target = Files.writeString(tmp.resolve("victim"), "precious\n");
        Files.createDirectories(mbox.getParent());
        Files.createSymbolicLink(mbox.resolveSibling("root.lock"), target);
        Failure f =
                assertThrows(Failure.class, () -> mbox(Duration.ofMillis(500)).store(source("x\n"), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertEquals("precious\n", Files.readString(target), "the link target is untouched");
    }

    @Test
    void refusesAHardLinkedMailbox() throws Exception {
        Path other = Files.writeString(tmp.resolve("other"), "someone else's file\n");
        Files.createDirectories(mbox.getParent());
        Files.createLink(mbox, other);
        Failure f =
                assertThrows(Failure.class, () -> mbox(Duration.ofSeconds(5)).store(source("x\n"), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertTrue(f.getMessage().contains("hard links"), f.getMessage());
        assertEquals("someone else's file\n", Files.readString(other));
    }

    @Test
    void refusesWhatIsNotARegularFile() throws Exception {
        Files.createDirectories(mbox);
        Failure dir =
                assertThrows(Failure.class, () -> mbox(Duration.ofSeconds(5)).store(source("x\n"), "a@b"));
        assertTrue(dir.getMessage().contains("not a regular file"), dir.getMessage());
        Files.delete(mbox);
        Process mkfifo =
                new ProcessBuilder("mkfifo", mbox.toString()).inheritIO().start();
        assertEquals(0, mkfifo.waitFor());
        Failure fifo =
                assertThrows(Failure.class, () -> mbox(Duration.ofSeconds(5)).store(source("x\n"), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, fifo.exitCode());
        assertTrue(fifo.getMessage().contains("not a regular file"), fifo.getMessage());
    }

    @Test
    void refusesAMailboxOwnedByAnotherUser() throws Exception {
        assumeTrue(isRoot(), "only root can give a file away; as another user, see refusesAFileOfRoot");
        Files.createDirectories(mbox.getParent());
        Files.writeString(mbox, "");
        Files.setAttribute(mbox, "unix:uid", 4242);
        Failure f =
                assertThrows(Failure.class, () -> mbox(Duration.ofSeconds(5)).store(source("x\n"), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertTrue(f.getMessage().contains("owned by uid 4242"), f.getMessage());
        assertEquals(0, Files.size(mbox));
    }

    @Test
    void refusesAFileOfRoot() throws Exception {
        assumeTrue(!isRoot() && FileSafety.uid() > 0);
        Path rootsFile = Path.of("/etc/hostname");
        assumeTrue(Files.isRegularFile(rootsFile, LinkOption.NOFOLLOW_LINKS)
                && Integer.valueOf(0).equals(Files.getAttribute(rootsFile, "unix:uid")));
        Mbox m = new Mbox(
                rootsFile,
                state,
                Duration.ofDays(1),
                CLOCK,
                Duration.ofSeconds(1),
                new Deadline(CLOCK, Duration.ofMinutes(1)));
        Failure f = assertThrows(Failure.class, () -> m.store(source("x\n"), "a@b"));
        assertTrue(f.getMessage().contains("owned by uid 0"), f.getMessage());
    }

    @Test
    void lockTimeoutOnALiveDotlockIsATemporaryFailure() throws Exception {
        Files.createDirectories(mbox.getParent());
        Files.writeString(mbox, "");
        Path lock = Files.writeString(
                mbox.resolveSibling("root.lock"), ProcessHandle.current().pid() + "\n");
        long t0 = System.nanoTime();
        Failure f =
                assertThrows(Failure.class, () -> mbox(Duration.ofSeconds(1)).store(source("x\n"), "a@b"));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertEquals("4.2.0", f.status());
        assertTrue(ms >= 900 && ms < 5000, "waited about the lock timeout: " + ms + " ms");
        assertTrue(Files.exists(lock), "a live process's lock is left alone");
        assertEquals(0, Files.size(mbox));
    }

    @Test
    void lockTimeoutOnAnFcntlLockOfAnotherProcess() throws Exception {
        Files.createDirectories(mbox.getParent());
        Files.writeString(mbox, "");
        holder = holdFcntlLock(mbox);
        Failure f =
                assertThrows(Failure.class, () -> mbox(Duration.ofSeconds(1)).store(source("x\n"), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertTrue(f.getMessage().contains("locked by another process"), f.getMessage());
        assertEquals(0, Files.size(mbox));
        holder.destroyForcibly().waitFor();
        mbox(Duration.ofSeconds(1)).store(source("x\n"), "a@b");
        assertEquals(1, MboxReader.read(mbox).size(), "delivered once the lock is released");
    }

    /** A separate process (python3) that takes an fcntl write lock on the file and keeps it. */
    static Process holdFcntlLock(Path file) throws Exception {
        ExternalTool.require("python3");
        Process p = new ProcessBuilder(
                        "python3",
                        "-c",
                        "import fcntl,sys,time\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(600)",
                        file.toString())
                .redirectErrorStream(true)
                .start();
        byte[] line = new byte[7];
        assertEquals(7, p.getInputStream().readNBytes(line, 0, 7), "python3 took the lock");
        assertEquals("locked\n", new String(line, StandardCharsets.US_ASCII));
        return p;
    }

    @Test
    void removesTheDotlockOfADeadProcess() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        assertTrue(gone.waitFor(10, TimeUnit.SECONDS));
        Files.createDirectories(mbox.getParent());
        Path lock = Files.writeString(mbox.resolveSibling("root.lock"), gone.pid() + "\n");
        long t0 = System.nanoTime();
        mbox(Duration.ofSeconds(30)).store(source("x\n"), "a@b");
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 5000, "no wait for a dead process's lock");
        assertEquals(1, MboxReader.read(mbox).size());
        assertFalse(Files.exists(lock));
    }

    @Test
    void removesADotlockOlderThanTheStaleTime() throws Exception {
        Files.createDirectories(mbox.getParent());
        Path lock = Files.writeString(
                mbox.resolveSibling("root.lock"), ProcessHandle.current().pid() + "\n");
        Files.setLastModifiedTime(lock, FileTime.from(CLOCK.instant().minusSeconds(Mbox.STALE_SECONDS + 1)));
        mbox(Duration.ofSeconds(30)).store(source("x\n"), "a@b");
        assertEquals(1, MboxReader.read(mbox).size());
    }

    @Test
    void aFullDiskLeavesTheMailboxAsItWas() throws Exception {
        mbox(Duration.ofSeconds(5)).store(source("Subject: before\n\nkept\n"), "a@b");
        byte[] before = Files.readAllBytes(mbox);
        // the disk fills up after 100 KB of the next message
        FileSink full = file -> new FilterOutputStream(file) {
            long written;

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (written + len > 100_000) {
                    out.write(b, off, (int) (100_000 - written));
                    written = 100_000;
                    throw new IOException("No space left on device");
                }
                out.write(b, off, len);
                written += len;
            }
        };
        Mbox m = new Mbox(
                mbox,
                state,
                Duration.ofDays(14),
                CLOCK,
                Duration.ofSeconds(5),
                new Deadline(CLOCK, Duration.ofMinutes(1)),
                full);
        byte[] big = ("Subject: big\n\n" + "a line of the message body\n".repeat(20_000))
                .getBytes(StandardCharsets.US_ASCII);
        Failure f = assertThrows(Failure.class, () -> m.store(source(big), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertEquals("4.3.1", f.status());
        assertTrue(f.statusLine().startsWith("4.3.1 cryptforward: cannot append to mailbox"), f.statusLine());
        assertArrayEquals(before, Files.readAllBytes(mbox), "truncated back to the former length");
        assertNoPendingRecord();
        assertFalse(Files.exists(mbox.resolveSibling("root.lock")));
    }

    @Test
    void aFullDiskForRealLeavesTheMailboxAsItWas() throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve("small"));
        assumeTrue(
                isRoot() && run("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt.toString()) == 0,
                "needs root and permission to mount a tmpfs");
        try {
            mbox = mnt.resolve("root");
            mbox(Duration.ofSeconds(5)).store(source("Subject: before\n\nkept\n"), "a@b");
            byte[] before = Files.readAllBytes(mbox);
            byte[] big = ("Subject: big\n\n" + "a line of the message body\n".repeat(40_000))
                    .getBytes(StandardCharsets.US_ASCII);
            Failure f = assertThrows(
                    Failure.class, () -> mbox(Duration.ofSeconds(5)).store(source(big), "a@b"));
            assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
            assertEquals("4.3.1", f.status(), f.statusLine());
            assertArrayEquals(before, Files.readAllBytes(mbox), "truncated back to the former length");
            assertNoPendingRecord();
        } finally {
            run("umount", mnt.toString());
        }
    }

    @Test
    void aCompleteAppendClosedWithoutCommitIsKeptAndItsOwnerTold() throws Exception {
        Mbox m = mbox(Duration.ofSeconds(5));
        m.store(source("Subject: kept\n\nx\n"), "a@b");
        Mbox.Measured measured = m.measure(source("Subject: appended\n\ny\n"), "a@b");
        String owner = "a".repeat(64);
        try (Mbox.Lock lock = m.lock()) {
            lock.append(measured, owner);
            // the caller failed to record it (say, the journal's disk is full): no commit
        }
        byte[] after = Files.readAllBytes(mbox);
        assertEquals(
                2,
                MboxReader.read(mbox).size(),
                "never undone once complete: the journal may have the record after all");
        try (Mbox.Lock lock = m.lock()) {
            assertEquals(java.util.Optional.of(Mbox.Recovered.COMPLETE), lock.repaired());
            assertEquals(
                    java.util.Optional.of(Mbox.Recovered.COMPLETE),
                    lock.recovered(owner),
                    "the owner's retry will not write it again");
        }
        assertArrayEquals(after, Files.readAllBytes(mbox));
        assertNoPendingRecord();
    }

    void assertNoPendingRecord() throws IOException {
        Path pending = state.resolve("pending");
        if (Files.isDirectory(pending)) {
            try (var s = Files.list(pending)) {
                assertEquals(
                        List.of(),
                        s.filter(p -> p.getFileName().toString().startsWith("mbox-"))
                                .toList(),
                        "no pending append left");
            }
        }
    }

    static int run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }
}
