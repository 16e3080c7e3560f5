package org.cryptforward.keys;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bouncycastle.bcpg.KeyIdentifier;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPPublicKeyRing;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.operator.bc.BcPGPContentVerifierBuilderProvider;
import org.cryptforward.core.IoErrors;
import org.cryptforward.core.Limits;

/**
 * {@code key import}: reads certificates — armored or binary, several per input (as
 * {@code gpg --export --armor} writes them), several armor blocks per input — and bare key
 * revocation certificates (as GnuPG writes them next to a new key), and stores them all or none.
 *
 * <ul>
 *   <li>Input is read as a stream, at most {@link Limits#keyInputBytes()} bytes (64 MB) of it, by {@link KeyReader}:
 *       only the owner's verified self-signatures are kept (third-party certifications and
 *       signatures that do not verify are dropped before anything judges the key), and a key
 *       beyond the bounds on user IDs, subkeys and signatures is refused with the reason.
 *   <li>A secret key anywhere in the input refuses the whole import; nothing is written, not even
 *       a temporary file (the input is only ever held in memory).
 *   <li>A certificate not yet in the keyring must be usable for encryption now (self-signatures,
 *       binding signatures, key flags, expiry, revocation, algorithm; see {@link KeyUsability}),
 *       else it is refused with the reason.
 *   <li>A certificate already in the keyring is merged with the stored one (new signatures: a
 *       renewed expiry, a revocation, new subkeys). An update is stored even when it makes the key
 *       unusable — a revocation must never be refused — and is reported as a warning.
 *   <li>A bare revocation signature is verified against the stored primary key it names and
 *       merged into it.
 * </ul>
 *
 * <p>Everything is checked before anything is written; the keyring's own writes are atomic and
 * all or none (see {@link Keyring#storeAll}).
 */
public final class KeyImporter {
    /** Warn when a key expires within this time. */
    public static final Duration EXPIRY_WARNING = Duration.ofDays(30);

    /** The most {@code key import} reads from one input: public keys are small; this is not one. */
    public static final int MAX_INPUT = Limits.DEFAULT.keyInputBytes();

    /** One input: its name (a file, or "standard input") and bytes. */
    public record Input(String name, byte[] bytes) {}

    /** What happened to one certificate. */
    public enum State {
        IMPORTED("imported"),
        UPDATED("updated"),
        UNCHANGED("unchanged");

        public final String word;

        State(String word) {
            this.word = word;
        }
    }

    /** One certificate's outcome. */
    public record Imported(KeyDescription description, State state, Path file) {}

    /** The outcome of an import: each certificate, and warnings for the administrator. */
    public record Result(List<Imported> keys, List<String> warnings) {}

    /** What one input holds: its name, its keys (verified self-signatures only) and bare revocations. */
    public record Parsed(
            String name,
            List<OpenPGPCertificate> certificates,
            List<PGPSignature> signatures,
            Map<String, List<String>> notes) {}

    private record Planned(OpenPGPCertificate certificate, boolean existed, byte[] stored) {}

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
    public Result importAll(List<Input> inputs) throws KeyImportException, KeyringException {
        List<Parsed> parsed = new ArrayList<>();
        for (Input in : inputs) {
            parsed.add(parse(in));
        }
        return importParsed(parsed);
    }

    /** Imports what {@link #parse(String, InputStream)} read, or nothing. */
    public Result importParsed(List<Parsed> parsed) throws KeyImportException, KeyringException {
        List<String> sources = parsed.stream().map(Parsed::name).toList();
        // First without the lock, so that a refused import leaves no trace at all...
        plan(parsed, sources);
        // ...then again under it, in case another import changed the keyring meanwhile.
        try (Keyring.Lock lock = keyring.lock()) {
            Map<String, Planned> plan = plan(parsed, sources);
            List<OpenPGPCertificate> toStore = new ArrayList<>();
            List<Imported> out = new ArrayList<>();
            List<String> warnings = new ArrayList<>();
            for (Planned p : plan.values()) {
                KeyDescription d = KeyDescription.of(p.certificate(), now);
                byte[] armored = armor(p.certificate());
                State state = !p.existed()
                        ? State.IMPORTED
                        : Arrays.equals(armored, p.stored()) ? State.UNCHANGED : State.UPDATED;
                if (state != State.UNCHANGED) {
                    toStore.add(p.certificate());
                }
                out.add(new Imported(d, state, keyring.dir().resolve(d.fingerprint() + Keyring.SUFFIX)));
                if (!d.status().usable()) {
                    warnings.add("key " + d.fingerprint() + " can no longer be used: "
                            + d.status().reason().orElse("no encryption key")
                            + "; forwards to it get a notice without content instead");
                } else if (d.status().expires().isPresent()
                        && d.status()
                                .expires()
                                .get()
                                .toInstant()
                                .isBefore(now.toInstant().plus(EXPIRY_WARNING))) {
                    warnings.add("key " + d.fingerprint() + " expires on "
                            + KeyUsability.day(d.status().expires().get()) + ": renew it and import it again");
                }
                if (d.status().usable()) {
                    for (String skipped : d.status().skipped()) {
                        warnings.add("key " + d.fingerprint() + ": " + skipped
                                + "; that subkey is not used, the others are");
                    }
                }
            }
            keyring.storeAll(toStore);
            warnings.addAll(ambiguities(plan));
            return new Result(out, warnings);
        }
    }

    /** Merges what was read with what is stored, and checks the result; writes nothing. */
    private Map<String, Planned> plan(List<Parsed> parsed, List<String> sources)
            throws KeyImportException, KeyringException {
        Map<String, Planned> plan = new LinkedHashMap<>();
        for (int i = 0; i < parsed.size(); i++) {
            for (OpenPGPCertificate c : parsed.get(i).certificates()) {
                String fpr = KeyIds.fingerprint(c);
                Planned base = plan.containsKey(fpr) ? plan.get(fpr) : stored(fpr);
                OpenPGPCertificate merged =
                        base == null ? c : reread(join(base.certificate(), c, sources.get(i)), sources.get(i));
                plan.put(fpr, new Planned(merged, base != null && base.existed(), base == null ? null : base.stored()));
            }
        }
        for (int i = 0; i < parsed.size(); i++) {
            for (PGPSignature sig : parsed.get(i).signatures()) {
                applyRevocation(plan, sig, sources.get(i));
            }
        }
        for (Map.Entry<String, Planned> e : plan.entrySet()) {
            Planned p = e.getValue();
            if (!p.existed()) {
                KeyStatus status = KeyUsability.evaluate(p.certificate(), now);
                if (!status.usable()) {
                    String uid = KeyIds.firstUserId(p.certificate(), now);
                    List<String> dropped = new ArrayList<>();
                    for (Parsed pa : parsed) {
                        dropped.addAll(pa.notes().getOrDefault(e.getKey(), List.of()));
                    }
                    throw new KeyImportException("refusing key " + e.getKey()
                            + (uid == null ? "" : " (" + KeyDescription.displayable(uid) + ")")
                            + ": it cannot be used for encryption: "
                            + status.reason().orElse("no encryption key")
                            + (dropped.isEmpty() ? "" : " (left out: " + String.join(", ", dropped) + ")")
                            + "; nothing was stored");
                }
            }
        }
        return plan;
    }

    /** The stored certificate with this fingerprint, or null. A stored file that is broken is replaced. */
    private Planned stored(String fpr) throws KeyringException {
        Path file = keyring.dir().resolve(fpr + Keyring.SUFFIX);
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        try {
            OpenPGPCertificate cert = Keyring.read(file);
            byte[] bytes = Files.readAllBytes(file); // read() bounded the size
            return new Planned(cert, true, bytes);
        } catch (IOException e) {
            throw new KeyringException(
                    KeyringException.Kind.IO, "keyring file " + file + " cannot be read: " + Keyring.describe(e), e);
        } catch (KeyringException e) {
            if (e.kind() == KeyringException.Kind.IO) {
                throw e;
            }
            return null;
        }
    }

    /** A merged certificate read again as an input is: verified, deduplicated, and within the bounds. */
    private static OpenPGPCertificate reread(OpenPGPCertificate merged, String source) throws KeyImportException {
        try {
            KeyReader.Result r = KeyReader.read(
                    new ByteArrayInputStream(merged.getPGPPublicKeyRing().getEncoded()), MAX_INPUT);
            if (r.keys().size() != 1) {
                throw new KeyImportException(
                        source + ": merging it into key " + KeyIds.fingerprint(merged) + " gave no single key");
            }
            return new OpenPGPCertificate(r.keys().get(0).ring(), Verdicts.IMPLEMENTATION);
        } catch (KeyReader.Refusal e) {
            throw new KeyImportException(source + ": "
                    + e.getMessage().replaceFirst("^refusing key (\\S+): ", "refusing the update of key $1: ")
                    + "; nothing was stored");
        } catch (IOException e) {
            throw new KeyImportException(
                    source + ": cannot merge into the stored key " + KeyIds.fingerprint(merged) + ": " + describe(e));
        }
    }

    /** Merges a bare key revocation (or direct-key) signature into the key that made it. */
    private void applyRevocation(Map<String, Planned> plan, PGPSignature sig, String source)
            throws KeyImportException, KeyringException {
        List<KeyIdentifier> issuers = sig.getKeyIdentifiers();
        Planned target = null;
        String fpr = null;
        for (Map.Entry<String, Planned> e : plan.entrySet()) {
            if (issuedBy(sig, e.getValue().certificate())) {
                target = e.getValue();
                fpr = e.getKey();
            }
        }
        if (target == null) {
            for (Keyring.Entry e : keyring.list().entries()) {
                if (issuedBy(sig, e.certificate())) {
                    fpr = e.fingerprint();
                    target = stored(fpr);
                }
            }
        }
        String issuer = issuers.isEmpty() ? "(no issuer)" : issuers.get(0).toString();
        if (target == null) {
            throw new KeyImportException(source + " holds a revocation for key " + issuer
                    + ", which is not in the keyring; nothing was stored");
        }
        PGPPublicKey primary = target.certificate().getPrimaryKey().getPGPPublicKey();
        boolean valid;
        try {
            sig.init(new BcPGPContentVerifierBuilderProvider(), primary);
            valid = sig.verifyCertification(primary);
        } catch (PGPException | RuntimeException e) {
            valid = false;
        }
        if (!valid) {
            throw new KeyImportException(
                    source + ": the revocation for key " + fpr + " has no valid signature; nothing was stored");
        }
        PGPPublicKeyRing ring = PGPPublicKeyRing.insertPublicKey(
                target.certificate().getPGPPublicKeyRing(), PGPPublicKey.addCertification(primary, sig));
        plan.put(
                fpr,
                new Planned(
                        reread(new OpenPGPCertificate(ring, Verdicts.IMPLEMENTATION), source),
                        target.existed(),
                        target.stored()));
    }

    private static boolean issuedBy(PGPSignature sig, OpenPGPCertificate cert) {
        KeyIdentifier primary = cert.getPrimaryKey().getKeyIdentifier();
        for (KeyIdentifier id : sig.getKeyIdentifiers()) {
            if (id.matches(primary)) {
                return true;
            }
        }
        return false;
    }

    /** Warnings for e-mail addresses that now name more than one key. */
    private List<String> ambiguities(Map<String, Planned> plan) throws KeyringException {
        Map<String, Set<String>> byAddress = new LinkedHashMap<>();
        for (Keyring.Entry e : keyring.list().entries()) {
            for (String a : KeyIds.emails(e.certificate(), now)) {
                byAddress.computeIfAbsent(a, k -> new LinkedHashSet<>()).add(e.fingerprint());
            }
        }
        List<String> out = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        for (Planned p : plan.values()) {
            for (String a : KeyIds.emails(p.certificate(), now)) {
                Set<String> fprs = byAddress.getOrDefault(a, Set.of());
                if (fprs.size() > 1 && seen.add(a)) {
                    out.add(
                            a + " now names " + fprs.size() + " keys (" + String.join(", ", fprs)
                                    + "): a rule that names it cannot use either; name the key by fingerprint, or remove the old one");
                }
            }
        }
        return out;
    }

    private static byte[] armor(OpenPGPCertificate cert) throws KeyringException {
        try {
            return Keyring.armor(cert);
        } catch (IOException e) {
            throw new KeyringException(
                    KeyringException.Kind.IO,
                    "cannot encode key " + KeyIds.fingerprint(cert) + ": " + e.getMessage(),
                    e);
        }
    }

    private static OpenPGPCertificate join(OpenPGPCertificate base, OpenPGPCertificate update, String source)
            throws KeyImportException {
        try {
            return CertificateMerge.merge(base, update);
        } catch (RuntimeException e) {
            throw new KeyImportException(
                    source + ": cannot merge into the stored key " + KeyIds.fingerprint(base) + ": " + describe(e));
        }
    }

    /** Everything in one input held in memory; see {@link #parse(String, InputStream)}. */
    static Parsed parse(Input in) throws KeyImportException {
        try {
            return parse(in.name(), new ByteArrayInputStream(in.bytes()));
        } catch (IOException e) {
            throw new KeyImportException(in.name() + " is not an OpenPGP public key (" + describe(e) + ")");
        }
    }

    /**
     * Everything in one input: certificates and bare signatures, read as a stream of at most
     * {@link Limits#keyInputBytes()} bytes (64 MB). A secret key anywhere refuses the whole input; so does anything
     * that is not a key (an encrypted message, garbage), and a key beyond the bounds.
     *
     * @throws IOException when the input cannot be read (as opposed to read and refused)
     */
    public static Parsed parse(String name, InputStream in) throws KeyImportException, IOException {
        KeyReader.Result r;
        try {
            r = KeyReader.read(in, MAX_INPUT);
        } catch (KeyReader.TooLarge e) {
            throw new KeyImportException(name + " is larger than " + (MAX_INPUT >> 20) + " MB: not a public key");
        } catch (KeyReader.Refusal e) {
            String m = e.getMessage();
            throw new KeyImportException(e.keyLevel ? name + ": " + m + "; nothing was stored" : name + " " + m);
        } catch (java.nio.file.FileSystemException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new KeyImportException(name + " is not an OpenPGP public key (" + describe(e) + ")");
        }
        List<OpenPGPCertificate> certs = new ArrayList<>();
        Map<String, List<String>> notes = new LinkedHashMap<>();
        for (KeyReader.Read k : r.keys()) {
            OpenPGPCertificate c = new OpenPGPCertificate(k.ring(), Verdicts.IMPLEMENTATION);
            certs.add(c);
            if (!k.notes().isEmpty()) {
                notes.computeIfAbsent(KeyIds.fingerprint(c), x -> new ArrayList<>())
                        .addAll(k.notes());
            }
        }
        return new Parsed(name, certs, r.signatures(), notes);
    }

    private static String describe(Throwable e) {
        return IoErrors.describe(e);
    }

    /** Input that is not an importable public key. */
    public static final class KeyImportException extends Exception {
        private static final long serialVersionUID = 1L;

        public KeyImportException(String message) {
            super(message);
        }
    }
}
