package org.cryptforward.journal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.cryptforward.Deadline;
import org.cryptforward.Failure;

/**
 * What makes MTA retries idempotent: for each message, a small file in {@code STATE/journal/}
 * that records what is already done (the local copy written, each forward accepted by the relay).
 * A retry after a temporary failure reads it and does only what is missing.
 *
 * <p>The file is named by a digest of the envelope recipient and the message without its
 * envelope {@code From } line (the only part Postfix changes between retries). While a delivery
 * runs it holds an exclusive lock on the file, so a second delivery of the same message (Postfix
 * may run two) waits and then finds the work done. Records are appended one line at a time and
 * fsynced before the step they describe is acknowledged. A line that cannot be parsed is ignored:
 * a damaged journal can cause a duplicate, never a loss, and never blocks a new message.
 * Files older than the retention period are pruned, at most once an hour.
 */
public final class Journal {
    private static final Duration PRUNE_INTERVAL = Duration.ofHours(1);

    private final Path dir;
    private final Duration retention;
    private final Clock clock;

    public Journal(Path stateDir, Duration retention, Clock clock) {
        this.dir = stateDir.resolve("journal");
        this.retention = retention;
        this.clock = clock;
    }

    /** The journal key of a message for a recipient. */
    public static String key(String recipient, byte[] messageDigest) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(recipient.getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
            sha.update(messageDigest);
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Opens (creating) the entry for {@code key} and locks it, waiting at most until the deadline. */
    public Entry open(String key, Deadline deadline) throws Failure {
        if (!key.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("bad journal key");
        }
        prepare();
        Path file = dir.resolve(key);
        FileChannel ch;
        try {
            ch = FileChannel.open(file,
                    Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (IOException e) {
            throw Failure.temporary("4.3.0", "cannot open state journal in " + dir + ": " + reason(e), e);
        }
        try {
            FileLock lock = null;
            while (lock == null) {
                try {
                    lock = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    lock = null;
                }
                if (lock == null) {
                    if (deadline.passed()) {
                        throw Failure.temporary("4.4.7", "another delivery of this message is still running");
                    }
                    Thread.sleep(50);
                }
            }
            return new Entry(file, ch, lock, read(ch));
        } catch (IOException e) {
            close(ch);
            throw Failure.temporary("4.3.0", "cannot lock state journal " + file + ": " + reason(e), e);
        } catch (InterruptedException e) {
            close(ch);
            Thread.currentThread().interrupt();
            throw Failure.temporary("4.3.0", "interrupted while waiting for another delivery of this message");
        } catch (Failure | RuntimeException e) {
            close(ch);
            throw e;
        }
    }

    /** Makes sure the journal directory exists (0700). */
    public void prepare() throws Failure {
        try {
            if (!Files.isDirectory(dir.getParent())) {
                throw Failure.temporary("4.3.5", "state_dir " + dir.getParent() + " does not exist");
            }
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            }
        } catch (IOException e) {
            throw Failure.temporary("4.3.0", "cannot create " + dir + ": " + reason(e), e);
        }
    }

    /**
     * Removes entries not touched within the retention period. Runs at most once per
     * {@link #PRUNE_INTERVAL}; never fails a delivery.
     */
    public int prune() {
        Path stamp = dir.resolve(".pruned");
        Instant now = clock.instant();
        try {
            if (Files.exists(stamp)
                    && Duration.between(Files.getLastModifiedTime(stamp).toInstant(), now).compareTo(PRUNE_INTERVAL) < 0) {
                return 0;
            }
            if (!Files.exists(stamp)) {
                Files.createFile(stamp);
            }
            Files.setLastModifiedTime(stamp, FileTime.from(now));
        } catch (IOException e) {
            return 0;
        }
        int removed = 0;
        Instant cutoff = now.minus(retention);
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "[0-9a-f]*")) {
            for (Path p : ds) {
                try {
                    if (Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toInstant().isBefore(cutoff)) {
                        Files.deleteIfExists(p);
                        removed++;
                    }
                } catch (IOException e) {
                    // skip this one
                }
            }
        } catch (IOException e) {
            // pruning is housekeeping
        }
        return removed;
    }

    private static List<String> read(FileChannel ch) throws IOException {
        long size = ch.size();
        if (size > 1 << 20) {
            return List.of(); // not ours: nothing written here is this large
        }
        ByteBuffer buf = ByteBuffer.allocate((int) size);
        while (buf.hasRemaining() && ch.read(buf, buf.position()) > 0) {
            // read all
        }
        String text = new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
        // a record is complete only with its line end: a torn last line is ignored
        text = text.substring(0, text.lastIndexOf('\n') + 1);
        List<String> records = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (!line.isEmpty() && line.chars().allMatch(c -> c >= 32 && c < 127)) {
                records.add(line);
            }
        }
        return records;
    }

    /** The locked journal entry of one message. */
    public static final class Entry implements AutoCloseable {
        private final Path file;
        private final FileChannel channel;
        private final FileLock lock;
        private final List<String> records;

        Entry(Path file, FileChannel channel, FileLock lock, List<String> records) {
            this.file = file;
            this.channel = channel;
            this.lock = lock;
            this.records = new ArrayList<>(records);
        }

        public List<String> records() {
            return Collections.unmodifiableList(records);
        }

        /** Whether a record with exactly this text exists. */
        public boolean has(String record) {
            return records.contains(record);
        }

        /** The value of the last record starting with {@code type + " "}, if any. */
        public java.util.Optional<String> last(String type) {
            for (int i = records.size() - 1; i >= 0; i--) {
                String r = records.get(i);
                if (r.startsWith(type + " ")) {
                    return java.util.Optional.of(r.substring(type.length() + 1));
                }
            }
            return java.util.Optional.empty();
        }

        /** Appends a record and makes it durable before returning. */
        public void record(String record) throws Failure {
            if (record.indexOf('\n') >= 0) {
                throw new IllegalArgumentException("record with line break");
            }
            byte[] line = (record + "\n").getBytes(StandardCharsets.UTF_8);
            try {
                long pos = channel.size();
                ByteBuffer b = ByteBuffer.wrap(line);
                while (b.hasRemaining()) {
                    pos += channel.write(b, pos);
                }
                channel.force(true);
                records.add(record);
            } catch (IOException e) {
                throw Failure.temporary("4.3.0", "cannot write state journal " + file + ": " + reason(e), e);
            }
        }

        public Path file() {
            return file;
        }

        @Override
        public void close() {
            try {
                lock.release();
            } catch (IOException ignored) {
                // closing the channel releases it
            }
            Journal.close(channel);
        }
    }

    private static void close(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to save
        }
    }

    static String reason(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
