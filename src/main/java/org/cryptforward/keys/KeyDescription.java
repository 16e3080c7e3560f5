package org.cryptforward.keys;

import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bouncycastle.bcpg.PublicKeyAlgorithmTags;
import org.bouncycastle.bcpg.sig.KeyFlags;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.api.OpenPGPCertificate.OpenPGPComponentKey;

/** What {@code key import}, {@code key list} and {@code key show} print about a certificate. */
public record KeyDescription(
        String fingerprint,
        int version,
        List<String> userIds,
        String primaryAlgorithm,
        List<Component> components,
        KeyStatus status) {

    /** One (sub)key. */
    public record Component(
            String keyId, String algorithm, String usage, String created, String expires, String state) {}

    public static KeyDescription of(OpenPGPCertificate cert, Date now) {
        List<String> uids = new ArrayList<>();
        for (UserIds.UserId u : UserIds.bound(cert, now)) {
            uids.add(u.text());
        }
        KeyStatus status = KeyUsability.evaluate(cert, now);
        List<Component> comps = new ArrayList<>();
        for (OpenPGPComponentKey k : cert.getKeys()) {
            PGPPublicKey pk = k.getPGPPublicKey();
            String state;
            if (k.getRevocation(now) != null) {
                state = "revoked";
            } else if (KeyUsability.expiry(k, now) != null
                    && !KeyUsability.expiry(k, now).after(now)) {
                state = "expired";
            } else if (!k.isBoundAt(now)) {
                state = "not bound (invalid or missing signature)";
            } else {
                state = "valid";
                String fpr = KeyIds.hex(pk.getFingerprint());
                for (String skipped : status.skipped()) {
                    if (skipped.contains(fpr)) {
                        state = "not used: " + skipped.replaceFirst("^its encryption subkey " + fpr + " ", "");
                    }
                }
            }
            Date exp = KeyUsability.expiry(k, now);
            comps.add(new Component(
                    HexFormat.of().withUpperCase().formatHex(pk.getFingerprint()),
                    algorithm(pk),
                    usage(k, now),
                    KeyUsability.day(k.getCreationTime()),
                    exp == null ? "never" : KeyUsability.day(exp),
                    state));
        }
        return new KeyDescription(
                KeyIds.fingerprint(cert),
                cert.getPrimaryKey().getVersion(),
                uids,
                algorithm(cert.getPrimaryKey().getPGPPublicKey()),
                comps,
                status);
    }

    static String usage(OpenPGPComponentKey k, Date now) {
        int flags = 0;
        try {
            KeyFlags kf = k.isBoundAt(now) ? k.getKeyFlags(now) : k.getKeyFlags();
            flags = kf == null ? 0 : kf.getFlags();
        } catch (RuntimeException e) {
            flags = 0;
        }
        List<String> u = new ArrayList<>();
        if ((flags & KeyFlags.CERTIFY_OTHER) != 0) {
            u.add("certify");
        }
        if ((flags & KeyFlags.SIGN_DATA) != 0) {
            u.add("sign");
        }
        if ((flags & (KeyFlags.ENCRYPT_COMMS | KeyFlags.ENCRYPT_STORAGE)) != 0) {
            u.add("encrypt");
        }
        if ((flags & KeyFlags.AUTHENTICATION) != 0) {
            u.add("authenticate");
        }
        return u.isEmpty() ? "none" : String.join(",", u);
    }

    public static String algorithm(PGPPublicKey k) {
        int bits = k.getBitStrength();
        return switch (k.getAlgorithm()) {
            case PublicKeyAlgorithmTags.RSA_GENERAL,
                    PublicKeyAlgorithmTags.RSA_ENCRYPT,
                    PublicKeyAlgorithmTags.RSA_SIGN -> "RSA " + bits;
            case PublicKeyAlgorithmTags.DSA -> "DSA " + bits;
            case PublicKeyAlgorithmTags.ELGAMAL_ENCRYPT, PublicKeyAlgorithmTags.ELGAMAL_GENERAL -> "ElGamal " + bits;
            case PublicKeyAlgorithmTags.ECDH -> "ECDH " + curve(k);
            case PublicKeyAlgorithmTags.ECDSA -> "ECDSA " + curve(k);
            case PublicKeyAlgorithmTags.EDDSA_LEGACY -> "EdDSA " + curve(k);
            case PublicKeyAlgorithmTags.Ed25519 -> "Ed25519";
            case PublicKeyAlgorithmTags.Ed448 -> "Ed448";
            case PublicKeyAlgorithmTags.X25519 -> "X25519";
            case PublicKeyAlgorithmTags.X448 -> "X448";
            default -> "algorithm " + k.getAlgorithm();
        };
    }

    /** The name of an EC key's curve, or its OID when unknown. */
    public static String curveName(PGPPublicKey k) {
        return curve(k);
    }

    private static String curve(PGPPublicKey k) {
        String oid = "";
        try {
            if (k.getPublicKeyPacket().getKey() instanceof org.bouncycastle.bcpg.ECPublicBCPGKey ec) {
                oid = ec.getCurveOID().getId();
            }
        } catch (RuntimeException e) {
            return "";
        }
        return switch (oid) {
            case "1.3.6.1.4.1.3029.1.5.1" -> "Curve25519";
            case "1.3.6.1.4.1.11591.15.1" -> "Ed25519";
            case "1.2.840.10045.3.1.7" -> "NIST P-256";
            case "1.3.132.0.34" -> "NIST P-384";
            case "1.3.132.0.35" -> "NIST P-521";
            case "1.3.36.3.3.2.8.1.1.7" -> "brainpoolP256r1";
            case "1.3.36.3.3.2.8.1.1.11" -> "brainpoolP384r1";
            case "1.3.36.3.3.2.8.1.1.13" -> "brainpoolP512r1";
            default -> oid;
        };
    }

    /** A date as {@code yyyy-MM-dd} (UTC). */
    public static String day(Date d) {
        return KeyUsability.day(d);
    }

    /** The lines {@code key import} and {@code key show} print. */
    public List<String> lines(boolean detailed) {
        List<String> out = new ArrayList<>();
        out.add("  fingerprint: " + fingerprint + (version == 6 ? " (v6)" : ""));
        for (String u : userIds) {
            out.add("  user ID:     " + displayable(u));
        }
        if (detailed) {
            for (Component c : components) {
                out.add("  key:         " + c.keyId() + " " + c.algorithm() + " [" + c.usage() + "] created "
                        + c.created() + ", expires " + c.expires() + ", " + c.state());
            }
        } else {
            List<String> algs = new ArrayList<>();
            for (Component c : components) {
                algs.add(c.algorithm() + " [" + c.usage() + "]");
            }
            out.add("  algorithms:  " + String.join(", ", algs));
        }
        out.add("  expires:     " + status.expires().map(KeyUsability::day).orElse("never"));
        out.add("  encryption:  "
                + (status.usable() ? "yes" : "NO: " + status.reason().orElse("no encryption key")));
        return out;
    }

    /**
     * A user ID as it may be printed to a terminal: control characters (C0, DEL, C1: an escape
     * sequence in a key someone sent), line and paragraph separators and the bidirectional
     * controls (which can make text read differently from what it is) become {@code ?};
     * everything else, non-ASCII letters included, stays.
     */
    public static String displayable(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(c -> sb.appendCodePoint(unsafe(c) ? '?' : c));
        return sb.toString();
    }

    /** Whether a code point must not reach a terminal or a JSON consumer raw. */
    public static boolean unsafe(int c) {
        return Character.isISOControl(c)
                || c == 0x2028
                || c == 0x2029
                || c == 0x061C
                || c == 0x200E
                || c == 0x200F
                || (c >= 0x202A && c <= 0x202E)
                || (c >= 0x2066 && c <= 0x2069)
                || c == 0xFEFF
                || Character.getType(c) == Character.SURROGATE;
    }

    /** A JSON-ready view. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("fingerprint", fingerprint);
        m.put("version", version);
        m.put("user_ids", userIds);
        m.put("algorithm", primaryAlgorithm);
        m.put("usable", status.usable());
        m.put("reason", status.reason().orElse(null));
        m.put("expires", status.expires().map(KeyUsability::day).orElse(null));
        List<Map<String, Object>> keys = new ArrayList<>();
        for (Component c : components) {
            Map<String, Object> k = new LinkedHashMap<>();
            k.put("fingerprint", c.keyId());
            k.put("algorithm", c.algorithm());
            k.put("usage", c.usage());
            k.put("created", c.created());
            k.put("expires", c.expires());
            k.put("state", c.state());
            keys.add(k);
        }
        m.put("keys", keys);
        return m;
    }
}
