package org.cryptforward.keys;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;
import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.bouncycastle.bcpg.PacketFormat;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.api.OpenPGPKeyReader;

/**
 * The public keys cryptforward encrypts to: a directory with one armored certificate per file,
 * named {@code FINGERPRINT.asc}, readable by any OpenPGP tool. No GnuPG home, no agent, no
 * secret key ever. Files are replaced atomically (written aside, fsynced, renamed).
 */
public final class Keyring {
    public static final String SUFFIX = ".asc";

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
    }

    /** Every certificate in the keyring, in fingerprint order; unreadable files are reported. */
    public List<Entry> list() throws KeyringException {
        List<Entry> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            if (Files.exists(dir)) {
                throw new KeyringException("keyring " + dir + " is not a directory");
            }
            return out;
        }
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            ds.forEach(files::add);
        } catch (IOException e) {
            throw new KeyringException("cannot read keyring " + dir + ": " + describe(e), e);
        }
        files.sort(Comparator.naturalOrder());
        for (Path f : files) {
            out.add(new Entry(f, read(f)));
        }
        return out;
    }

    /** Reads one stored certificate. */
    public static OpenPGPCertificate read(Path file) throws KeyringException {
        try (InputStream in = Files.newInputStream(file)) {
            OpenPGPCertificate cert = new OpenPGPKeyReader().parseCertificateOrKey(in);
            if (cert == null) {
                throw new KeyringException("keyring file " + file + " holds no certificate");
            }
            if (cert.isSecretKey()) {
                throw new KeyringException("keyring file " + file + " holds a secret key; remove it");
            }
            return cert;
        } catch (IOException | RuntimeException e) {
            throw new KeyringException("keyring file " + file + " cannot be read: " + describe(e), e);
        }
    }

    /**
     * The one certificate {@code id} names: a fingerprint, a unique suffix of 16 or more hex
     * digits, or an e-mail address in a user ID.
     */
    public Entry find(String id) throws KeyringException {
        if (KeyIds.normalizeHex(id) == null && !KeyIds.isEmail(id)) {
            throw new KeyringException("\"" + id + "\" is neither a fingerprint (16 or more hex digits) nor an e-mail address");
        }
        String hex = KeyIds.normalizeHex(id);
        if (hex != null && (hex.length() == 40 || hex.length() == 64)) {
            Path direct = dir.resolve(hex + SUFFIX);
            if (Files.isRegularFile(direct)) {
                return new Entry(direct, read(direct));
            }
        }
        List<Entry> hits = list().stream().filter(e -> KeyIds.matches(e.certificate(), id)).collect(Collectors.toList());
        if (hits.isEmpty()) {
            throw new KeyringException("no key for " + id + " in " + dir);
        }
        if (hits.size() > 1) {
            throw new KeyringException(id + " is ambiguous: it names "
                    + hits.stream().map(Entry::fingerprint).collect(Collectors.joining(", ")));
        }
        return hits.get(0);
    }

    /** Stores (or replaces) a certificate atomically; returns its file. */
    public Path store(OpenPGPCertificate cert) throws KeyringException {
        if (cert.isSecretKey()) {
            throw new KeyringException("refusing to store a secret key");
        }
        String fpr = KeyIds.fingerprint(cert);
        Path target = dir.resolve(fpr + SUFFIX);
        Path tmp = null;
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
            }
            byte[] armored = armor(cert);
            tmp = Files.createTempFile(dir, ".import-", ".tmp", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r--r--")));
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap(armored));
                ch.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            fsyncDirectory(dir);
            return target;
        } catch (IOException e) {
            throw new KeyringException("cannot write to keyring " + dir + ": " + describe(e), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the temporary file holds only a public key
                }
            }
        }
    }

    /** Removes a stored certificate. */
    public void remove(Entry entry) throws KeyringException {
        try {
            Files.delete(entry.file());
            fsyncDirectory(dir);
        } catch (NoSuchFileException e) {
            // already gone
        } catch (IOException e) {
            throw new KeyringException("cannot remove " + entry.file() + ": " + describe(e), e);
        }
    }

    /** The certificate as ASCII armor (with the CRC line GnuPG 2.2 wants), as {@code gpg --import} reads it. */
    public static byte[] armor(OpenPGPCertificate cert) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (ArmoredOutputStream aos = ArmoredOutputStream.builder().clearHeaders().enableCRC(true).build(out)) {
            aos.write(cert.getEncoded(PacketFormat.ROUNDTRIP));
        }
        return out.toByteArray();
    }

    static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }
}
