package org.cryptforward.keys;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bouncycastle.bcpg.ArmoredInputStream;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.api.OpenPGPKeyReader;

/**
 * {@code key import}: reads certificates (armored or binary, several per input, several armor
 * blocks per file), refuses secret keys and keys that cannot be used, merges updates (a renewed
 * expiry, a revocation) into the stored certificate, and stores all of them or none.
 */
public final class KeyImporter {
    /** One input: its name (a file, or "standard input") and bytes. */
    public record Input(String name, byte[] bytes) {}

    /** What happened to one certificate. */
    public record Imported(KeyDescription description, boolean updated, Path file) {}

    private final Keyring keyring;
    private final Date now;

    public KeyImporter(Keyring keyring, Date now) {
        this.keyring = keyring;
        this.now = now;
    }

    /**
     * Imports everything in {@code inputs}, or nothing.
     *
     * @throws KeyImportException for bad input (secret key, garbage, nothing found, unusable key)
     * @throws KeyringException when the keyring cannot be read or written
     */
    public List<Imported> importAll(List<Input> inputs) throws KeyImportException, KeyringException {
        Map<String, OpenPGPCertificate> merged = new LinkedHashMap<>();
        Map<String, Boolean> updates = new LinkedHashMap<>();
        for (Input in : inputs) {
            List<OpenPGPCertificate> certs = parse(in);
            for (OpenPGPCertificate c : certs) {
                String fpr = KeyIds.fingerprint(c);
                OpenPGPCertificate base = merged.get(fpr);
                boolean existed = false;
                if (base == null) {
                    Path stored = keyring.dir().resolve(fpr + Keyring.SUFFIX);
                    if (Files.isRegularFile(stored)) {
                        base = Keyring.read(stored);
                        existed = true;
                    }
                }
                OpenPGPCertificate result = base == null ? c : join(base, c, in.name());
                merged.put(fpr, result);
                updates.merge(fpr, existed, Boolean::logicalOr);
            }
        }
        // Validate before anything is written.
        List<Imported> out = new ArrayList<>();
        for (Map.Entry<String, OpenPGPCertificate> e : merged.entrySet()) {
            KeyDescription d = KeyDescription.of(e.getValue(), now);
            boolean update = updates.get(e.getKey());
            if (!d.status().usable() && !update) {
                throw new KeyImportException("refusing key " + e.getKey() + ": it cannot be used for encryption: "
                        + d.status().reason().orElse("no encryption key"));
            }
            out.add(new Imported(d, update, null));
        }
        // Store all; on a failure, put back what was there.
        Map<Path, byte[]> previous = new LinkedHashMap<>();
        List<Imported> stored = new ArrayList<>();
        try {
            int i = 0;
            for (Map.Entry<String, OpenPGPCertificate> e : merged.entrySet()) {
                Path target = keyring.dir().resolve(e.getKey() + Keyring.SUFFIX);
                previous.put(target, Files.isRegularFile(target) ? Files.readAllBytes(target) : null);
                Path file = keyring.store(e.getValue());
                Imported im = out.get(i++);
                stored.add(new Imported(im.description(), im.updated(), file));
            }
        } catch (IOException | KeyringException e) {
            rollback(previous);
            if (e instanceof KeyringException ke) {
                throw ke;
            }
            throw new KeyringException("cannot read keyring " + keyring.dir() + ": " + e.getMessage(), e);
        }
        return stored;
    }

    private void rollback(Map<Path, byte[]> previous) {
        for (Map.Entry<Path, byte[]> e : previous.entrySet()) {
            try {
                if (e.getValue() == null) {
                    Files.deleteIfExists(e.getKey());
                } else {
                    Files.write(e.getKey(), e.getValue());
                }
            } catch (IOException ignored) {
                // best effort: the keyring was writable a moment ago
            }
        }
    }

    private static OpenPGPCertificate join(OpenPGPCertificate base, OpenPGPCertificate update, String source) throws KeyImportException {
        try {
            return OpenPGPCertificate.join(base, update);
        } catch (PGPException | RuntimeException e) {
            throw new KeyImportException(source + ": cannot merge into the stored key " + KeyIds.fingerprint(base) + ": " + e.getMessage());
        }
    }

    /** All certificates in one input; a secret key anywhere refuses the whole input. */
    static List<OpenPGPCertificate> parse(Input in) throws KeyImportException {
        if (in.bytes().length == 0 || isBlank(in.bytes())) {
            throw new KeyImportException(in.name() + " is empty: no OpenPGP key in it");
        }
        List<OpenPGPCertificate> out = new ArrayList<>();
        try {
            for (byte[] block : blocks(in.bytes())) {
                List<OpenPGPCertificate> certs = new OpenPGPKeyReader().parseKeysOrCertificates(block);
                for (OpenPGPCertificate c : certs) {
                    if (c.isSecretKey()) {
                        throw new KeyImportException(in.name() + " holds a secret key (" + KeyIds.fingerprint(c)
                                + "); refusing it, nothing was stored. Export the public key with: gpg --export --armor ID");
                    }
                    out.add(c);
                }
            }
        } catch (KeyImportException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new KeyImportException(in.name() + " is not an OpenPGP public key (" + describe(e) + ")");
        }
        if (out.isEmpty()) {
            throw new KeyImportException(in.name() + ": no OpenPGP key in it");
        }
        return out;
    }

    /** Splits input holding several armor blocks (e.g. several keys concatenated) into blocks. */
    static List<byte[]> blocks(byte[] bytes) throws IOException {
        List<byte[]> out = new ArrayList<>();
        InputStream decoder = PGPUtil.getDecoderStream(new ByteArrayInputStream(bytes));
        if (!(decoder instanceof ArmoredInputStream)) {
            out.add(bytes);
            return out;
        }
        String text = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1);
        String begin = "-----BEGIN PGP ";
        int pos = text.indexOf(begin);
        if (pos < 0) {
            out.add(bytes);
            return out;
        }
        while (pos >= 0) {
            int endMarker = text.indexOf("-----END PGP ", pos);
            if (endMarker < 0) {
                throw new IOException("armor without END line");
            }
            int lineEnd = text.indexOf('\n', endMarker);
            int end = lineEnd < 0 ? text.length() : lineEnd + 1;
            out.add(text.substring(pos, end).getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            pos = text.indexOf(begin, end);
        }
        return out;
    }

    private static boolean isBlank(byte[] b) {
        for (byte x : b) {
            if (x != ' ' && x != '\n' && x != '\r' && x != '\t') {
                return false;
            }
        }
        return true;
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    /** Input that is not an importable public key. */
    public static final class KeyImportException extends Exception {
        private static final long serialVersionUID = 1L;

        public KeyImportException(String message) {
            super(message);
        }
    }

}
