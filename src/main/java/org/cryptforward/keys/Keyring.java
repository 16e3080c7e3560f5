package org.cryptforward.keys;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.bouncycastle.bcpg.PacketFormat;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.cryptforward.core.Durability;
import org.cryptforward.core.IoErrors;
import org.cryptforward.core.Limits;

/**
 * The public keys cryptforward encrypts to: a directory with one ASCII-armored certificate per
 * file, named {@code FINGERPRINT.asc}, readable by any OpenPGP tool. No GnuPG home, no agent, no
 * secret key ever.
 *
 * <p>On disk: the directory is created {@code 0755}, files are {@code 0644} whatever the umask.
 * Writers take an exclusive lock on {@code .lock} in the directory (so two imports cannot lose
 * each other's merges); readers need none, because every file is replaced atomically: written
 * aside, fsynced, renamed, and the directory fsynced. A set of files is stored all or none: if a
 * rename fails, the files already renamed are put back as they were.
 *
 * <p>A file that cannot be parsed does not hide the others: lookups skip it and report it. Files
 * are read without following links, only when regular, with a size bound, and a file's content
 * must be the key its name says ({@link #read}). Writers also keep an index of the addresses in the
 * keys ({@link KeyringIndex}) so that a lookup by address reads only the keys that can match.
 */
public final class Keyring {
    public static final String SUFFIX = ".asc";
    static final String LOCK = ".lock";
    /** The largest keyring file read: a key within {@link KeyReader}'s bounds is far smaller. */
    public static final int MAX_FILE_BYTES = Limits.DEFAULT.keyFileBytes();

    private static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-r--r--");
    private static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwxr-xr-x");

    private final Path dir;

    public Keyring(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    /** A stored certificate and the file it came from. */
    public record Entry(Path file, OpenPGPCertificate certificate) {
        public String fingerprint() {
            return KeyIds.fingerprint(certificate);
        }

        /** The fingerprint and the first user ID, for messages. */
        public String label() {
            String uid = KeyIds.firstUserId(certificate);
            return fingerprint() + (uid == null ? "" : " (" + KeyDescription.displayable(uid) + ")");
        }
    }

    /**
     * What the keyring holds.
     *
     * @param entries the readable certificates, in file name order
     * @param problems one line for each file that cannot be used
     * @param ioTrouble whether a file could not be read (as opposed to read but not understood)
     */
    public record Listing(List<Entry> entries, List<String> problems, boolean ioTrouble) {
        public Listing {
            entries = List.copyOf(entries);
            problems = List.copyOf(problems);
        }
    }

    /** Every certificate in the keyring; files that cannot be used are listed, not fatal. */
    public Listing list() throws KeyringException {
        return read(names());
    }

    /** The names of the keyring's {@code *.asc} entries, sorted; none when the keyring does not exist. */
    List<String> names() throws KeyringException {
        List<String> names = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw new KeyringException(KeyringException.Kind.IO, "keyring " + dir + " is not a directory");
            }
            return names;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            ds.forEach(p -> names.add(p.getFileName().toString()));
        } catch (IOException e) {
            throw new KeyringException(KeyringException.Kind.IO, "cannot read keyring " + dir + ": " + describe(e), e);
        }
        names.sort(Comparator.naturalOrder());
        return names;
    }

    /** The named files, read; the ones that cannot be used are listed as problems. */
    private Listing read(List<String> names) {
        List<Entry> entries = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        boolean io = false;
        for (String n : names) {
            Path f = dir.resolve(n);
            try {
                entries.add(new Entry(f, read(f)));
            } catch (KeyringException e) {
                problems.add(e.getMessage());
                io |= e.kind() == KeyringException.Kind.IO;
            }
        }
        return new Listing(entries, problems, io);
    }

    /**
     * Reads one stored certificate, safely: the file must be a regular file (no symbolic link is
     * followed, a FIFO or device is never opened), at most {@link Limits#keyFileBytes()} bytes, hold
     * exactly one public key, and that key must be the one the file's name says — a copy or a
     * rename of another key's file is refused, so that a rule pinned to a fingerprint gets that key.
     * What it holds is read as an import reads it ({@link KeyReader}): only verified self-signatures.
     */
    public static OpenPGPCertificate read(Path file) throws KeyringException {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            throw new KeyringException(
                    KeyringException.Kind.IO, "keyring file " + file + " cannot be read: " + describe(e), e);
        }
        if (attrs.isSymbolicLink()) {
            throw new KeyringException(
                    KeyringException.Kind.CORRUPT,
                    "keyring file " + file
                            + " is a symbolic link, which cryptforward does not follow; put the key itself there (cryptforward key import)");
        }
        if (!attrs.isRegularFile()) {
            throw new KeyringException(
                    KeyringException.Kind.CORRUPT, "keyring file " + file + " is not a regular file; remove it");
        }
        if (attrs.size() > MAX_FILE_BYTES) {
            throw new KeyringException(
                    KeyringException.Kind.CORRUPT,
                    "keyring file " + file + " is larger than " + (MAX_FILE_BYTES >> 20)
                            + " MB, which no key within cryptforward's limits is; remove it");
        }
        KeyReader.Result result;
        try (InputStream in =
                Channels.newInputStream(FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            result = KeyReader.read(in, MAX_FILE_BYTES);
        } catch (KeyReader.TooLarge e) {
            throw new KeyringException(
                    KeyringException.Kind.CORRUPT,
                    "keyring file " + file + " is larger than " + (MAX_FILE_BYTES >> 20)
                            + " MB, which no key within cryptforward's limits is; remove it");
        } catch (KeyReader.Refusal e) {
            String m = e.getMessage();
            if (m.startsWith("holds a secret key")) {
                throw new KeyringException(
                        KeyringException.Kind.CORRUPT, "keyring file " + file + " holds a secret key; remove it");
            }
            if (m.startsWith("is empty")) {
                throw new KeyringException(
                        KeyringException.Kind.CORRUPT, "keyring file " + file + " holds no certificate");
            }
            if (e.keyLevel) {
                throw new KeyringException(KeyringException.Kind.CORRUPT, "keyring file " + file + ": " + m, e);
            }
            throw new KeyringException(
                    KeyringException.Kind.CORRUPT,
                    "keyring file " + file + " is not an OpenPGP certificate: "
                            + m.replaceFirst("^is not an OpenPGP public key ", ""),
                    e);
        } catch (FileSystemException e) {
            throw new KeyringException(
                    KeyringException.Kind.IO, "keyring file " + file + " cannot be read: " + describe(e), e);
        } catch (IOException | RuntimeException e) {
            throw new KeyringException(
                    KeyringException.Kind.CORRUPT,
                    "keyring file " + file + " is not an OpenPGP certificate: " + describe(e),
                    e);
        }
        if (result.keys().isEmpty()) {
            throw new KeyringException(KeyringException.Kind.CORRUPT, "keyring file " + file + " holds no certificate");
        }
        if (result.keys().size() > 1 || !result.signatures().isEmpty()) {
            throw new KeyringException(
                    KeyringException.Kind.CORRUPT,
                    "keyring file " + file + " holds more than one key; remove it and"
                            + " import each key with cryptforward key import");
        }
        OpenPGPCertificate cert = new OpenPGPCertificate(result.keys().get(0).ring(), Verdicts.IMPLEMENTATION);
        String fpr = KeyIds.fingerprint(cert);
        String name = file.getFileName().toString();
        if (!name.equals(fpr + SUFFIX)) {
            throw new KeyringException(
                    KeyringException.Kind.CORRUPT,
                    "keyring file " + file + " holds key " + fpr
                            + ", not the key its name says; remove it (and import that key with cryptforward key import)");
        }
        return cert;
    }

    /** The one certificate {@code id} names now; see {@link #find(String, Date)}. */
    public Entry find(String id) throws KeyringException {
        return find(id, new Date());
    }

    /**
     * The one certificate {@code id} names at {@code now}: a fingerprint, a unique suffix of 16 or
     * more hex digits, or an e-mail address in a user ID bound at that time.
     *
     * <p>A lookup reads only the files that can match: a fingerprint or suffix is matched against
     * the file names (which {@link #read} checks against the content), an address through the
     * index that writers keep ({@link KeyringIndex}), when it is current; otherwise every file is
     * read.
     */
    public Entry find(String id, Date now) throws KeyringException {
        String hex = KeyIds.normalizeHex(id);
        if (hex == null && !KeyIds.isEmail(id)) {
            throw new KeyringException(
                    KeyringException.Kind.INVALID_ID,
                    "\"" + id
                            + "\" is neither a fingerprint (or a suffix of 16 or more hex digits) nor an e-mail address");
        }
        Listing listing;
        if (hex != null) {
            listing =
                    read(names().stream().filter(n -> n.endsWith(hex + SUFFIX)).toList());
        } else {
            Optional<List<String>> candidates = KeyringIndex.candidates(dir, KeyIds.address(id));
            listing = candidates.isPresent() ? read(candidates.get()) : list();
            if (candidates.isPresent()
                    && listing.entries().stream().noneMatch(e -> KeyIds.matches(e.certificate(), id, now))) {
                listing = list(); // the index only narrows the search: when it finds nothing, every file is read
            }
        }
        List<Entry> hits = listing.entries().stream()
                .filter(e -> KeyIds.matches(e.certificate(), id, now))
                .collect(Collectors.toList());
        if (hits.isEmpty()) {
            String also = listing.problems().isEmpty() ? "" : "; " + String.join("; ", listing.problems());
            throw new KeyringException(
                    listing.ioTrouble() ? KeyringException.Kind.IO : KeyringException.Kind.NOT_FOUND,
                    "no key for " + id + " in " + dir + also);
        }
        if (hits.size() > 1) {
            throw new KeyringException(
                    KeyringException.Kind.AMBIGUOUS,
                    id + " is ambiguous: it names " + hits.size() + " keys: "
                            + hits.stream().map(Entry::label).collect(Collectors.joining(", "))
                            + "; name one by its fingerprint");
        }
        return hits.get(0);
    }

    /**
     * An exclusive lock for writers (import, remove); creates the keyring directory if needed. The
     * lock file is opened like every other file: no symbolic link is followed (a link planted at
     * {@code .lock} is refused, neither created through nor changed), and it must be a regular file
     * owned by this user.
     */
    public Lock lock() throws KeyringException {
        ensureDirectory();
        Path lockFile = dir.resolve(LOCK);
        try {
            checkLockFile(lockFile);
            FileChannel ch;
            try {
                ch = FileChannel.open(
                        lockFile,
                        Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                        PosixFilePermissions.asFileAttribute(FILE_MODE));
            } catch (FileSystemException e) {
                if (Files.isSymbolicLink(lockFile)) {
                    throw new KeyringException(
                            KeyringException.Kind.IO,
                            "cannot lock keyring " + dir + ": " + lockFile
                                    + " is a symbolic link, which cryptforward does not follow; remove it");
                }
                throw e;
            }
            try {
                checkLockFile(lockFile);
                if ((Integer) Files.getAttribute(lockFile, "unix:uid", LinkOption.NOFOLLOW_LINKS) == uid()) {
                    setModeNoFollow(lockFile, FILE_MODE); // the keyring owner's lock is left as it is
                }
                return new Lock(ch, ch.lock());
            } catch (IOException | RuntimeException | KeyringException e) {
                ch.close();
                throw e;
            }
        } catch (IOException e) {
            throw new KeyringException(KeyringException.Kind.IO, "cannot lock keyring " + dir + ": " + describe(e), e);
        }
    }

    /**
     * A lock file that exists must be a regular file with one link, owned by this user or by the
     * keyring directory's owner (root importing into the service user's keyring shares its lock),
     * checked without following a link.
     */
    private void checkLockFile(Path lockFile) throws KeyringException, IOException {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(lockFile, "unix:mode,uid,nlink", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            return; // not a Unix file system: nothing more to check
        }
        int type = (Integer) a.get("mode") & 0170000;
        if (type == 0120000) {
            throw new KeyringException(
                    KeyringException.Kind.IO,
                    "cannot lock keyring " + dir + ": " + lockFile
                            + " is a symbolic link, which cryptforward does not follow; remove it");
        }
        if (type != 0100000) {
            throw new KeyringException(
                    KeyringException.Kind.IO,
                    "cannot lock keyring " + dir + ": " + lockFile + " is not a regular file; remove it");
        }
        if ((Integer) a.get("nlink") != 1) {
            throw new KeyringException(
                    KeyringException.Kind.IO,
                    "cannot lock keyring " + dir + ": " + lockFile + " has other names (a hard link); remove it");
        }
        int uid = uid();
        int owner = (Integer) a.get("uid");
        int dirOwner = (Integer) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        if (uid >= 0 && owner != uid && owner != dirOwner) {
            throw new KeyringException(
                    KeyringException.Kind.IO,
                    "cannot lock keyring " + dir + ": " + lockFile + " is owned by uid " + owner
                            + ", neither this user (uid " + uid + ") nor the keyring's owner; remove it");
        }
    }

    /** The effective user id of this process, or -1 where it cannot be told. */
    static int uid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Changes a file's mode without following a link (the JDK opens it with O_NOFOLLOW and uses fchmod). */
    private static void setModeNoFollow(Path p, Set<PosixFilePermission> mode) throws IOException {
        PosixFileAttributeView view =
                Files.getFileAttributeView(p, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        if (view != null) {
            view.setPermissions(mode);
        }
    }

    /** Held while the keyring is written. */
    public static final class Lock implements AutoCloseable {
        private final FileChannel channel;
        private final FileLock lock;

        Lock(FileChannel channel, FileLock lock) {
            this.channel = channel;
            this.lock = lock;
        }

        @Override
        public void close() throws KeyringException {
            try {
                lock.release();
                channel.close();
            } catch (IOException e) {
                throw new KeyringException(KeyringException.Kind.IO, "cannot unlock the keyring: " + describe(e), e);
            }
        }
    }

    /**
     * Stores (or replaces) certificates, all or none; returns their files. Call it holding
     * {@link #lock()}. Each file is written aside and fsynced before any is renamed into place.
     */
    public List<Path> storeAll(List<OpenPGPCertificate> certs) throws KeyringException {
        ensureDirectory();
        Map<Path, Path> staged = new LinkedHashMap<>();
        Map<Path, byte[]> previous = new LinkedHashMap<>();
        List<Path> renamed = new ArrayList<>();
        try {
            for (OpenPGPCertificate cert : certs) {
                if (cert.isSecretKey()) {
                    throw new KeyringException(KeyringException.Kind.CORRUPT, "refusing to store a secret key");
                }
                Path target = dir.resolve(KeyIds.fingerprint(cert) + SUFFIX);
                staged.put(target, writeAside(armor(cert)));
            }
            for (Path target : staged.keySet()) {
                previous.put(
                        target,
                        Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS) && Files.size(target) <= MAX_FILE_BYTES
                                ? Files.readAllBytes(target)
                                : null);
            }
            for (Map.Entry<Path, Path> e : staged.entrySet()) {
                rename(e.getValue(), e.getKey());
                renamed.add(e.getKey());
            }
            Durability.fsyncDirectory(dir);
            KeyringIndex.rebuild(this);
            return new ArrayList<>(staged.keySet());
        } catch (IOException e) {
            putBack(renamed, previous);
            throw new KeyringException(
                    KeyringException.Kind.IO, "cannot write to keyring " + dir + ": " + describe(e), e);
        } finally {
            for (Path tmp : staged.values()) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the temporary file holds only a public key
                }
            }
        }
    }

    /** Undoes renames after a failure: each file as it was before, or gone if it was not there. */
    private void putBack(List<Path> renamed, Map<Path, byte[]> previous) {
        for (Path target : renamed) {
            try {
                byte[] old = previous.get(target);
                if (old == null) {
                    Files.deleteIfExists(target);
                } else {
                    Path tmp = writeAside(old);
                    try {
                        rename(tmp, target);
                    } finally {
                        Files.deleteIfExists(tmp);
                    }
                }
            } catch (IOException ignored) {
                // the keyring was writable a moment ago; nothing better can be done here
            }
        }
        try {
            Durability.fsyncDirectory(dir);
        } catch (IOException ignored) {
            // as above
        }
    }

    Path writeAside(byte[] bytes) throws IOException {
        Path tmp = Files.createTempFile(dir, ".import-", ".tmp");
        setMode(tmp, FILE_MODE);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        return tmp;
    }

    static void rename(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Removes a stored certificate. Call it holding {@link #lock()}. */
    public void remove(Entry entry) throws KeyringException {
        try {
            Files.delete(entry.file());
            Durability.fsyncDirectory(dir);
            KeyringIndex.rebuild(this);
        } catch (NoSuchFileException e) {
            // already gone
        } catch (IOException e) {
            throw new KeyringException(
                    KeyringException.Kind.IO, "cannot remove " + entry.file() + ": " + describe(e), e);
        }
    }

    private void ensureDirectory() throws KeyringException {
        if (Files.isDirectory(dir)) {
            return;
        }
        try {
            Files.createDirectories(dir);
            setMode(dir, DIR_MODE);
        } catch (IOException e) {
            throw new KeyringException(
                    KeyringException.Kind.IO, "cannot create keyring " + dir + ": " + describe(e), e);
        }
    }

    private static void setMode(Path p, Set<PosixFilePermission> mode) throws IOException {
        try {
            Files.setPosixFilePermissions(p, mode);
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: nothing to set
        }
    }

    /**
     * The certificate as ASCII armor, as {@code gpg --import} reads it: with the CRC-24 line GnuPG
     * 2.2 wants for v4 keys, and without it for v6 keys (RFC 9580, section 6.1: MUST NOT).
     */
    public static byte[] armor(OpenPGPCertificate cert) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean v6 = cert.getPrimaryKey().getVersion() == 6;
        try (ArmoredOutputStream aos =
                ArmoredOutputStream.builder().clearHeaders().enableCRC(!v6).build(out)) {
            aos.write(cert.getEncoded(PacketFormat.ROUNDTRIP));
        }
        return out.toByteArray();
    }

    static String describe(Throwable e) {
        return IoErrors.describe(e);
    }
}
