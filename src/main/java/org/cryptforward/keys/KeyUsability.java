package org.cryptforward.keys;

import java.util.ArrayList;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.bouncycastle.bcpg.HashAlgorithmTags;
import org.bouncycastle.bcpg.PublicKeyAlgorithmTags;
import org.bouncycastle.bcpg.sig.KeyFlags;
import org.bouncycastle.bcpg.sig.RevocationReason;
import org.bouncycastle.bcpg.sig.RevocationReasonTags;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.PGPSignatureSubpacketVector;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.api.OpenPGPCertificate.OpenPGPComponentKey;
import org.bouncycastle.openpgp.api.OpenPGPCertificate.OpenPGPComponentSignature;
import org.bouncycastle.openpgp.api.OpenPGPImplementation;
import org.bouncycastle.openpgp.api.OpenPGPPolicy;

/**
 * Decides which keys of a certificate may be encrypted to at a given time.
 *
 * <p>A key is used when its binding (or, for the primary key, self-) signature is valid at that
 * time, it carries the encrypt-communications or encrypt-storage flag, it is neither expired nor
 * revoked, its certificate is neither expired nor revoked, and its algorithm is one we accept:
 * RSA of 2048 bits or more, ECDH (Curve25519, NIST and Brainpool curves), X25519, X448, or
 * ElGamal of 2048 bits or more; v4 and v6 (RFC 9580) keys alike. The primary key is used only
 * when it carries an encryption flag itself. Bouncy Castle's certificate model does the
 * signature work (self-signatures, binding signatures, direct-key signatures of v6 keys) on
 * certificates that hold verified self-signatures only ({@link KeyReader}), and each encryption
 * key's material is checked, with a trial encryption, before it is handed out
 * ({@link KeyMaterial}); a bad one is skipped with its reason.
 *
 * <p>This is the one judgement of a key: {@code key import}, {@code key list}, {@code check} and
 * {@code deliver} all use it, so they say the same thing in the same words.
 */
public final class KeyUsability {
    static final int MIN_RSA_BITS = 2048;
    /** The ECDH curves Bouncy Castle encrypts to, by the names {@link KeyDescription} gives them. */
    static final Set<String> ECDH_CURVES = Set.of(
            "Curve25519",
            "NIST P-256",
            "NIST P-384",
            "NIST P-521",
            "brainpoolP256r1",
            "brainpoolP384r1",
            "brainpoolP512r1");

    private KeyUsability() {}

    public static KeyStatus evaluate(OpenPGPCertificate cert, Date now) {
        Optional<Date> expires = Optional.ofNullable(expiry(cert.getPrimaryKey(), now));
        OpenPGPComponentSignature revocation = cert.getRevocation(now);
        if (revocation == null) {
            revocation = cert.getPrimaryKey().getRevocation(now);
        }
        if (revocation != null) {
            return new KeyStatus(List.of(), Optional.of("the key is revoked" + revocationReason(revocation)), expires);
        }
        if (expires.isPresent() && !expires.get().after(now)) {
            return new KeyStatus(List.of(), Optional.of("the key expired on " + day(expires.get())), expires);
        }
        if (!cert.getPrimaryKey().isBoundAt(now)) {
            return new KeyStatus(List.of(), Optional.of(whyPrimaryUnbound(cert, now)), expires);
        }

        List<PGPPublicKey> usable = new ArrayList<>();
        List<String> rejected = new ArrayList<>();
        Date latestSubkeyExpiry = null;
        boolean subkeyNeverExpires = false;
        for (OpenPGPComponentKey k : cert.getEncryptionKeys(now)) {
            String fpr = KeyIds.hex(k.getPGPPublicKey().getFingerprint());
            String weakness = weakness(k.getPGPPublicKey());
            if (weakness == null) {
                String bad = KeyMaterial.encryptionProblem(k.getPGPPublicKey());
                weakness = bad == null ? null : "its encryption subkey " + fpr + " " + bad;
            } else {
                weakness = weakness.replaceFirst("^its encryption key ", "its encryption subkey " + fpr + " ");
            }
            if (weakness != null) {
                rejected.add(weakness);
                continue;
            }
            usable.add(k.getPGPPublicKey());
            Date e = k.getKeyExpirationDateAt(now);
            if (e == null) {
                subkeyNeverExpires = true;
            } else if (latestSubkeyExpiry == null || e.after(latestSubkeyExpiry)) {
                latestSubkeyExpiry = e;
            }
        }
        if (!usable.isEmpty()) {
            Optional<Date> until = expires;
            if (!subkeyNeverExpires
                    && latestSubkeyExpiry != null
                    && (until.isEmpty() || latestSubkeyExpiry.before(until.get()))) {
                until = Optional.of(latestSubkeyExpiry);
            }
            return new KeyStatus(usable, Optional.empty(), until, rejected);
        }
        if (!rejected.isEmpty()) {
            return new KeyStatus(List.of(), Optional.of(rejected.get(0)), expires, rejected);
        }
        return new KeyStatus(List.of(), Optional.of(whyNoEncryptionKey(cert, now)), expires);
    }

    /**
     * Why the primary key has no valid self-signature, naming the policy where that is the cause:
     * a primary key algorithm or size that is no longer accepted (DSA, RSA of 1024 bits), or
     * self-signatures made with a hash that is not (SHA-1, MD5).
     */
    static String whyPrimaryUnbound(OpenPGPCertificate cert, Date now) {
        OpenPGPPolicy policy = OpenPGPImplementation.getInstance().policy();
        PGPPublicKey primary = cert.getPrimaryKey().getPGPPublicKey();
        if (!policy.isAcceptablePublicKeyStrength(primary.getAlgorithm(), primary.getBitStrength())) {
            String alg = KeyDescription.algorithm(primary);
            return "its primary key is " + alg
                    + (primary.getAlgorithm() == PublicKeyAlgorithmTags.DSA
                            ? ", an algorithm the signature policy no longer accepts for self-signatures (make a new key)"
                            : ", too weak for the signature policy (make a new key; RSA needs at least " + MIN_RSA_BITS
                                    + " bits)");
        }
        List<PGPSignature> selfSigs = new ArrayList<>();
        primary.getKeySignatures().forEachRemaining(selfSigs::add);
        for (Iterator<byte[]> it = primary.getRawUserIDs(); it.hasNext(); ) {
            primary.getSignaturesForID(it.next()).forEachRemaining(selfSigs::add);
        }
        Set<String> refusedHashes = new TreeSet<>();
        boolean anyAcceptable = false;
        boolean any = false;
        for (PGPSignature sig : selfSigs) {
            if (sig.getCreationTime().after(now)
                    || sig.getSignatureType() == PGPSignature.CERTIFICATION_REVOCATION
                    || sig.getSignatureType() == PGPSignature.KEY_REVOCATION) {
                continue;
            }
            any = true;
            if (policy.isAcceptableCertificationSignatureHashAlgorithm(sig.getHashAlgorithm(), sig.getCreationTime())) {
                anyAcceptable = true;
            } else {
                refusedHashes.add(hashName(sig.getHashAlgorithm()));
            }
        }
        if (any && !anyAcceptable) {
            return "its self-signatures use " + String.join(" and ", refusedHashes)
                    + ", which the signature policy no longer accepts (renew the key with a current OpenPGP tool)";
        }
        return "the key has no valid self-signature";
    }

    private static String hashName(int alg) {
        return switch (alg) {
            case HashAlgorithmTags.MD5 -> "MD5";
            case HashAlgorithmTags.SHA1 -> "SHA-1";
            case HashAlgorithmTags.RIPEMD160 -> "RIPEMD-160";
            case HashAlgorithmTags.SHA224 -> "SHA-224";
            default -> "hash algorithm " + alg;
        };
    }

    /** " (key compromised: text)" from a revocation signature's reason subpacket; empty if it gives none. */
    static String revocationReason(OpenPGPComponentSignature revocation) {
        try {
            PGPSignatureSubpacketVector hashed = revocation.getSignature().getHashedSubPackets();
            RevocationReason r = hashed == null ? null : hashed.getRevocationReason();
            if (r == null) {
                return "";
            }
            String code = switch (r.getRevocationReason()) {
                case RevocationReasonTags.KEY_SUPERSEDED -> "superseded";
                case RevocationReasonTags.KEY_COMPROMISED -> "compromised";
                case RevocationReasonTags.KEY_RETIRED -> "retired";
                default -> "";
            };
            String text = printable(r.getRevocationDescription());
            if (code.isEmpty() && text.isEmpty()) {
                return "";
            }
            return " (" + code + (code.isEmpty() || text.isEmpty() ? "" : ": ") + text + ")";
        } catch (RuntimeException e) {
            return "";
        }
    }

    /** Printable ASCII only, at most 200 characters: text from a key ends up in logs and notices. */
    static String printable(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() < 200; i++) {
            char c = s.charAt(i);
            sb.append(c >= 32 && c < 127 ? c : '?');
        }
        return sb.toString().strip();
    }

    /**
     * When a (sub)key expires: from its valid self-signature at {@code now}, or — when none is
     * valid any more, which is what expiry does to Bouncy Castle's signature chains — from its
     * latest self-signature, so that an expired key is reported as expired (and when).
     */
    public static Date expiry(OpenPGPComponentKey k, Date now) {
        Date e = k.getKeyExpirationDateAt(now);
        if (e != null) {
            return e;
        }
        try {
            OpenPGPComponentSignature latest = k.getLatestSelfSignature(now);
            return latest == null ? null : latest.getKeyExpirationTime();
        } catch (RuntimeException ex) {
            return null;
        }
    }

    /**
     * Explains why a certificate that is itself valid has no encryption key: an encryption subkey
     * that is revoked, expired, from the future or not validly bound; a subkey with no valid binding
     * at all (unsigned, forged or damaged — it might have been meant for encryption); and only when
     * every subkey is bound and none says "encrypt", a sign-only key.
     */
    private static String whyNoEncryptionKey(OpenPGPCertificate cert, Date now) {
        OpenPGPPolicy policy = OpenPGPImplementation.getInstance().policy();
        String reason = null;
        boolean anyEncryptionFlag = false;
        String unbound = null;
        for (OpenPGPComponentKey k : cert.getKeys()) {
            PGPPublicKey pk = k.getPGPPublicKey();
            String fpr = KeyIds.hex(pk.getFingerprint());
            if (!k.isPrimaryKey()) {
                List<PGPSignature> bindings = new ArrayList<>();
                pk.getSignaturesOfType(PGPSignature.SUBKEY_BINDING).forEachRemaining(bindings::add);
                if (bindings.isEmpty()) {
                    unbound = unbound == null ? fpr : unbound;
                    continue;
                }
                if (!hasEncryptionFlag(latest(bindings))) {
                    continue;
                }
            } else if (!hasEncryptionFlagEver(k)) {
                continue;
            }
            anyEncryptionFlag = true;
            if (k.getRevocation(now) != null) {
                reason = "its encryption subkey " + fpr + " is revoked" + revocationReason(k.getRevocation(now));
            } else if (expiry(k, now) != null && !expiry(k, now).after(now)) {
                reason = "its encryption subkey " + fpr + " expired on " + day(expiry(k, now));
            } else if (k.getCreationTime().after(now)) {
                reason = "its encryption subkey " + fpr + " is created in the future";
            } else if (!k.isBoundAt(now)) {
                boolean weakHash = false;
                for (Iterator<PGPSignature> it = pk.getSignaturesOfType(PGPSignature.SUBKEY_BINDING); it.hasNext(); ) {
                    PGPSignature sig = it.next();
                    weakHash |= !policy.isAcceptableCertificationSignatureHashAlgorithm(
                            sig.getHashAlgorithm(), sig.getCreationTime());
                }
                reason = "its encryption subkey " + fpr
                        + (weakHash
                                ? "'s binding signature uses a hash the signature policy no longer accepts (SHA-1 or older)"
                                : " has no valid binding signature");
            }
        }
        if (anyEncryptionFlag) {
            return reason != null ? reason : "it has no usable encryption subkey";
        }
        if (unbound != null) {
            return "its subkey " + unbound
                    + " is not bound to it by a valid signature (unsigned, forged or damaged), so it has no"
                    + " encryption key";
        }
        return "it has no encryption subkey (a sign-only key)";
    }

    private static boolean hasEncryptionFlagEver(OpenPGPComponentKey k) {
        try {
            KeyFlags flags = k.getKeyFlags();
            return flags != null && (flags.getFlags() & (KeyFlags.ENCRYPT_COMMS | KeyFlags.ENCRYPT_STORAGE)) != 0;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static PGPSignature latest(List<PGPSignature> sigs) {
        PGPSignature latest = null;
        for (PGPSignature s : sigs) {
            if (latest == null || s.getCreationTime().after(latest.getCreationTime())) {
                latest = s;
            }
        }
        return latest;
    }

    private static boolean hasEncryptionFlag(PGPSignature sig) {
        PGPSignatureSubpacketVector h = sig.getHashedSubPackets();
        int flags = h == null ? 0 : h.getKeyFlags();
        return (flags & (KeyFlags.ENCRYPT_COMMS | KeyFlags.ENCRYPT_STORAGE)) != 0;
    }

    /** Why this key's algorithm is not accepted, or null when it is. */
    static String weakness(PGPPublicKey key) {
        int alg = key.getAlgorithm();
        switch (alg) {
            case PublicKeyAlgorithmTags.RSA_GENERAL,
                    PublicKeyAlgorithmTags.RSA_ENCRYPT,
                    PublicKeyAlgorithmTags.ELGAMAL_ENCRYPT,
                    PublicKeyAlgorithmTags.ELGAMAL_GENERAL -> {
                int bits = key.getBitStrength();
                if (bits < MIN_RSA_BITS) {
                    return "its encryption key is " + (alg >= 16 ? "ElGamal" : "RSA") + " of " + bits
                            + " bits, too weak (at least " + MIN_RSA_BITS + ")";
                }
                return null;
            }
            case PublicKeyAlgorithmTags.ECDH -> {
                String curve = KeyDescription.curveName(key);
                return ECDH_CURVES.contains(curve)
                        ? null
                        : "its encryption key uses an unsupported curve (" + curve + ")";
            }
            case PublicKeyAlgorithmTags.X25519, PublicKeyAlgorithmTags.X448 -> {
                return null;
            }
            default -> {
                return "its encryption key uses an unsupported algorithm (" + alg + ")";
            }
        }
    }

    static String day(Date d) {
        return org.cryptforward.core.Dates.day(d.toInstant());
    }
}
