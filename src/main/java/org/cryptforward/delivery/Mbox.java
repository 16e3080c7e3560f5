package org.cryptforward.delivery;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.Optional;
import java.util.Set;
import org.cryptforward.core.Dates;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Limits;
import org.cryptforward.journal.DeliveryJournal;
import org.cryptforward.journal.JournalRecord;

/**
 * mbox delivery as Postfix's local(8) does it, plus recovery from a crash in mid-append.
 *
 * <p>Locking: a dot-lock ({@code MBOX.lock}, created {@code O_EXCL}, holding the pid) and then an
 * fcntl lock on the mailbox, as procmail, mutt and Postfix take them. Waits are bounded by
 * {@code lock_timeout_seconds} and the run's deadline; a timeout is a temporary failure (75).
 * A dot-lock older than {@value #STALE_SECONDS} seconds, or whose process is gone, is stale and
 * removed. Where the mailbox's directory does not allow a dot-lock (a shared {@code /var/mail}
 * without the mail group) only the fcntl lock is taken.
 *
 * <p>Appending: the {@code From sender asctime} line, the message with mboxrd quoting (and a final
 * line end if it had none), an empty line; then fsync. If the mailbox did not end with an empty
 * line, line ends are added first so that the {@code From } line starts a message. On any error the
 * mailbox is truncated back to its former length. An append is announced beforehand to
 * {@link MboxRecovery}, and every holder of the locks first repairs what a killed append left.
 *
 * <p>Safety: the mailbox is opened with {@code O_NOFOLLOW}; a symbolic link, a file that is not
 * regular, a file with more than one hard link or one owned by another user is refused; the file
 * is inspected again after opening and must be the same one (Java cannot {@code fstat}). A new
 * mailbox is created 0600.
 *
 * <p>Use: {@link #measure} (outside the locks), {@link #lock}, {@link Lock#append}, record the
 * copy wherever it must be recorded, {@link Lock#commit}, close the lock. A failed append is
 * undone at once; a complete one is never undone — closed without commit (the caller could not
 * record it), it is left to the repair, which keeps it and tells its owner.
 */
public final class Mbox implements LocalMailbox {
    static final long STALE_SECONDS = 300;

    /** What became of an earlier append that was interrupted, as the repair found it. */
    public enum Recovered {
        /** All of it is in the mailbox (now fsynced): the copy is done. */
        COMPLETE("complete"),
        /** It was torn, or had not begun, and is gone: deliver again. */
        TRUNCATED("truncated"),
        /** The mailbox was changed by someone else meanwhile; it was left alone: deliver again. */
        UNKNOWN("unknown");

        private final String word;

        Recovered(String word) {
            this.word = word;
        }

        String word() {
            return word;
        }
    }

    /** A message measured for appending: its {@code From } line and its length once quoted. */
    public static final class Measured {
        private final MessageSource source;
        private final byte[] fromLine;
        private final long quotedLength;

        private Measured(MessageSource source, byte[] fromLine, long quotedLength) {
            this.source = source;
            this.fromLine = fromLine;
            this.quotedLength = quotedLength;
        }

        /** Bytes the append writes after the {@code From } line: the quoted message and the empty line. */
        long bodyLength() {
            return quotedLength + 1;
        }
    }

    private final Path file;
    private final MboxRecovery recovery;
    private final Clock clock;
    private final Duration lockTimeout;
    private final Deadline deadline;
    private final FileSink sink;

    /**
     * @param stateDir where pending appends are recorded ({@code state_dir})
     * @param retention how long an uncollected repair outcome is kept
     */
    public Mbox(Path file, Path stateDir, Duration retention, Clock clock, Duration lockTimeout, Deadline deadline) {
        this(file, stateDir, retention, clock, lockTimeout, deadline, FileSink.DIRECT);
    }

    Mbox(
            Path file,
            Path stateDir,
            Duration retention,
            Clock clock,
            Duration lockTimeout,
            Deadline deadline,
            FileSink sink) {
        this.file = file.toAbsolutePath();
        this.recovery = new MboxRecovery(stateDir, retention, clock);
        this.clock = clock;
        this.lockTimeout = lockTimeout;
        this.deadline = deadline;
        this.sink = sink;
    }

    @Override
    public Path path() {
        return file;
    }

    @Override
    public Path store(MessageSource message, String envelopeSender) throws Failure {
        Measured m = measure(message, envelopeSender);
        try (Lock lock = lock()) {
            lock.append(m, MboxRecovery.NO_OWNER);
            lock.commit();
            return file;
        }
    }

    /**
     * The append is announced in a pending record (see {@link MboxRecovery}) that the next holder
     * of the mailbox locks repairs: a torn append is cut off, a complete one kept, and the outcome
     * left under this message's journal key. A retry takes the copy as made when the journal or
     * that outcome says complete, or writes it again. The pending record goes (commit) only after
     * the journal records the copy; if that record fails, the complete append is left to the
     * repair, which keeps it for the retry.
     */
    @Override
    public Path deliverOnce(MessageSource message, String envelopeSender, DeliveryJournal.Entry entry) throws Failure {
        Optional<JournalRecord.LocalCopy> done = entry.last(JournalRecord.LocalCopy.class);
        if (done.isPresent()) {
            return Path.of(done.get().location());
        }
        String key = entry.key();
        Measured measured = measure(message, envelopeSender);
        try (Lock lock = lock()) {
            Optional<Recovered> earlier = lock.recovered(key);
            if (earlier.isPresent() && earlier.get() == Recovered.COMPLETE) {
                entry.record(new JournalRecord.LocalCopy(file.toString()));
                lock.forget(key);
                return file;
            }
            lock.append(measured, key);
            entry.record(new JournalRecord.LocalCopy(file.toString()));
            lock.commit();
            if (earlier.isPresent()) {
                lock.forget(key);
            }
            return file;
        }
    }

    /** Reads the message once through the quoting to learn how many bytes the append will write. */
    public Measured measure(MessageSource message, String envelopeSender) throws Failure {
        byte[] from = fromLine(envelopeSender);
        try (InputStream in = message.open()) {
            MboxrdOutputStream counter = new MboxrdOutputStream(OutputStream.nullOutputStream());
            in.transferTo(counter);
            counter.close();
            return new Measured(message, from, counter.count());
        } catch (IOException e) {
            throw Failure.temporary("4.3.0", "cannot read the message to store it: " + FileSafety.reason(e), e);
        }
    }

    /** Both locks on the mailbox; closing releases them, and undoes an append not committed. */
    public final class Lock implements AutoCloseable {
        private final FileChannel channel;
        private final FileLock fcntl;
        private final Path dotlock;
        private final String fileKey;
        private final Optional<Recovered> repaired;
        /** An append being written: undone if it fails. */
        private MboxRecovery.Pending uncommitted;
        /** An append complete and fsynced, its pending record not yet removed: never undone. */
        private MboxRecovery.Pending appended;

        private Lock(FileChannel channel, FileLock fcntl, Path dotlock, String fileKey, Optional<Recovered> repaired) {
            this.channel = channel;
            this.fcntl = fcntl;
            this.dotlock = dotlock;
            this.fileKey = fileKey;
            this.repaired = repaired;
        }

        public long size() throws IOException {
            return channel.size();
        }

        /** What taking this lock repaired of an interrupted append (whoever it belonged to). */
        public Optional<Recovered> repaired() {
            return repaired;
        }

        /** What a repair (by this or any earlier delivery) found of {@code owner}'s interrupted append. */
        public Optional<Recovered> recovered(String owner) {
            return recovery.outcome(owner);
        }

        /** Forgets the repair outcome of {@code owner}, once it is acted upon. */
        public void forget(String owner) {
            recovery.forget(owner);
        }

        /**
         * Appends a measured message; on return it is fsynced. On failure the mailbox is as it was.
         *
         * @param owner the journal key of the message, told the outcome should this append be repaired
         * @return the offset at which the message's {@code From } line starts
         */
        public long append(Measured m, String owner) throws Failure {
            if (uncommitted != null || appended != null) {
                throw new IllegalStateException("one append per lock");
            }
            long original;
            int separator;
            try {
                original = channel.size();
                separator = separatorNeeded(channel, original);
            } catch (IOException e) {
                throw FileSafety.ioFailure("cannot read mailbox " + file, e);
            }
            long length = separator + m.fromLine.length + m.bodyLength();
            MboxRecovery.Pending pending =
                    new MboxRecovery.Pending(original, separator, length, m.fromLine, fileKey, owner);
            try {
                recovery.begin(file, pending);
            } catch (IOException e) {
                throw FileSafety.ioFailure("cannot record the pending append in " + recovery.directory(), e);
            }
            uncommitted = pending;
            try (InputStream in = m.source.open()) {
                channel.position(original);
                OutputStream out = new BufferedOutputStream(
                        sink.wrap(Channels.newOutputStream(channel)), Limits.DEFAULT.ioBufferBytes());
                for (int i = 0; i < separator; i++) {
                    out.write('\n');
                }
                out.write(m.fromLine);
                MboxrdOutputStream quoted = new MboxrdOutputStream(out);
                in.transferTo(quoted);
                quoted.close();
                out.write('\n');
                out.flush();
                if (quoted.count() != m.quotedLength || channel.size() != pending.end()) {
                    throw new IOException("the message changed while it was stored");
                }
                channel.force(true);
                uncommitted = null;
                appended = pending;
                return pending.fromOffset();
            } catch (IOException e) {
                undo();
                throw FileSafety.ioFailure("cannot append to mailbox " + file, e);
            } catch (RuntimeException e) {
                undo();
                if (e.getCause() instanceof IOException io) {
                    throw FileSafety.ioFailure("cannot append to mailbox " + file, io);
                }
                throw e;
            }
        }

        /**
         * The append is recorded where it needs to be: its pending record goes. Never fails: a
         * record that cannot be removed is settled by the next holder of the locks, which finds
         * the append complete and keeps it.
         */
        public void commit() {
            if (appended == null) {
                return;
            }
            appended = null;
            try {
                recovery.end(file);
            } catch (IOException e) {
                // left for the next repair, which keeps the message
            }
        }

        /** Cuts the mailbox back to where a failed append began. */
        private void undo() {
            MboxRecovery.Pending p = uncommitted;
            if (p == null) {
                return;
            }
            try {
                channel.truncate(p.offset());
                channel.force(true);
                recovery.end(file);
                uncommitted = null;
            } catch (IOException | RuntimeException e) {
                // the pending record stays: the next holder of the locks repairs it
            }
        }

        /**
         * Releases the locks. An append that failed was undone already; one that succeeded but
         * was not committed stays, with its pending record: the next holder of the locks finds it
         * complete and tells its owner (so a caller that failed to record the copy delivers it
         * exactly once on its retry).
         */
        @Override
        public void close() {
            undo();
            try {
                fcntl.release();
            } catch (IOException ignored) {
                // closing the channel releases it too
            }
            try {
                channel.close();
            } catch (IOException ignored) {
                // everything kept was fsynced before
            }
            if (dotlock != null) {
                try {
                    Files.deleteIfExists(dotlock);
                } catch (IOException ignored) {
                    // a leftover lock turns stale and is removed by the next delivery
                }
            }
        }
    }

    /**
     * Opens the mailbox (creating it 0600), takes both locks, waiting within the bounds, and
     * repairs what an interrupted append left.
     */
    public Lock lock() throws Failure {
        Path dir = file.getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            FileSafety.directory(dir);
        }
        long waitMillis = deadline.cap(lockTimeout).toMillis();
        long until = System.nanoTime() + waitMillis * 1_000_000L;
        Path dotlock = dotlock(until, waitMillis);
        FileChannel ch = null;
        try {
            ch = open();
            FileLock fl = null;
            while (fl == null) {
                try {
                    fl = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    fl = null; // held by another thread of this process
                }
                if (fl == null) {
                    if (System.nanoTime() > until) {
                        throw Failure.temporary(
                                "4.2.0",
                                "mailbox " + file + " is locked by another process (waited " + seconds(waitMillis)
                                        + ")");
                    }
                    sleep(50);
                }
            }
            String fileKey = String.valueOf(FileSafety.regularFile(file, "mailbox"));
            Optional<Recovered> repaired;
            try {
                repaired = recovery.repair(file, ch, fileKey);
                recovery.prune();
            } catch (IOException e) {
                fl.release();
                throw FileSafety.ioFailure("cannot repair an interrupted delivery to mailbox " + file, e);
            }
            return new Lock(ch, fl, dotlock, fileKey, repaired);
        } catch (IOException e) {
            closeQuietly(ch);
            deleteQuietly(dotlock);
            throw FileSafety.ioFailure("cannot open mailbox " + file, e);
        } catch (Failure | RuntimeException e) {
            closeQuietly(ch);
            deleteQuietly(dotlock);
            throw e;
        }
    }

    /** The envelope line; white space and control characters in the sender become {@code _}. */
    byte[] fromLine(String envelopeSender) {
        String sender = envelopeSender == null || envelopeSender.isEmpty() ? "MAILER-DAEMON" : envelopeSender;
        StringBuilder safe = new StringBuilder(sender.length());
        sender.codePoints()
                .limit(1000)
                .forEach(c -> safe.appendCodePoint(
                        c <= ' ' || c == 0x7f || Character.isWhitespace(c) || Character.isISOControl(c) ? '_' : c));
        String line = "From " + safe + " " + Dates.asctime(ZonedDateTime.now(clock)) + "\n";
        return line.getBytes(StandardCharsets.UTF_8);
    }

    /** How many line ends to write first so that the new {@code From } line follows an empty line. */
    private static int separatorNeeded(FileChannel ch, long size) throws IOException {
        if (size == 0) {
            return 0;
        }
        ByteBuffer b = ByteBuffer.allocate(2);
        long from = Math.max(0, size - 2);
        while (b.hasRemaining() && ch.read(b, from + b.position()) > 0) {
            // at most two bytes
        }
        byte[] tail = b.array();
        int n = b.position();
        if (n == 0 || tail[n - 1] != '\n') {
            return 2;
        }
        if (n == 1) {
            return 0; // a file of just "\n"
        }
        return tail[0] == '\n' ? 0 : 1;
    }

    private FileChannel open() throws IOException, Failure {
        Object before = FileSafety.regularFile(file, "mailbox");
        FileChannel ch = FileChannel.open(
                file,
                Set.of(
                        StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE,
                        StandardOpenOption.READ,
                        LinkOption.NOFOLLOW_LINKS),
                FileSafety.PRIVATE_FILE);
        try {
            Object after = FileSafety.regularFile(file, "mailbox");
            if (after == null || (before != null && !before.equals(after))) {
                throw Failure.temporary("4.3.0", "mailbox " + file + " was replaced while it was being opened");
            }
            return ch;
        } catch (Failure | RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    /** Takes the dot-lock, or returns null where the directory does not allow one. */
    private Path dotlock(long untilNanos, long waitMillis) throws Failure {
        Path lock = file.resolveSibling(file.getFileName() + ".lock");
        byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        while (true) {
            try (FileChannel ch = FileChannel.open(
                    lock,
                    Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    FileSafety.PRIVATE_FILE)) {
                ch.write(ByteBuffer.wrap(pid));
                return lock;
            } catch (FileAlreadyExistsException e) {
                if (removeIfStale(lock)) {
                    continue;
                }
                if (System.nanoTime() > untilNanos) {
                    throw Failure.temporary(
                            "4.2.0",
                            "mailbox " + file + " is locked (" + lock + ", waited " + seconds(waitMillis) + ")");
                }
                sleep(100);
            } catch (AccessDeniedException e) {
                return null;
            } catch (IOException e) {
                String reason = FileSafety.reason(e);
                if (reason.contains("Read-only") || reason.contains("Permission denied")) {
                    return null;
                }
                throw FileSafety.ioFailure("cannot create lock file " + lock, e);
            }
        }
    }

    /**
     * Removes a dot-lock whose process is gone, or that is older than {@value #STALE_SECONDS}
     * seconds. Reads it without following a link and only if it is a regular file.
     */
    private boolean removeIfStale(Path lock) {
        try {
            FileTime modified = Files.getLastModifiedTime(lock, LinkOption.NOFOLLOW_LINKS);
            boolean old =
                    Duration.between(modified.toInstant(), clock.instant()).getSeconds() > STALE_SECONDS;
            boolean orphaned = false;
            if (Files.isRegularFile(lock, LinkOption.NOFOLLOW_LINKS)) {
                String content;
                try (SeekableByteChannel ch =
                        Files.newByteChannel(lock, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
                    ByteBuffer b = ByteBuffer.allocate(32);
                    while (b.hasRemaining() && ch.read(b) > 0) {
                        // a pid and a line end
                    }
                    content = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).strip();
                }
                if (content.matches("\\d{1,10}")) {
                    long pid = Long.parseLong(content);
                    orphaned = ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true);
                }
            }
            if (old || orphaned) {
                Files.deleteIfExists(lock);
                return true;
            }
        } catch (NoSuchFileException e) {
            return true; // released meanwhile
        } catch (IOException | RuntimeException e) {
            // unreadable: let its age decide
            return !Files.exists(lock, LinkOption.NOFOLLOW_LINKS);
        }
        return false;
    }

    private static String seconds(long millis) {
        return millis < 10_000 ? (millis / 1000) + "." + (millis % 1000 / 100) + " s" : (millis / 1000) + " s";
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // best effort
            }
        }
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // best effort
            }
        }
    }
}
