package org.cryptforward.rules;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.MimeOutline;
import org.cryptforward.message.MimeOutline.Part;

/**
 * Recognises mail that is already encrypted, so that it is forwarded as it is and never
 * encrypted a second time:
 *
 * <ul>
 *   <li>PGP/MIME: {@code multipart/encrypted} (RFC 3156, RFC 1847);
 *   <li>S/MIME enveloped data: {@code application/pkcs7-mime} with {@code smime-type}
 *       {@code enveloped-data} or {@code authEnveloped-data} (or, lacking the parameter, a
 *       {@code .p7m} name);
 *   <li>inline PGP: a {@code text/plain} body that is nothing but an armored PGP message;
 *   <li>PGP/MIME as Exchange and Google Workspace mangle it: a {@code multipart/mixed} whose
 *       parts are empty text parts plus either an encrypted entity or the two parts of PGP/MIME
 *       ({@code application/pgp-encrypted} and the armored message).
 * </ul>
 *
 * A plain message that merely quotes an armor line is not encrypted: the armor must be all there
 * is. Signed-only mail is not encrypted either. Nested messages (message/rfc822, e.g. a bounce
 * that carries an encrypted original) are not looked into.
 */
public final class EncryptedInput {
    static final String BEGIN = "-----BEGIN PGP MESSAGE-----";
    static final String END = "-----END PGP MESSAGE-----";

    /** A text body larger than this is not one inline PGP message worth detecting. */
    static final int SAMPLE = 256 * 1024;
    /**
     * A multipart/mixed message is parsed for the mangled PGP/MIME forms only up to this size: a
     * larger one is encrypted again rather than read twice more (it stays unreadable to no one).
     */
    static final long MIXED_LIMIT = 32L << 20;

    private EncryptedInput() {}

    /**
     * Detects an encrypted message, looking only as deep as needed: the top-level Content-Type
     * decides most cases; the MIME structure is parsed for multipart/mixed and small text bodies.
     */
    public static Optional<String> detect(HeaderSection header) throws IOException {
        HeaderSection.MediaType ct = header.contentType();
        InputMessage m = header.message();
        boolean small = m.length() - header.bodyStart() <= SAMPLE;
        boolean worthParsing = ct.type().equals("multipart/encrypted")
                || (ct.type().equals("multipart/mixed") && m.length() <= MIXED_LIMIT)
                || ct.type().endsWith("pkcs7-mime")
                || (ct.type().equals("text/plain") && small);
        if (!worthParsing) {
            return Optional.empty();
        }
        try (InputStream in = m.open()) {
            return kind(MimeOutline.parse(in, 3, SAMPLE));
        } catch (IOException e) {
            // a structure that cannot be parsed is not a recognised encrypted message: it is
            // encrypted like any other (at worst twice, never sent in the clear)
            return Optional.empty();
        }
    }

    /** What kind of encrypted message this is, or empty. */
    public static Optional<String> kind(Part root) {
        if (root.is("multipart/encrypted")) {
            return Optional.of("PGP/MIME");
        }
        if (isSmimeEnveloped(root)) {
            return Optional.of("S/MIME");
        }
        if (isInlinePgp(root)) {
            return Optional.of("inline PGP");
        }
        if (root.is("multipart/mixed") && isMangledPgpMime(root)) {
            return Optional.of("PGP/MIME (mangled by the sender's mail system)");
        }
        return Optional.empty();
    }

    private static boolean isSmimeEnveloped(Part p) {
        if (!p.is("application/pkcs7-mime") && !p.is("application/x-pkcs7-mime")) {
            return false;
        }
        String smimeType = p.param("smime-type");
        if (smimeType != null) {
            return smimeType.equalsIgnoreCase("enveloped-data") || smimeType.equalsIgnoreCase("authEnveloped-data");
        }
        String name = p.param("name");
        return name != null && name.toLowerCase(java.util.Locale.ROOT).endsWith(".p7m");
    }

    /** A text body that is one armored PGP message and nothing else. */
    private static boolean isInlinePgp(Part p) {
        if (!p.is("text/plain") || p.truncated()) {
            return false;
        }
        String text = new String(p.sample(), StandardCharsets.ISO_8859_1).strip();
        return text.startsWith(BEGIN) && text.endsWith(END) && text.indexOf(BEGIN, 1) < 0;
    }

    private static boolean isArmoredData(Part p) {
        if (p.truncated()) {
            return false;
        }
        String text = new String(p.sample(), StandardCharsets.ISO_8859_1).strip();
        return text.startsWith(BEGIN) && text.endsWith(END);
    }

    private static boolean isEmptyText(Part p) {
        if (!p.is("text/plain") || p.truncated()) {
            return false;
        }
        for (byte b : p.sample()) {
            if (Character.isLetterOrDigit(b & 0xff)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isMangledPgpMime(Part root) {
        boolean versionPart = false;
        boolean dataPart = false;
        boolean encryptedEntity = false;
        for (Part c : root.children()) {
            if (isEmptyText(c)) {
                continue;
            }
            if (c.is("application/pgp-encrypted")
                    && new String(c.sample(), StandardCharsets.ISO_8859_1).strip().equalsIgnoreCase("Version: 1")) {
                versionPart = true;
            } else if (c.is("application/octet-stream") && isArmoredData(c)) {
                dataPart = true;
            } else if (c.is("multipart/encrypted") || isSmimeEnveloped(c)) {
                encryptedEntity = true;
            } else {
                return false; // anything else may be plaintext
            }
        }
        return (versionPart && dataPart && !encryptedEntity) || (encryptedEntity && !versionPart && !dataPart);
    }
}
