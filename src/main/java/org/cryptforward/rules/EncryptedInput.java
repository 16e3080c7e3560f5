package org.cryptforward.rules;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.cryptforward.Limits;
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
 *   <li>S/MIME enveloped data: {@code application/pkcs7-mime} whose CMS content type is
 *       enveloped-data or authEnveloped-data (signed-only S/MIME is encrypted like anything else);
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
    static final int SAMPLE = Limits.DEFAULT.encryptedSampleBytes();
    /**
     * A multipart/mixed message is parsed for the mangled PGP/MIME forms only up to this size: a
     * larger one is encrypted again rather than read twice more (it stays unreadable to no one).
     */
    static final long MIXED_LIMIT = Limits.DEFAULT.encryptedMixedBytes();

    private EncryptedInput() {}

    /**
     * Detects an encrypted message. The header is the one {@link HeaderSection} found — the very
     * one whose end a pass-through forward starts copying at — so a header that did not end on an
     * empty line is never passed through; below it, mime4j parses only the body, and only as deep
     * as needed: multipart/encrypted is decided by its type, S/MIME and inline PGP by the start of
     * the decoded body, multipart/mixed by its parts.
     */
    public static Optional<String> detect(HeaderSection header) throws IOException {
        if (!header.hasSeparator()) {
            return Optional.empty();
        }
        HeaderSection.MediaType ct = header.contentType();
        InputMessage m = header.message();
        long bodyLength = m.length() - header.bodyStart();
        String type = ct.type();
        if (type.equals("multipart/encrypted")) {
            return Optional.of("PGP/MIME");
        }
        boolean smime = type.endsWith("pkcs7-mime");
        boolean text = type.equals("text/plain") && bodyLength <= SAMPLE;
        if (smime || text) {
            byte[] sample;
            boolean truncated;
            try (InputStream body = header.decodedBody()) {
                sample = body.readNBytes(SAMPLE);
                truncated = body.read() >= 0;
            }
            return kind(new Part(type, ct.params(), header.transferEncoding(), sample, truncated, List.of()));
        }
        String boundary = ct.param("boundary");
        if (type.equals("multipart/mixed") && boundary != null && m.length() <= MIXED_LIMIT) {
            try (InputStream body = m.open(header.bodyStart(), m.length())) {
                Part outline = MimeOutline.parse(body, "multipart/mixed; boundary=\"" + boundary.replace("\"", "") + "\"", Limits.DEFAULT.mimeDepth(), SAMPLE);
                return kind(new Part(type, ct.params(), header.transferEncoding(), new byte[0], false, outline.children()));
            } catch (IOException e) {
                // a structure that cannot be parsed is not a recognised encrypted message: it is
                // encrypted like any other (at worst twice, never sent in the clear)
                return Optional.empty();
            }
        }
        return Optional.empty();
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

    /** DER of the content types 1.2.840.113549.1.7.3 (enveloped-data) and 1.2.840.113549.1.9.16.1.23 (authEnveloped-data). */
    private static final byte[] ENVELOPED = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x07, 0x03};
    private static final byte[] AUTH_ENVELOPED = {0x06, 0x0b, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17};

    /**
     * S/MIME enveloped data, known by the content type at the start of its CMS ContentInfo —
     * not by smime-type or a .p7m name, which signed-only data may carry as well.
     */
    private static boolean isSmimeEnveloped(Part p) {
        if (!p.is("application/pkcs7-mime") && !p.is("application/x-pkcs7-mime")) {
            return false;
        }
        byte[] der = p.sample();
        int window = Math.min(der.length, 24);
        return indexOf(der, window, ENVELOPED) >= 0 || indexOf(der, window, AUTH_ENVELOPED) >= 0;
    }

    private static int indexOf(byte[] hay, int limit, byte[] needle) {
        outer:
        for (int i = 0; i <= limit && i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
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
