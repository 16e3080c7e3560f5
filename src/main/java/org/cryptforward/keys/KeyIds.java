package org.cryptforward.keys;

import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;

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

    /** The first bound user ID of a certificate now (the primary one if it says so), or null if it has none. */
    public static String firstUserId(OpenPGPCertificate cert) {
        return firstUserId(cert, new Date());
    }

    /** The first user ID bound at {@code now} (the primary one if it says so), or null if none is. */
    public static String firstUserId(OpenPGPCertificate cert, Date now) {
        List<UserIds.UserId> bound = UserIds.bound(cert, now);
        return bound.isEmpty() ? null : bound.get(0).text();
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

    /** An address as given ({@code <a@b>} or {@code a@b}), lower case, without the brackets. */
    public static String address(String id) {
        String wanted = id.strip().toLowerCase(Locale.ROOT);
        if (wanted.startsWith("<") && wanted.endsWith(">")) {
            wanted = wanted.substring(1, wanted.length() - 1);
        }
        return wanted;
    }

    public static boolean isEmail(String id) {
        return id.indexOf('@') > 0 && id.indexOf(' ') < 0;
    }

    /** The e-mail addresses in a certificate's user IDs bound at {@code now}, lower case. */
    public static List<String> emails(OpenPGPCertificate cert, Date now) {
        List<String> out = new ArrayList<>();
        for (UserIds.UserId uid : UserIds.bound(cert, now)) {
            String e = email(uid.text());
            if (e != null && !out.contains(e)) {
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

    /** Whether {@code id} names this certificate at {@code now}: an address only through a bound user ID. */
    public static boolean matches(OpenPGPCertificate cert, String id, Date now) {
        String hex = normalizeHex(id);
        if (hex != null) {
            return fingerprint(cert).endsWith(hex);
        }
        if (isEmail(id)) {
            return emails(cert, now).contains(address(id));
        }
        return false;
    }
}
