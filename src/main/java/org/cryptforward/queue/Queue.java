package org.cryptforward.queue;

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
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.cryptforward.core.Failure;
import org.cryptforward.message.OutboundMessage;

/**
 * The queue of encrypted forwards that the relay has not accepted yet, in {@code STATE/queue/}.
 *
 * <p>An entry is a directory named by its queue ID, holding {@code message} (the forward exactly
 * as it will be sent: already encrypted, so the queue never holds plaintext), {@code meta} (see
 * {@link QueueEntry}), {@code done} (one line per recipient the relay accepted, appended and
 * fsynced after each 250) and {@code lock}. An entry is built in {@code tmp/ID/} — every file
 * written 0600 and fsynced, then the directory — and becomes an entry by one atomic rename into
 * {@code queue/}, so a process killed at any point leaves either a whole entry or none (only a
 * leftover in {@code tmp/}, which holds ciphertext and is removed by the next run that finds its
 * builder gone). The metadata is replaced the same way: written beside, fsynced, renamed over.
 *
 * <p>One process at a time works on an entry: it holds an fcntl lock on the entry's {@code lock}
 * file (a file nothing else opens, since closing any descriptor of a file drops a process's fcntl
 * locks on it), and within a process a table of held entries keeps two threads apart. A finished
 * entry is renamed out of {@code queue/} before it is deleted, so a half-deleted entry is never
 * seen as one. An entry the queue gave up on (its lifetime ended, or the relay refused it for
 * good) is moved to {@code aside/}, where it stays until {@code queue remove}.
 */
public final class Queue {
    static final FileAttribute<Set<PosixFilePermission>> PRIVATE_DIR =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    static final FileAttribute<Set<PosixFilePermission>> PRIVATE_FILE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));
    /** A leftover in tmp/ without a lock file is removed once it is this old (its builder stopped before locking). */
    static final Duration UNLOCKED_LEFTOVER = Duration.ofMinutes(10);
    /** Lock files held by this process (see the class comment). */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    private final Path dir;
    private final Path tmp;
    private final Path aside;
    private final Clock clock;
    private final SecureRandom random;

    public Queue(Path stateDir, Clock clock, SecureRandom random) {
        this.dir = stateDir.resolve("queue");
        this.tmp = dir.resolve("tmp");
        this.aside = dir.resolve("aside");
        this.clock = clock;
        this.random = random;
    }

    public Path dir() {
        return dir;
    }

    /** What a new entry says about itself; the queue adds ID, time, size and the schedule. */
    public record Draft(String sender, List<String> recipients, String messageId, String rule) {}

    /**
     * Writes {@code message} (whose bytes are made — encrypted — while they are written) into a new
     * entry and returns it once it is durable. Its first attempt is due at once.
     */
    public QueueEntry add(OutboundMessage message, Draft draft) throws Failure {
        prepare();
        String id = null;
        Path building = null;
        for (int i = 0; i < 100 && building == null; i++) {
            id = newId();
            try {
                building = Files.createDirectory(tmp.resolve(id), PRIVATE_DIR);
                if (Files.exists(dir.resolve(id), LinkOption.NOFOLLOW_LINKS)
                        || Files.exists(aside.resolve(id), LinkOption.NOFOLLOW_LINKS)) {
                    Files.delete(building);
                    building = null;
                }
            } catch (FileAlreadyExistsException taken) {
                building = null;
            } catch (IOException e) {
                throw failure("cannot create a queue entry in " + tmp, e);
            }
        }
        if (building == null) {
            throw Failure.temporary("4.3.0", "cannot find a free queue ID in " + dir);
        }
        Path lockFile = building.resolve("lock");
        Lock lock = null;
        boolean moved = false;
        try {
            lock = Lock.acquire(lockFile, true).orElseThrow(() -> new IOException("lock held by another process"));
            Path msg = building.resolve("message");
            try (FileChannel ch = FileChannel.open(
                    msg,
                    Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    PRIVATE_FILE)) {
                OutputStream out = new BufferedOutputStream(
                        Channels.newOutputStream(ch), org.cryptforward.core.Limits.DEFAULT.ioBufferBytes());
                message.writeTo(out);
                out.flush();
                ch.force(true);
            }
            long size = Files.size(msg);
            Instant now = clock.instant();
            QueueEntry entry = new QueueEntry(
                    id,
                    dir.resolve(id),
                    now,
                    draft.sender(),
                    draft.recipients(),
                    size,
                    draft.messageId(),
                    message.messageId(),
                    draft.rule(),
                    0,
                    now,
                    "",
                    Set.of());
            writeFile(building.resolve("meta"), entry.format(), false);
            fsync(building);
            Files.move(building, dir.resolve(id), StandardCopyOption.ATOMIC_MOVE);
            moved = true;
            fsync(dir);
            fsync(tmp);
            return entry;
        } catch (IOException | RuntimeException e) {
            if (!moved) {
                deleteQuietly(building);
            }
            if (e instanceof IOException io) {
                throw failure("cannot write queue entry " + id + " in " + dir, io);
            }
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw failure("cannot write queue entry " + id + " in " + dir, io);
            }
            throw (RuntimeException) e;
        } finally {
            if (lock != null) {
                lock.release();
            }
        }
    }

    /** The entries waiting for the relay, oldest first (damaged directories are skipped). */
    public List<QueueEntry> entries() throws Failure {
        return read(dir);
    }

    /** The entries the queue gave up on, oldest first. */
    public List<QueueEntry> aside() throws Failure {
        return read(aside);
    }

    /** Directories in queue/ that are not readable entries. */
    public List<Path> damaged() {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                if (isIdName(p) && load(p).isEmpty()) {
                    out.add(p);
                }
            }
        } catch (IOException e) {
            // reported by entries()
        }
        return out;
    }

    private List<QueueEntry> read(Path where) throws Failure {
        List<QueueEntry> out = new ArrayList<>();
        if (!Files.isDirectory(where, LinkOption.NOFOLLOW_LINKS)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(where)) {
            for (Path p : ds) {
                if (isIdName(p)) {
                    load(p).ifPresent(out::add);
                }
            }
        } catch (IOException e) {
            throw failure("cannot read the queue " + where, e);
        }
        out.sort(Comparator.comparing(QueueEntry::created).thenComparing(QueueEntry::id));
        return out;
    }

    private static boolean isIdName(Path p) {
        return p.getFileName().toString().matches("[0-9A-F]{10,32}") && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS);
    }

    /** The entry in {@code entryDir}, if it is a readable one. */
    static Optional<QueueEntry> load(Path entryDir) {
        try {
            byte[] meta = Files.readAllBytes(entryDir.resolve("meta"));
            Set<String> done = new LinkedHashSet<>();
            Path doneFile = entryDir.resolve("done");
            if (Files.exists(doneFile, LinkOption.NOFOLLOW_LINKS)) {
                String text = Files.readString(doneFile, StandardCharsets.US_ASCII);
                // a record counts only with its line end: a torn last line is no record
                text = text.substring(0, text.lastIndexOf('\n') + 1);
                for (String line : text.split("\n")) {
                    if (line.startsWith("sent ")) {
                        done.add(line.substring(5));
                    }
                }
            }
            return QueueEntry.parse(entryDir, meta, done);
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Finds an entry (waiting or set aside) by its ID, case-insensitively. */
    public Optional<QueueEntry> find(String id) throws Failure {
        String want = id.strip().toUpperCase(Locale.ROOT);
        if (!want.matches("[0-9A-F]{10,32}")) {
            return Optional.empty();
        }
        for (Path where : List.of(dir, aside)) {
            Path p = where.resolve(want);
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                return load(p);
            }
        }
        return Optional.empty();
    }

    /** Takes the entry's lock without waiting; empty when another runner has it (or it is gone). */
    public Optional<Held> hold(QueueEntry entry) throws Failure {
        Path lockFile = entry.dir().resolve("lock");
        Optional<Lock> lock;
        try {
            lock = Lock.acquire(lockFile, false);
        } catch (NoSuchFileException gone) {
            return Optional.empty();
        } catch (IOException e) {
            throw failure("cannot lock queue entry " + entry.id(), e);
        }
        if (lock.isEmpty()) {
            return Optional.empty();
        }
        // re-read under the lock: another runner may have finished or changed it meanwhile
        Optional<QueueEntry> current = load(entry.dir());
        if (current.isEmpty()) {
            lock.get().release();
            return Optional.empty();
        }
        return Optional.of(new Held(current.get(), lock.get()));
    }

    /** An entry this process holds the lock of. */
    public final class Held implements AutoCloseable {
        private QueueEntry entry;
        private final Lock lock;

        Held(QueueEntry entry, Lock lock) {
            this.entry = entry;
            this.lock = lock;
        }

        public QueueEntry entry() {
            return entry;
        }

        /** The encrypted message, as it is sent. */
        public InputStream openMessage() throws IOException {
            return Files.newInputStream(entry.dir().resolve("message"), LinkOption.NOFOLLOW_LINKS);
        }

        /** Records that the relay accepted the message for {@code recipient}; durable when this returns. */
        public void recordDone(String recipient) throws Failure {
            Path done = entry.dir().resolve("done");
            try (FileChannel ch = FileChannel.open(
                    done,
                    Set.of(
                            StandardOpenOption.CREATE,
                            StandardOpenOption.WRITE,
                            StandardOpenOption.APPEND,
                            LinkOption.NOFOLLOW_LINKS),
                    PRIVATE_FILE)) {
                ByteBuffer b = ByteBuffer.wrap(
                        ("sent " + QueueEntry.clean(recipient) + "\n").getBytes(StandardCharsets.US_ASCII));
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
            } catch (IOException e) {
                throw failure("cannot record the delivery of queue entry " + entry.id(), e);
            }
            Set<String> accepted = new LinkedHashSet<>(entry.done());
            accepted.add(recipient);
            entry = entry.withDone(accepted);
        }

        /** Records a failed attempt: its error, and when to try again. */
        public void recordAttempt(Instant nextTry, String error) throws Failure {
            QueueEntry updated = entry.withAttempt(nextTry, error);
            try {
                writeFile(entry.dir().resolve("meta"), updated.format(), true);
            } catch (IOException e) {
                throw failure("cannot update queue entry " + entry.id(), e);
            }
            entry = updated;
        }

        /** Removes the entry: first out of the queue (one rename), then from the disk. */
        public void delete() throws Failure {
            Path gone = tmp.resolve(entry.id() + ".gone");
            try {
                prepare();
                deleteQuietly(gone);
                Files.move(entry.dir(), gone, StandardCopyOption.ATOMIC_MOVE);
                fsync(entry.dir().getParent());
            } catch (IOException e) {
                throw failure("cannot remove queue entry " + entry.id(), e);
            }
            deleteQuietly(gone);
        }

        /** Moves the entry to aside/, where it stays until removed by hand. */
        public void setAside() throws Failure {
            try {
                Files.createDirectories(aside, PRIVATE_DIR);
                Path to = aside.resolve(entry.id());
                Files.move(entry.dir(), to, StandardCopyOption.ATOMIC_MOVE);
                fsync(dir);
                fsync(aside);
                entry = entry.in(to);
            } catch (IOException e) {
                throw failure("cannot set queue entry " + entry.id() + " aside", e);
            }
        }

        @Override
        public void close() {
            lock.release();
        }
    }

    /**
     * Removes leftovers in tmp/ whose builder is gone: a process killed while it wrote an entry
     * (it held the leftover's lock until then), or while it deleted one.
     *
     * @return how many were removed
     */
    public int cleanLeftovers() {
        int removed = 0;
        if (!Files.isDirectory(tmp, LinkOption.NOFOLLOW_LINKS)) {
            return 0;
        }
        Instant now = clock.instant();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(tmp)) {
            for (Path p : ds) {
                try {
                    Path lockFile = p.resolve("lock");
                    if (Files.exists(lockFile, LinkOption.NOFOLLOW_LINKS)) {
                        Optional<Lock> l = Lock.acquire(lockFile, false);
                        if (l.isEmpty()) {
                            continue; // its builder is at work
                        }
                        try {
                            deleteTree(p);
                        } finally {
                            l.get().release();
                        }
                        removed++;
                    } else {
                        BasicFileAttributes a =
                                Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                        if (a.lastModifiedTime()
                                .toInstant()
                                .plus(UNLOCKED_LEFTOVER)
                                .isBefore(now)) {
                            deleteTree(p);
                            removed++;
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    // the next run tries again
                }
            }
        } catch (IOException | RuntimeException e) {
            // housekeeping only
        }
        return removed;
    }

    /** Creates queue/ and tmp/ (0700) when missing. */
    void prepare() throws Failure {
        try {
            if (!Files.isDirectory(dir.getParent())) {
                throw Failure.temporary("4.3.5", "state_dir " + dir.getParent() + " does not exist");
            }
            for (Path d : List.of(dir, tmp)) {
                if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
                    try {
                        Files.createDirectory(d, PRIVATE_DIR);
                    } catch (FileAlreadyExistsException raced) {
                        if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
                            throw raced;
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw failure("cannot create the queue " + dir, e);
        }
    }

    private String newId() {
        byte[] r = new byte[3];
        random.nextBytes(r);
        return String.format(Locale.ROOT, "%08X", clock.instant().getEpochSecond() & 0xFFFFFFFFL)
                + HexFormat.of().withUpperCase().formatHex(r);
    }

    /** Writes a small file 0600 and fsyncs it; with {@code replace}, beside the old one and renamed over it. */
    static void writeFile(Path file, byte[] bytes, boolean replace) throws IOException {
        Path target = replace ? file.resolveSibling(file.getFileName() + ".new") : file;
        if (replace) {
            Files.deleteIfExists(target);
        }
        try (FileChannel ch = FileChannel.open(
                target,
                Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                PRIVATE_FILE)) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        if (replace) {
            Files.move(target, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            fsync(file.getParent());
        }
    }

    static void fsync(Path directory) throws IOException {
        try (FileChannel ch = FileChannel.open(directory, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            deleteTree(p);
        } catch (IOException | RuntimeException e) {
            // a leftover for cleanLeftovers
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
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

    static Failure failure(String what, IOException e) {
        String r = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (e instanceof java.nio.file.AccessDeniedException) {
            r = "permission denied";
        } else if (e instanceof NoSuchFileException) {
            r = "no such file or directory";
        } else if (e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) {
            r = fse.getReason();
        }
        return Failure.temporary(
                r.contains("No space left") || r.contains("quota") ? "4.3.1" : "4.3.0", what + ": " + r, e);
    }

    /** An fcntl lock on a lock file, with the in-process table that keeps a second channel off it. */
    static final class Lock {
        private final Path key;
        private final FileChannel channel;
        private final FileLock lock;

        private Lock(Path key, FileChannel channel, FileLock lock) {
            this.key = key;
            this.channel = channel;
            this.lock = lock;
        }

        /** The lock, or empty when someone holds it; {@code create} makes the file (0600) if missing. */
        static Optional<Lock> acquire(Path file, boolean create) throws IOException {
            Path key = file.toAbsolutePath().normalize();
            if (!HELD.add(key)) {
                return Optional.empty();
            }
            FileChannel ch = null;
            try {
                ch = create
                        ? FileChannel.open(
                                file,
                                Set.of(
                                        StandardOpenOption.CREATE_NEW,
                                        StandardOpenOption.WRITE,
                                        LinkOption.NOFOLLOW_LINKS),
                                PRIVATE_FILE)
                        : FileChannel.open(file, Set.of(StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS));
                FileLock l;
                try {
                    l = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    l = null;
                }
                if (l == null) {
                    ch.close();
                    HELD.remove(key);
                    return Optional.empty();
                }
                return Optional.of(new Lock(key, ch, l));
            } catch (IOException | RuntimeException e) {
                if (ch != null) {
                    try {
                        ch.close();
                    } catch (IOException ignored) {
                        // nothing to save
                    }
                }
                HELD.remove(key);
                throw e;
            }
        }

        void release() {
            try {
                lock.release();
            } catch (IOException | RuntimeException ignored) {
                // closing the channel releases it
            }
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing to save
            }
            HELD.remove(key);
        }
    }
}
