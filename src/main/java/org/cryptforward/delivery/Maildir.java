package org.cryptforward.delivery;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.cryptforward.Failure;

/**
 * Maildir delivery as qmail defined it: the message is written under a unique name into
 * {@code tmp/}, fsynced, hard-linked into {@code new/} (a link never replaces an existing file),
 * and the directory is fsynced; only then is it delivered. Missing {@code cur/ new/ tmp/} are
 * created 0700; files are created 0600 and never through a symlink.
 */
public final class Maildir implements LocalMailbox {
    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    private final Path root;
    private final String hostname;
    private final Clock clock;
    private final SecureRandom random;

    public Maildir(Path root, String hostname, Clock clock, SecureRandom random) {
        this.root = root;
        this.hostname = hostname.replace("/", "\\057").replace(":", "\\072");
        this.clock = clock;
        this.random = random;
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
        return now.getEpochSecond() + ".M" + (now.getNano() / 1000) + "P" + ProcessHandle.current().pid() + "R"
                + HexFormat.of().formatHex(r) + "Q" + SEQUENCE.incrementAndGet() + "." + hostname;
    }

    @Override
    public Path store(InputStream message, String envelopeSender) throws Failure {
        return storeAs(message, uniqueName());
    }

    /** Stores under a given unique name (the caller may have recorded it beforehand). */
    public Path storeAs(InputStream message, String name) throws Failure {
        prepare();
        Path tmp = root.resolve("tmp").resolve(name);
        Path dest = root.resolve("new").resolve(name);
        try {
            try (FileChannel ch = FileChannel.open(tmp,
                            Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                    OutputStream out = Channels.newOutputStream(ch)) {
                message.transferTo(out);
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
            FileSafety.fsyncDirectory(root.resolve("new"));
            Files.deleteIfExists(tmp);
            return dest;
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw FileSafety.ioFailure("cannot write to Maildir " + root, e);
        } catch (Failure | RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    /** Whether a message stored under {@code name} is in the Maildir (in new/, or read, in cur/). */
    public boolean contains(String name) {
        if (Files.exists(root.resolve("new").resolve(name), LinkOption.NOFOLLOW_LINKS)) {
            return true;
        }
        try (var s = Files.newDirectoryStream(root.resolve("cur"), name + "*")) {
            return s.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }

    /** Removes a leftover temporary file of an interrupted delivery. */
    public void discardTemporary(String name) {
        deleteQuietly(root.resolve("tmp").resolve(name));
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a leftover in tmp/ is not a delivery; readers ignore tmp/
        }
    }
}
