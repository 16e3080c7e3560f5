package org.cryptforward.delivery;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.cryptforward.core.Durability;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Limits;
import org.cryptforward.journal.DeliveryJournal;
import org.cryptforward.journal.JournalRecord;

/**
 * Maildir delivery as qmail defined it: the message is written under a unique name into
 * {@code tmp/}, fsynced, hard-linked into {@code new/} (a link never replaces an existing file),
 * and the directory is fsynced; only then is it delivered. A crash at any point leaves either
 * nothing in {@code new/} or the complete message there; a file left in {@code tmp/} is no
 * delivery, and is removed by the retry (its name is in the journal) or, after 36 hours, by any
 * later delivery, as qmail readers do.
 *
 * <p>Unique names: seconds, microseconds, pid, 64 random bits, a counter and the host name.
 * Missing {@code cur/ new/ tmp/} (and the Maildir itself) are created 0700; a symbolic link, or
 * something owned by another user, in place of any of them is refused. Files are created 0600
 * with {@code O_EXCL|O_NOFOLLOW}, so nothing planted in {@code tmp/} is ever written through.
 */
public final class Maildir implements LocalMailbox {
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    /** qmail's rule: a file in tmp/ untouched for 36 hours is a leftover. */
    private static final Duration TMP_LIFETIME = Duration.ofHours(36);

    private final Path root;
    private final String hostname;
    private final Clock clock;
    private final SecureRandom random;
    private final FileSink sink;

    public Maildir(Path root, String hostname, Clock clock, SecureRandom random) {
        this(root, hostname, clock, random, FileSink.DIRECT);
    }

    Maildir(Path root, String hostname, Clock clock, SecureRandom random, FileSink sink) {
        this.root = root.toAbsolutePath();
        this.hostname = hostname.replace("/", "\\057").replace(":", "\\072");
        this.clock = clock;
        this.random = random;
        this.sink = sink;
    }

    @Override
    public Path path() {
        return root;
    }

    /** Creates (or checks) the Maildir's folders. */
    public void prepare() throws Failure {
        FileSafety.directory(root);
        for (String sub : new String[] {"tmp", "new", "cur"}) {
            FileSafety.directory(root.resolve(sub));
        }
    }

    /** A name no other delivery uses: seconds, microseconds, pid, randomness, a counter, host. */
    public String uniqueName() {
        Instant now = clock.instant();
        byte[] r = new byte[8];
        random.nextBytes(r);
        return now.getEpochSecond() + ".M" + (now.getNano() / 1000) + "P"
                + ProcessHandle.current().pid() + "R" + HexFormat.of().formatHex(r) + "Q" + SEQUENCE.incrementAndGet()
                + "." + hostname;
    }

    @Override
    public Path store(MessageSource message, String envelopeSender) throws Failure {
        return storeAs(message, uniqueName());
    }

    /**
     * The unique name is recorded before the file is written. If a retry finds that name in new/
     * (or cur/), the copy was made; otherwise the leftover in tmp/ is removed and the message is
     * written again under a new name.
     */
    @Override
    public Path deliverOnce(MessageSource message, String envelopeSender, DeliveryJournal.Entry entry) throws Failure {
        Optional<JournalRecord.LocalCopy> done = entry.last(JournalRecord.LocalCopy.class);
        if (done.isPresent()) {
            return Path.of(done.get().location());
        }
        Optional<JournalRecord.MaildirIntent> intent = entry.last(JournalRecord.MaildirIntent.class);
        if (intent.isPresent()) {
            String earlier = intent.get().name();
            discardTemporary(earlier);
            if (contains(earlier)) {
                Path p = root.resolve("new").resolve(earlier);
                entry.record(new JournalRecord.LocalCopy(p.toString()));
                return p;
            }
        }
        String name = uniqueName();
        entry.record(new JournalRecord.MaildirIntent(name));
        Path p = storeAs(message, name);
        entry.record(new JournalRecord.LocalCopy(p.toString()));
        return p;
    }

    /** Stores under a given unique name (the caller may have recorded it beforehand). */
    public Path storeAs(MessageSource message, String name) throws Failure {
        if (name.isEmpty() || name.contains("/") || name.startsWith(".")) {
            throw new IllegalArgumentException("bad Maildir name");
        }
        prepare();
        sweepTemporary();
        Path tmp = root.resolve("tmp").resolve(name);
        Path dest = root.resolve("new").resolve(name);
        try {
            try (FileChannel ch = FileChannel.open(
                            tmp,
                            Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                            FileSafety.PRIVATE_FILE);
                    InputStream in = message.open()) {
                OutputStream out = new BufferedOutputStream(
                        sink.wrap(Channels.newOutputStream(ch)), Limits.DEFAULT.ioBufferBytes());
                in.transferTo(out);
                out.flush();
                ch.force(true);
            }
            try {
                Files.createLink(dest, tmp);
            } catch (FileAlreadyExistsException e) {
                throw Failure.temporary("4.3.0", "Maildir name collision in " + root.resolve("new"));
            } catch (UnsupportedOperationException | IOException e) {
                // no hard links here (some network file systems): fall back to rename
                if (Files.exists(dest, LinkOption.NOFOLLOW_LINKS)) {
                    throw Failure.temporary("4.3.0", "Maildir name collision in " + root.resolve("new"));
                }
                Files.move(tmp, dest, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            Durability.fsyncDirectory(root.resolve("new"));
            Files.deleteIfExists(tmp);
            return dest;
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw FileSafety.ioFailure("cannot write to Maildir " + root, e);
        } catch (RuntimeException e) {
            deleteQuietly(tmp);
            if (e.getCause() instanceof IOException io) {
                throw FileSafety.ioFailure("cannot write to Maildir " + root, io);
            }
            throw e;
        } catch (Failure e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    /** Whether a message stored under {@code name} is in the Maildir (in new/, or read, in cur/). */
    public boolean contains(String name) {
        if (Files.exists(root.resolve("new").resolve(name), LinkOption.NOFOLLOW_LINKS)) {
            return true;
        }
        // a reader moves it to cur/, adding ":2,FLAGS" (or, on some systems, "!2,FLAGS")
        try (DirectoryStream<Path> s = Files.newDirectoryStream(root.resolve("cur"), p -> {
            String n = p.getFileName().toString();
            return n.equals(name)
                    || (n.startsWith(name) && (n.charAt(name.length()) == ':' || n.charAt(name.length()) == '!'));
        })) {
            return s.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }

    /** Removes a leftover temporary file of an interrupted delivery. */
    public void discardTemporary(String name) {
        deleteQuietly(root.resolve("tmp").resolve(name));
    }

    /** Removes files left in tmp/ by deliveries interrupted more than 36 hours ago. */
    private void sweepTemporary() {
        Instant cutoff = clock.instant().minus(TMP_LIFETIME);
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root.resolve("tmp"))) {
            for (Path p : ds) {
                try {
                    BasicFileAttributes a =
                            Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    if (!a.isDirectory() && a.lastModifiedTime().toInstant().isBefore(cutoff)) {
                        Files.deleteIfExists(p);
                    }
                } catch (IOException e) {
                    // skip this one
                }
            }
        } catch (IOException | RuntimeException e) {
            // housekeeping only
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a leftover in tmp/ is not a delivery; readers ignore tmp/
        }
    }
}
