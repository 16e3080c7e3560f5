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
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Set;
import org.cryptforward.Deadline;
import org.cryptforward.Failure;

/**
 * mbox delivery as Postfix's local(8) does it: a dot-lock ({@code MBOX.lock}) and an fcntl lock
 * on the mailbox, a {@code From sender date} line, mboxrd quoting, an empty line after the
 * message, fsync; on any error the mailbox is truncated back to the length it had.
 *
 * <p>Lock waits are bounded by {@code lock_timeout_seconds} and the run's deadline; a timeout is
 * a temporary failure. A dot-lock older than {@value #STALE_SECONDS} seconds, or whose process is
 * gone, is stale and removed. Where the mailbox's directory is not writable (a shared
 * {@code /var/mail} without the mail group) only the fcntl lock is taken.
 */
public final class Mbox implements LocalMailbox {
    static final long STALE_SECONDS = 300;
    private static final DateTimeFormatter ASCTIME = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", Locale.ENGLISH);

    private final Path file;
    private final Clock clock;
    private final Duration lockTimeout;
    private final Deadline deadline;

    public Mbox(Path file, Clock clock, Duration lockTimeout, Deadline deadline) {
        this.file = file;
        this.clock = clock;
        this.lockTimeout = lockTimeout;
        this.deadline = deadline;
    }

    @Override
    public Path path() {
        return file;
    }

    /** The lock on the mailbox; closing releases both locks. */
    public final class Lock implements AutoCloseable {
        final FileChannel channel;
        private final FileLock fcntl;
        private final Path dotlock;

        Lock(FileChannel channel, FileLock fcntl, Path dotlock) {
            this.channel = channel;
            this.fcntl = fcntl;
            this.dotlock = dotlock;
        }

        public long size() throws IOException {
            return channel.size();
        }

        @Override
        public void close() {
            try {
                fcntl.release();
            } catch (IOException ignored) {
                // closing the channel releases it too
            }
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing was written through it after the fsync
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

    /** Opens the mailbox (creating it 0600) and takes both locks, waiting within the bounds. */
    public Lock lock() throws Failure {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            FileSafety.directory(dir);
        }
        long waitMillis = deadline.cap(lockTimeout).toMillis();
        long until = System.nanoTime() + waitMillis * 1_000_000L;
        Path dotlock = dotlock(until);
        FileChannel ch = null;
        try {
            ch = open();
            FileLock fl = null;
            while (fl == null) {
                try {
                    fl = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    fl = null;
                }
                if (fl == null) {
                    if (System.nanoTime() > until) {
                        throw Failure.temporary("4.2.0", "mailbox " + file + " is locked by another process (waited " + waitMillis / 1000 + " s)");
                    }
                    sleep(50);
                }
            }
            return new Lock(ch, fl, dotlock);
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

    @Override
    public Path store(InputStream message, String envelopeSender) throws Failure {
        try (Lock lock = lock()) {
            append(lock, message, envelopeSender);
            return file;
        }
    }

    /**
     * Appends under a lock already held; on failure truncates back. Returns the offset where the
     * message's {@code From } line starts.
     */
    public long append(Lock lock, InputStream message, String envelopeSender) throws Failure {
        FileChannel ch = lock.channel;
        long original;
        try {
            original = ch.size();
        } catch (IOException e) {
            throw FileSafety.ioFailure("cannot read mailbox " + file, e);
        }
        try {
            ch.position(original);
            OutputStream raw = Channels.newOutputStream(ch);
            BufferedOutputStream buffered = new BufferedOutputStream(raw, 64 * 1024);
            buffered.write(fromLine(envelopeSender));
            MboxrdOutputStream quoted = new MboxrdOutputStream(buffered);
            message.transferTo(quoted);
            quoted.close();
            buffered.write('\n');
            buffered.flush();
            ch.force(true);
            return original;
        } catch (IOException | RuntimeException e) {
            truncate(ch, original);
            if (e instanceof IOException io) {
                throw FileSafety.ioFailure("cannot append to mailbox " + file, io);
            }
            throw (RuntimeException) e;
        }
    }

    /** Cuts the mailbox back to {@code length} (after a failed or interrupted append). */
    public void truncate(Lock lock, long length) {
        truncate(lock.channel, length);
    }

    private static void truncate(FileChannel ch, long length) {
        try {
            ch.truncate(length);
            ch.force(true);
        } catch (IOException ignored) {
            // nothing more can be done; the error that brought us here is reported
        }
    }

    byte[] fromLine(String envelopeSender) {
        String sender = envelopeSender == null || envelopeSender.isEmpty() ? "MAILER-DAEMON" : envelopeSender;
        String line = "From " + sender + " " + ASCTIME.format(ZonedDateTime.now(clock)) + "\n";
        return line.getBytes(StandardCharsets.UTF_8);
    }

    private FileChannel open() throws IOException, Failure {
        try {
            PosixFileAttributes a = Files.readAttributes(file, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (a.isSymbolicLink()) {
                throw Failure.temporary("4.3.0", "refusing mailbox " + file + ": it is a symbolic link");
            }
            if (!a.isRegularFile()) {
                throw Failure.temporary("4.3.0", "mailbox " + file + " is not a regular file");
            }
            FileSafety.checkOwner(file, a);
            Object links = Files.getAttribute(file, "unix:nlink", LinkOption.NOFOLLOW_LINKS);
            if (links instanceof Integer n && n > 1) {
                throw Failure.temporary("4.3.0", "refusing mailbox " + file + ": it has " + n + " hard links");
            }
        } catch (NoSuchFileException e) {
            // created below
        }
        return FileChannel.open(file,
                Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    }

    /** Takes the dot-lock, or returns null where the directory does not allow one. */
    private Path dotlock(long untilNanos) throws Failure {
        Path lock = file.resolveSibling(file.getFileName() + ".lock");
        byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        while (true) {
            try (FileChannel ch = FileChannel.open(lock,
                    Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
                ch.write(ByteBuffer.wrap(pid));
                return lock;
            } catch (FileAlreadyExistsException e) {
                if (removeIfStale(lock)) {
                    continue;
                }
                if (System.nanoTime() > untilNanos) {
                    throw Failure.temporary("4.2.0", "mailbox " + file + " is locked (" + lock + ")");
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

    private boolean removeIfStale(Path lock) {
        try {
            FileTime modified = Files.getLastModifiedTime(lock, LinkOption.NOFOLLOW_LINKS);
            boolean old = Duration.between(modified.toInstant(), clock.instant()).getSeconds() > STALE_SECONDS;
            boolean orphaned = false;
            String content = new String(Files.readAllBytes(lock), StandardCharsets.US_ASCII).strip();
            if (content.matches("\\d{1,10}")) {
                long pid = Long.parseLong(content);
                orphaned = ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true);
            }
            if (old || orphaned) {
                Files.deleteIfExists(lock);
                return true;
            }
        } catch (IOException | RuntimeException e) {
            // gone already, or unreadable: let the timeout decide
            return !Files.exists(lock, LinkOption.NOFOLLOW_LINKS);
        }
        return false;
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
