package org.cryptforward.keys;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.api.OpenPGPCertificate.OpenPGPUserId;

/** How users name keys: a fingerprint, a 16+ hex-digit suffix of one, or an e-mail address. */
public final class KeyIds {
    private KeyIds() {}

    public static String fingerprint(OpenPGPCertificate cert) {
        return hex(cert.getFingerprint());
    }

    /** Upper-case hex, as fingerprints are shown. */
    public static String hex(byte[] bytes) {
        return HexFormat.of().withUpperCase().formatHex(bytes);
    }

    /** The first user ID of a certificate (the primary one if it says so), or null if it has none. */
    public static String firstUserId(OpenPGPCertificate cert) {
        try {
            OpenPGPUserId primary = cert.getPrimaryUserId();
            if (primary != null) {
                return primary.getUserId();
            }
        } catch (RuntimeException e) {
            // no valid self-signature: fall back to the first one stored
        }
        List<OpenPGPUserId> all = cert.getAllUserIds();
        return all.isEmpty() ? null : all.get(0).getUserId();
    }

    /** A fingerprint or suffix with spaces and a {@code 0x} prefix removed, upper case; null if not hex. */
    public static String normalizeHex(String id) {
        String s = id.replace(" ", "").strip();
        if (s.startsWith("0x") || s.startsWith("0X")) {
            s = s.substring(2);
        }
        if (s.length() < 16 || !s.matches("[0-9A-Fa-f]+")) {
            return null;
        }
        return s.toUpperCase(Locale.ROOT);
    }

    public static boolean isEmail(String id) {
        return id.indexOf('@') > 0 && id.indexOf(' ') < 0;
    }

    /** The e-mail addresses in a certificate's user IDs, lower case. */
    public static List<String> emails(OpenPGPCertificate cert) {
        List<String> out = new ArrayList<>();
        for (OpenPGPUserId uid : cert.getAllUserIds()) {
            String e = email(uid.getUserId());
            if (e != null) {
                out.add(e);
            }
        }
        return out;
    }

    /** The address in a user ID such as {@code Name <a@b>} or {@code a@b}; null if none. */
    public static String email(String userId) {
        if (userId == null) {
            return null;
        }
        int lt = userId.lastIndexOf('<');
        int gt = userId.lastIndexOf('>');
        String candidate = lt >= 0 && gt > lt ? userId.substring(lt + 1, gt) : userId.strip();
        return isEmail(candidate) ? candidate.toLowerCase(Locale.ROOT) : null;
    }

    /** Whether {@code id} names this certificate. */
    public static boolean matches(OpenPGPCertificate cert, String id) {
        String hex = normalizeHex(id);
        if (hex != null) {
            return fingerprint(cert).endsWith(hex);
        }
        if (isEmail(id)) {
            String wanted = id.strip().toLowerCase(Locale.ROOT);
            if (wanted.startsWith("<") && wanted.endsWith(">")) {
                wanted = wanted.substring(1, wanted.length() - 1);
            }
            return emails(cert).contains(wanted);
        }
        return false;
    }
}
