package org.cryptforward.keys;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.cryptforward.Durability;
import org.cryptforward.IoErrors;
import org.bouncycastle.bcpg.PacketFormat;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.api.OpenPGPKeyReader;

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
 * <p>A file that cannot be parsed does not hide the others: lookups skip it and report it.
 */
public final class Keyring {
    public static final String SUFFIX = ".asc";
    static final String LOCK = ".lock";
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
        List<Entry> entries = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        boolean io = false;
        if (!Files.isDirectory(dir)) {
            if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw new KeyringException(KeyringException.Kind.IO, "keyring " + dir + " is not a directory");
            }
            return new Listing(entries, problems, false);
        }
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            ds.forEach(files::add);
        } catch (IOException e) {
            throw new KeyringException(KeyringException.Kind.IO, "cannot read keyring " + dir + ": " + describe(e), e);
        }
        files.sort(Comparator.naturalOrder());
        for (Path f : files) {
            try {
                entries.add(new Entry(f, read(f)));
            } catch (KeyringException e) {
                problems.add(e.getMessage());
                io |= e.kind() == KeyringException.Kind.IO;
            }
        }
        return new Listing(entries, problems, io);
    }

    /** Reads one stored certificate. */
    public static OpenPGPCertificate read(Path file) throws KeyringException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new KeyringException(KeyringException.Kind.IO, "keyring file " + file + " cannot be read: " + describe(e), e);
        }
        OpenPGPCertificate cert;
        try {
            cert = new OpenPGPKeyReader().parseCertificateOrKey(bytes);
        } catch (IOException | RuntimeException e) {
            throw new KeyringException(KeyringException.Kind.CORRUPT, "keyring file " + file + " is not an OpenPGP certificate: "
                    + describe(e), e);
        }
        if (cert == null) {
            throw new KeyringException(KeyringException.Kind.CORRUPT, "keyring file " + file + " holds no certificate");
        }
        if (cert.isSecretKey()) {
            throw new KeyringException(KeyringException.Kind.CORRUPT, "keyring file " + file + " holds a secret key; remove it");
        }
        return cert;
    }

    /**
     * The one certificate {@code id} names: a fingerprint, a unique suffix of 16 or more hex
     * digits, or an e-mail address in a user ID.
     */
    public Entry find(String id) throws KeyringException {
        String hex = KeyIds.normalizeHex(id);
        if (hex == null && !KeyIds.isEmail(id)) {
            throw new KeyringException(KeyringException.Kind.INVALID_ID,
                    "\"" + id + "\" is neither a fingerprint (or a suffix of 16 or more hex digits) nor an e-mail address");
        }
        if (hex != null && (hex.length() == 40 || hex.length() == 64)) {
            Path direct = dir.resolve(hex + SUFFIX);
            if (Files.isRegularFile(direct)) {
                return new Entry(direct, read(direct));
            }
        }
        Listing listing = list();
        List<Entry> hits = listing.entries().stream().filter(e -> KeyIds.matches(e.certificate(), id)).collect(Collectors.toList());
        if (hits.isEmpty()) {
            String also = listing.problems().isEmpty() ? "" : "; " + String.join("; ", listing.problems());
            throw new KeyringException(listing.ioTrouble() ? KeyringException.Kind.IO : KeyringException.Kind.NOT_FOUND,
                    "no key for " + id + " in " + dir + also);
        }
        if (hits.size() > 1) {
            throw new KeyringException(KeyringException.Kind.AMBIGUOUS, id + " is ambiguous: it names " + hits.size() + " keys: "
                    + hits.stream().map(Entry::label).collect(Collectors.joining(", ")) + "; name one by its fingerprint");
        }
        return hits.get(0);
    }

    /** An exclusive lock for writers (import, remove); creates the keyring directory if needed. */
    public Lock lock() throws KeyringException {
        ensureDirectory();
        Path lockFile = dir.resolve(LOCK);
        try {
            FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            try {
                setMode(lockFile, FILE_MODE);
                return new Lock(ch, ch.lock());
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        } catch (IOException e) {
            throw new KeyringException(KeyringException.Kind.IO, "cannot lock keyring " + dir + ": " + describe(e), e);
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
                previous.put(target, Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS) ? Files.readAllBytes(target) : null);
            }
            for (Map.Entry<Path, Path> e : staged.entrySet()) {
                rename(e.getValue(), e.getKey());
                renamed.add(e.getKey());
            }
            Durability.fsyncDirectory(dir);
            return new ArrayList<>(staged.keySet());
        } catch (IOException e) {
            putBack(renamed, previous);
            throw new KeyringException(KeyringException.Kind.IO, "cannot write to keyring " + dir + ": " + describe(e), e);
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

    private Path writeAside(byte[] bytes) throws IOException {
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

    private static void rename(Path from, Path to) throws IOException {
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
        } catch (NoSuchFileException e) {
            // already gone
        } catch (IOException e) {
            throw new KeyringException(KeyringException.Kind.IO, "cannot remove " + entry.file() + ": " + describe(e), e);
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
            throw new KeyringException(KeyringException.Kind.IO, "cannot create keyring " + dir + ": " + describe(e), e);
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
        try (ArmoredOutputStream aos = ArmoredOutputStream.builder().clearHeaders().enableCRC(!v6).build(out)) {
            aos.write(cert.getEncoded(PacketFormat.ROUNDTRIP));
        }
        return out.toByteArray();
    }

    static String describe(Throwable e) {
        return IoErrors.describe(e);
    }
}
