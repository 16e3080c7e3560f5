package org.cryptforward.journal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
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
import java.util.Optional;
import java.util.Set;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.core.IoErrors;
import org.cryptforward.core.Limits;

/**
 * What makes MTA retries idempotent: for each message, a small file in {@code STATE/journal/}
 * that records what is already done (the local copy written, each forward accepted by the relay).
 * A retry after a temporary failure reads it and does only what is missing.
 *
 * <p>The file is named by a digest of the envelope recipient and the message without its
 * envelope {@code From } line (the only part Postfix changes between retries). While a delivery
 * runs it holds an exclusive fcntl lock on the file, so a second delivery of the same message
 * (Postfix may run two at once) waits, then reads the records and finds the work done. Records
 * are appended one line at a time and fsynced before the step they describe is acknowledged.
 *
 * <p>Damage never blocks a new message; at worst it causes a duplicate, never a loss:
 * <ul>
 *   <li>a line that is torn, or holds bytes a record never has, is ignored; a torn line is
 *       closed with a NUL before the next record, so that it stays invalid;
 *   <li>an entry that is not a regular file (a directory, a link, a FIFO), cannot be opened,
 *       locked or read (wrong owner, I/O error), or is implausibly large, is renamed to
 *       {@code KEY.damaged-MILLIS} for inspection and a fresh one is started — which forgets what
 *       the old one recorded, hence the possible duplicate;
 *   <li>a journal directory that is not a directory is set aside the same way.
 * </ul>
 * Only when the journal cannot be written at all (state directory missing, full or not
 * writable) does a delivery fail, with 75.
 *
 * <p>While a delivery holds an entry, nothing else in its process may open and close that file: an
 * fcntl lock belongs to the process and goes with the first descriptor of the file it closes.
 *
 * <p>Entries are touched when opened. Entries, and set-aside damaged ones, untouched for the
 * retention period ({@code state_retention_days}, 14 by default) are pruned, at most once an
 * hour. An entry is pruned only under its lock and after a {@value #TOMBSTONE} record is written
 * to it, so a delivery that was waiting for that lock sees the tombstone and starts afresh rather
 * than record into a deleted file.
 */
public final class Journal implements DeliveryJournal {
    private static final Duration PRUNE_INTERVAL = Duration.ofHours(1);
    /** The record that marks an entry as deleted. */
    static final String TOMBSTONE = "pruned";
    /** No entry of ours grows this large. */
    static final long MAX_ENTRY = Limits.DEFAULT.journalEntryBytes();

    private static final int ATTEMPTS = 4;

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
    @Override
    public Entry open(String key, Deadline deadline) throws Failure {
        if (!key.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("bad journal key");
        }
        prepare();
        Path file = dir.resolve(key);
        IOException last = null;
        int tombstones = 0;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            try {
                if (!absentOrRegular(file)) {
                    setAside(file);
                }
            } catch (IOException e) {
                throw failure("cannot set aside the damaged state journal entry " + file, e);
            }
            FileChannel ch;
            try {
                ch = FileChannel.open(
                        file,
                        Set.of(
                                StandardOpenOption.CREATE,
                                StandardOpenOption.READ,
                                StandardOpenOption.WRITE,
                                LinkOption.NOFOLLOW_LINKS),
                        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (IOException e) {
                last = e;
                setAsideOrFail(file, e);
                continue;
            }
            // Touched before locking: the JDK sets times through a file descriptor of its own, and
            // closing any descriptor of a file drops this process's fcntl locks on it.
            touch(file);
            FileLock lock;
            try {
                lock = lock(ch, deadline);
            } catch (IOException e) {
                close(ch); // no locks on this file system: not the entry's fault
                throw failure("cannot lock state journal entry " + file, e);
            } catch (Failure | RuntimeException e) {
                close(ch);
                throw e;
            }
            Contents contents;
            try {
                contents = read(ch);
            } catch (IOException e) {
                close(ch);
                last = e;
                setAsideOrFail(file, e);
                continue;
            }
            if (contents == null) {
                // not something this program wrote: keep it for inspection, start afresh
                close(ch);
                setAsideOrFail(file, null);
                continue;
            }
            if (contents.records().contains(TOMBSTONE)) {
                close(ch);
                if (tombstones++ > 0) {
                    setAsideOrFail(file, null); // left by a pruner that died before deleting it
                }
                continue; // pruned while this delivery waited for the lock: the next one is fresh
            }
            return new Entry(file, ch, lock, contents.records(), contents.tornTail());
        }
        throw failure(
                "cannot use the state journal entry " + file,
                last == null ? new IOException("gave up after " + ATTEMPTS + " attempts") : last);
    }

    private static FileLock lock(FileChannel ch, Deadline deadline) throws IOException, Failure {
        while (true) {
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null; // held by another thread of this process
            }
            if (lock != null) {
                return lock;
            }
            if (deadline.passed()) {
                throw Failure.temporary("4.4.7", "another delivery of this message is still running");
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Failure.temporary("4.3.0", "interrupted while waiting for another delivery of this message");
            }
        }
    }

    /** Makes sure the journal directory exists (0700), setting aside whatever else is in its place. */
    public void prepare() throws Failure {
        try {
            if (!Files.isDirectory(dir.getParent())) {
                throw Failure.temporary("4.3.5", "state_dir " + dir.getParent() + " does not exist");
            }
            if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                return;
            }
            if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                setAside(dir);
            }
            try {
                Files.createDirectory(
                        dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                    throw raced;
                }
            }
        } catch (IOException e) {
            throw failure("cannot create " + dir, e);
        }
    }

    /**
     * Removes entries not touched within the retention period. Runs at most once per
     * {@link #PRUNE_INTERVAL}; never fails a delivery, and never removes an entry in use.
     *
     * @return how many entries were removed
     */
    @Override
    public int prune() {
        Instant now = clock.instant();
        try {
            Path stamp = dir.resolve(".pruned");
            if (!Files.isRegularFile(stamp, LinkOption.NOFOLLOW_LINKS)) {
                if (Files.exists(stamp, LinkOption.NOFOLLOW_LINKS)) {
                    deleteTree(stamp);
                }
                Files.createFile(
                        stamp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } else if (Duration.between(Files.getLastModifiedTime(stamp).toInstant(), now)
                            .compareTo(PRUNE_INTERVAL)
                    < 0) {
                return 0;
            }
            Files.setLastModifiedTime(stamp, FileTime.from(now));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        int removed = 0;
        Instant cutoff = now.minus(retention);
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "[0-9a-f]*")) {
            for (Path p : ds) {
                try {
                    BasicFileAttributes a =
                            Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    if (!a.lastModifiedTime().toInstant().isBefore(cutoff)) {
                        continue;
                    }
                    String name = p.getFileName().toString();
                    if (name.matches("[0-9a-f]{64}") && a.isRegularFile()) {
                        removed += removeEntry(p) ? 1 : 0;
                    } else if (name.contains(".damaged-") || !a.isRegularFile()) {
                        deleteTree(p);
                        removed++;
                    }
                } catch (IOException | RuntimeException e) {
                    // skip this one
                }
            }
        } catch (IOException | RuntimeException e) {
            // pruning is housekeeping
        }
        return removed;
    }

    /** Deletes an entry unless a delivery holds it: under its lock, after writing the tombstone. */
    private static boolean removeEntry(Path p) throws IOException {
        try (FileChannel ch = FileChannel.open(
                p, Set.of(StandardOpenOption.WRITE, StandardOpenOption.APPEND, LinkOption.NOFOLLOW_LINKS))) {
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                return false;
            }
            if (lock == null) {
                return false; // in use
            }
            ch.write(ByteBuffer.wrap(("\n" + TOMBSTONE + "\n").getBytes(StandardCharsets.US_ASCII)));
            ch.force(true);
            Files.deleteIfExists(p);
            return true;
        }
    }

    /** The records of an entry, or {@code null} if the file cannot be one of ours. */
    private record Contents(List<String> records, boolean tornTail) {}

    private static Contents read(FileChannel ch) throws IOException {
        long size = ch.size();
        if (size > MAX_ENTRY) {
            return null;
        }
        ByteBuffer buf = ByteBuffer.allocate((int) size);
        while (buf.hasRemaining()) {
            if (ch.read(buf, buf.position()) < 0) {
                break;
            }
        }
        int n = buf.position();
        boolean tornTail = n > 0 && buf.array()[n - 1] != '\n';
        String text = new String(buf.array(), 0, n, StandardCharsets.UTF_8);
        // a record is complete only with its line end: a torn last line is ignored
        text = text.substring(0, text.lastIndexOf('\n') + 1);
        List<String> records = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (!line.isEmpty() && line.chars().allMatch(c -> c >= 32 && c < 127)) {
                records.add(unescape(line));
            }
        }
        return new Contents(records, tornTail);
    }

    /** Whether nothing, or a regular file, is at {@code p} (not following a link). */
    private static boolean absentOrRegular(Path p) throws IOException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
                    .isRegularFile();
        } catch (NoSuchFileException e) {
            return true;
        }
    }

    private void setAsideOrFail(Path file, IOException cause) throws Failure {
        if (cause != null && isEnvironment(cause)) {
            throw failure("cannot use the state journal entry " + file, cause);
        }
        try {
            setAside(file);
        } catch (IOException e) {
            throw failure(
                    "cannot use the state journal entry " + file + (cause == null ? "" : " (" + reason(cause) + ")"),
                    e);
        }
    }

    /** Errors that are about the state directory, not the entry: setting the entry aside would not help. */
    private static boolean isEnvironment(IOException e) {
        IoErrors.Kind k = IoErrors.kind(e);
        return k == IoErrors.Kind.FULL || k == IoErrors.Kind.READ_ONLY;
    }

    /**
     * Renames a damaged entry (or directory) out of the way, keeping it for inspection for the
     * retention period. Another delivery may have done so a moment before: that is no error.
     */
    private void setAside(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Path aside = p.resolveSibling(p.getFileName() + ".damaged-" + clock.millis());
        for (int i = 1; Files.exists(aside, LinkOption.NOFOLLOW_LINKS); i++) {
            aside = p.resolveSibling(p.getFileName() + ".damaged-" + clock.millis() + "-" + i);
        }
        try {
            Files.move(p, aside, StandardCopyOption.ATOMIC_MOVE);
        } catch (NoSuchFileException raced) {
            return;
        }
        try {
            // only a file or a directory: the JDK opens what it sets times on, and opening a FIFO blocks
            BasicFileAttributes a = Files.readAttributes(aside, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (a.isRegularFile() || a.isDirectory()) {
                Files.setLastModifiedTime(aside, FileTime.from(clock.instant()));
            }
        } catch (IOException e) {
            // then it is pruned sooner
        }
    }

    private void touch(Path file) {
        try {
            Files.setLastModifiedTime(file, FileTime.from(clock.instant()));
        } catch (IOException e) {
            // its age only matters to pruning
        }
    }

    private static void deleteTree(Path p) throws IOException {
        // walkFileTree does not follow links: a link is deleted, never what it points to
        Files.walkFileTree(p, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(f);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                Files.deleteIfExists(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** The locked journal entry of one message. */
    public static final class Entry implements DeliveryJournal.Entry {
        private final Path file;
        private final FileChannel channel;
        private final FileLock lock;
        private final List<String> records;
        private boolean tornTail;

        Entry(Path file, FileChannel channel, FileLock lock, List<String> records, boolean tornTail) {
            this.file = file;
            this.channel = channel;
            this.lock = lock;
            this.records = new ArrayList<>(records);
            this.tornTail = tornTail;
        }

        @Override
        public String key() {
            return file.getFileName().toString();
        }

        @Override
        public boolean has(JournalRecord record) {
            return records.contains(record.line());
        }

        @Override
        public <R extends JournalRecord> Optional<R> last(Class<R> kind) {
            for (int i = records.size() - 1; i >= 0; i--) {
                Optional<JournalRecord> r = JournalRecord.parse(records.get(i));
                if (r.isPresent() && kind.isInstance(r.get())) {
                    return Optional.of(kind.cast(r.get()));
                }
            }
            return Optional.empty();
        }

        @Override
        public void record(JournalRecord record) throws Failure {
            record(record.line());
        }

        /** The lines of the entry, as written. */
        List<String> records() {
            return Collections.unmodifiableList(records);
        }

        /** Whether a line with exactly this text exists. */
        boolean has(String record) {
            return records.contains(record);
        }

        /** The value of the last line starting with {@code type + " "}, if any. */
        Optional<String> last(String type) {
            for (int i = records.size() - 1; i >= 0; i--) {
                String r = records.get(i);
                if (r.startsWith(type + " ")) {
                    return Optional.of(r.substring(type.length() + 1));
                }
            }
            return Optional.empty();
        }

        /**
         * Appends a record and makes it durable before returning. Bytes outside printable ASCII
         * (a path with non-ASCII letters) are written as {@code \xHH}, so every record is one
         * line of printable ASCII on disk; {@link #records()} gives them back as they were.
         */
        void record(String record) throws Failure {
            if (record.isEmpty() || record.equals(TOMBSTONE)) {
                throw new IllegalArgumentException("not a record: " + record);
            }
            // after a torn line, start on a line of its own; the NUL keeps the torn one invalid
            byte[] line = ((tornTail ? "\0\n" : "") + escape(record) + "\n").getBytes(StandardCharsets.US_ASCII);
            try {
                long pos = channel.size();
                ByteBuffer b = ByteBuffer.wrap(line);
                while (b.hasRemaining()) {
                    pos += channel.write(b, pos);
                }
                channel.force(true);
                tornTail = false;
                records.add(record);
            } catch (IOException e) {
                throw failure("cannot write state journal " + file, e);
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

    /** UTF-8 bytes outside printable ASCII, and the backslash, as {@code \xHH}. */
    static String escape(String record) {
        StringBuilder sb = new StringBuilder(record.length());
        for (byte b : record.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c < 32 || c >= 127 || c == '\\') {
                sb.append("\\x").append(HexFormat.of().toHexDigits((byte) c));
            } else {
                sb.append((char) c);
            }
        }
        return sb.toString();
    }

    static String unescape(String line) {
        if (line.indexOf('\\') < 0) {
            return line;
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(line.length());
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\\'
                    && i + 3 < line.length()
                    && line.charAt(i + 1) == 'x'
                    && HexFormat.isHexDigit(line.charAt(i + 2))
                    && HexFormat.isHexDigit(line.charAt(i + 3))) {
                out.write(HexFormat.fromHexDigits(line, i + 2, i + 4));
                i += 3;
            } else {
                out.write(c);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static void close(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to save
        }
    }

    private static Failure failure(String what, IOException e) {
        return IoErrors.temporary("4.3.0", what, e);
    }

    static String reason(IOException e) {
        return IoErrors.describe(e);
    }
}
