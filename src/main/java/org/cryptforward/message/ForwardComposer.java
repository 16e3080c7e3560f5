package org.cryptforward.message;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.cryptforward.config.Config;
import org.cryptforward.core.Dates;
import org.cryptforward.core.Limits;
import org.cryptforward.crypto.Encryptor;

/**
 * Writes the messages cryptforward sends: the PGP/MIME forward (RFC 3156) and the content-free
 * notice sent when no key can be used.
 *
 * <p>Outside a forward: the original From and Subject, byte for byte (see {@link OuterFields});
 * To = the forward address; a fresh Date and Message-ID; the message IDs of In-Reply-To and References kept so
 * threads hold together; the loop marker. Nothing else of the original: its whole header section
 * travels inside the encryption.
 *
 * <p>Inside a PGP/MIME forward: the original message, its Content-Type marked {@code hp="cipher";
 * protected-headers="v1"} (see {@link ProtectedPayload}), so that RFC 9788 readers as well as
 * Thunderbird, K-9 and NeoMutt take its header fields for the protected ones. An inline forward
 * encrypts the body alone and has no inner header to mark; a passed-through message keeps its
 * sender's ciphertext untouched.
 */
public final class ForwardComposer {
    static final String PREAMBLE = "This is an OpenPGP/MIME encrypted message (RFC 4880, RFC 3156).\n";
    private static final int FIELD_LIMIT = Limits.DEFAULT.fieldBytes();
    /** The Subject shown outside when it is protected, as RFC 9788 suggests. */
    public static final String HIDDEN_SUBJECT = "[...]";

    private final String hostname;
    private final Clock clock;
    private final SecureRandom random;
    private final Encryptor encryptor;

    public ForwardComposer(String hostname, Clock clock, SecureRandom random) {
        this.hostname = hostname;
        this.clock = clock;
        this.random = random;
        this.encryptor = new Encryptor(random);
    }

    /**
     * The PGP/MIME forward of the message to {@code to}, encrypted for {@code keys}.
     *
     * @param fallbackFrom the From address to show when the original has none
     * @param protectSubject show {@code [...]} as the Subject outside; the real one stays inside
     */
    public OutboundMessage pgpMime(
            HeaderSection header, String to, List<PGPPublicKey> keys, String fallbackFrom, boolean protectSubject)
            throws IOException {
        String boundary = "=_cf" + hex(12);
        Optional<String> hiddenSubject = protectSubject ? header.value("Subject", FIELD_LIMIT) : Optional.empty();
        return forward(header, to, fallbackFrom, protectSubject, out -> {
            out.write(pgpMimeHead(boundary));
            try (InputStream payload = ProtectedPayload.open(header, hiddenSubject)) {
                encrypt(payload, out, keys, Map.of());
            }
            out.write(ascii("\n--" + boundary + "--\n"));
        });
    }

    /**
     * The inline forward, as the classic recipe made it: a text/plain message whose body is the
     * armored encryption of the original body — decoded from its transfer encoding, still in its
     * charset, which the armor's {@code Charset} header names. Only for a text/plain original;
     * the caller falls back to PGP/MIME for anything else.
     */
    public OutboundMessage inline(
            HeaderSection header, String to, List<PGPPublicKey> keys, String fallbackFrom, boolean protectSubject)
            throws IOException {
        // the armor's Charset header stands outside the encryption: a known charset's own name
        // only, never the text of the original's parameter
        String charset = knownCharset(header.contentType().charset());
        Optional<String> hiddenSubject = protectSubject ? header.value("Subject", FIELD_LIMIT) : Optional.empty();
        return forward(header, to, fallbackFrom, protectSubject, out -> {
            out.write(ascii("MIME-Version: 1.0\n"
                    + "Content-Type: text/plain; charset=us-ascii\n"
                    + "Content-Transfer-Encoding: 7bit\n"
                    + "\n"));
            try (InputStream body = InlineBody.open(header, hiddenSubject)) {
                encrypt(
                        body,
                        out,
                        keys,
                        Map.of(ArmoredOutputStream.CHARSET_HDR, charset.isEmpty() ? "us-ascii" : charset));
            }
        });
    }

    /** How verified ciphertext is wrapped when it is forwarded as it is. */
    public enum Wrapping {
        /** multipart/encrypted (RFC 3156), for OpenPGP from PGP/MIME in any of its forms. */
        PGP_MIME,
        /** text/plain with the armored message as the body, for inline PGP. */
        INLINE,
        /** application/pkcs7-mime; smime-type=enveloped-data. */
        SMIME_ENVELOPED,
        /** application/pkcs7-mime; smime-type=authEnveloped-data. */
        SMIME_AUTH_ENVELOPED
    }

    /** Opens the verified ciphertext, as binary (OpenPGP packets or CMS DER), each time it is asked. */
    public interface Ciphertext {
        InputStream open() throws IOException;
    }

    /**
     * An already encrypted message, forwarded as it is: the outer header exactly as for an
     * encrypted forward, then a fresh MIME structure around the ciphertext alone, armored or
     * base64-encoded by us. Nothing else of the original body leaves — no preamble or epilogue,
     * no MIME field or parameter, no armor header, no other part — and nothing is encrypted a
     * second time. {@code ciphertext} must have been verified (see EncryptedInput).
     */
    public OutboundMessage passThrough(
            HeaderSection header,
            String to,
            String fallbackFrom,
            boolean protectSubject,
            Wrapping wrapping,
            Ciphertext ciphertext) {
        String boundary = "=_cf" + hex(12);
        return forward(header, to, fallbackFrom, protectSubject, out -> {
            switch (wrapping) {
                case PGP_MIME -> {
                    out.write(pgpMimeHead(boundary));
                    armor(ciphertext, out);
                    out.write(ascii("\n--" + boundary + "--\n"));
                }
                case INLINE -> {
                    out.write(ascii("MIME-Version: 1.0\n"
                            + "Content-Type: text/plain; charset=us-ascii\n"
                            + "Content-Transfer-Encoding: 7bit\n"
                            + "\n"));
                    armor(ciphertext, out);
                }
                case SMIME_ENVELOPED, SMIME_AUTH_ENVELOPED -> {
                    String smimeType = wrapping == Wrapping.SMIME_ENVELOPED ? "enveloped-data" : "authEnveloped-data";
                    out.write(ascii("MIME-Version: 1.0\n"
                            + "Content-Type: application/pkcs7-mime; smime-type=" + smimeType + "; name=\"smime.p7m\"\n"
                            + "Content-Transfer-Encoding: base64\n"
                            + "Content-Disposition: attachment; filename=\"smime.p7m\"\n"
                            + "\n"));
                    try (InputStream in = ciphertext.open();
                            OutputStream b64 = java.util.Base64.getMimeEncoder(76, new byte[] {'\n'})
                                    .wrap(new Unclosed(out))) {
                        in.transferTo(b64);
                    }
                    out.write('\n');
                }
                default -> throw new IllegalStateException(wrapping.toString());
            }
        });
    }

    /** Our own armor of the verified packets: no header of the original's armor comes along. */
    private static void armor(Ciphertext ciphertext, OutputStream out) throws IOException {
        try (InputStream in = ciphertext.open();
                ArmoredOutputStream armor =
                        ArmoredOutputStream.builder().clearHeaders().build(new Unclosed(out))) {
            in.transferTo(armor);
        }
    }

    /** Passes writes on, but not close: the message goes on after the part. */
    private static final class Unclosed extends java.io.FilterOutputStream {
        Unclosed(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            out.flush();
        }
    }

    /** {@code name} as written if it names a charset the JDK knows (so it is no free text), else us-ascii. */
    static String knownCharset(String name) {
        try {
            return name.matches("[A-Za-z0-9._:+-]{1,40}") && java.nio.charset.Charset.isSupported(name)
                    ? name
                    : "us-ascii";
        } catch (RuntimeException e) {
            return "us-ascii";
        }
    }

    /** What follows the outer header of a forward. */
    private interface Body {
        void writeTo(OutputStream out) throws IOException;
    }

    /** A forward: the outer header (see the class comment), then {@code body}. */
    private OutboundMessage forward(
            HeaderSection header, String to, String fallbackFrom, boolean protectSubject, Body body) {
        String messageId = newMessageId();
        return new OutboundMessage() {
            @Override
            public void writeTo(OutputStream out) throws IOException {
                writeOuterHeader(out, header, to, messageId, fallbackFrom, protectSubject);
                body.writeTo(out);
            }

            @Override
            public String messageId() {
                return messageId;
            }
        };
    }

    private void encrypt(InputStream plain, OutputStream out, List<PGPPublicKey> keys, Map<String, String> armorHeaders)
            throws IOException {
        try (OutputStream enc = encryptor.open(out, keys, armorHeaders)) {
            plain.transferTo(enc);
        } catch (PGPException e) {
            throw new IOException("encryption failed: " + e.getMessage(), e);
        }
    }

    /**
     * The content-free notice: which message, from whom, when, where the local copy is and why it
     * could not be encrypted. No Subject of the original, no body, no other header.
     */
    public OutboundMessage notice(
            String to,
            String originalMessageId,
            String envelopeSender,
            String receivedAt,
            String localCopy,
            String reason) {
        String messageId = newMessageId();
        String body = "cryptforward on " + hostname + " kept a message for you locally but did not forward it,\n"
                + "because it could not be encrypted:\n"
                + "\n"
                + "    " + printable(reason, 2000) + "\n"
                + "\n"
                + "Message-ID:       " + noticeMessageId(originalMessageId) + "\n"
                + "Envelope sender:  <" + printable(envelopeSender) + ">\n"
                + "Received:         " + receivedAt + "\n"
                + "Local copy:       " + printable(localCopy) + "\n"
                + "\n"
                + "Nothing of the message's content is in this notice. Import a usable key with\n"
                + "`cryptforward key import` and check with `cryptforward check`.\n";
        return new OutboundMessage() {
            @Override
            public void writeTo(OutputStream out) throws IOException {
                out.write(ascii("From: cryptforward <MAILER-DAEMON@" + hostname + ">\n"
                        + "To: " + to + "\n"
                        + "Subject: cryptforward: a message could not be encrypted\n"
                        + "Date: " + date() + "\n"
                        + "Message-ID: " + messageId + "\n"
                        + Config.LOOP_HEADER + ": " + hostname + "\n"
                        + "Auto-Submitted: auto-generated\n"
                        + "MIME-Version: 1.0\n"
                        + "Content-Type: text/plain; charset=us-ascii\n"
                        + "Content-Transfer-Encoding: 7bit\n"
                        + "\n"
                        + body));
            }

            @Override
            public String messageId() {
                return messageId;
            }
        };
    }

    private void writeOuterHeader(
            OutputStream out,
            HeaderSection header,
            String to,
            String messageId,
            String fallbackFrom,
            boolean protectSubject)
            throws IOException {
        Optional<HeaderSection.Field> from = header.first("From");
        if (from.isPresent()) {
            out.write(OuterFields.copy(header.raw(from.get(), FIELD_LIMIT)));
        } else {
            out.write(OuterFields.line(
                    "From", fallbackFrom.isEmpty() ? "MAILER-DAEMON@" + hostname : "<" + fallbackFrom + ">"));
        }
        Optional<HeaderSection.Field> subject = header.first("Subject");
        if (subject.isPresent()) {
            out.write(
                    protectSubject
                            ? OuterFields.line("Subject", HIDDEN_SUBJECT)
                            : OuterFields.copy(header.raw(subject.get(), FIELD_LIMIT)));
        }
        out.write(OuterFields.line("To", to));
        out.write(OuterFields.line("Date", date()));
        out.write(OuterFields.line("Message-ID", messageId));
        for (String name : List.of("In-Reply-To", "References")) {
            Optional<HeaderSection.Field> f = header.first(name);
            Optional<String> value = header.value(name, FIELD_LIMIT);
            if (f.isEmpty() || value.isEmpty()) {
                continue;
            }
            if (MESSAGE_ID.matcher(value.get()).replaceAll("").isBlank()) {
                out.write(OuterFields.copy(header.raw(f.get(), FIELD_LIMIT))); // message IDs only: as it was
            } else {
                String ids = messageIds(value.get());
                if (!ids.isEmpty()) {
                    out.write(OuterFields.copy((name + ": " + ids + "\n").getBytes(StandardCharsets.US_ASCII)));
                }
            }
        }
        out.write(OuterFields.line(Config.LOOP_HEADER, hostname));
    }

    /**
     * The start of a PGP/MIME body (RFC 3156): the top-level fields, the version part and the
     * header of the data part, whose armored message follows.
     */
    private static byte[] pgpMimeHead(String boundary) {
        return ascii("MIME-Version: 1.0\n"
                + "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\n"
                + " boundary=\"" + boundary + "\"\n"
                + "\n"
                + PREAMBLE
                + "\n--" + boundary + "\n"
                + "Content-Type: application/pgp-encrypted\n"
                + "Content-Description: PGP/MIME version identification\n"
                + "\n"
                + "Version: 1\n"
                + "\n--" + boundary + "\n"
                + "Content-Type: application/octet-stream; name=\"encrypted.asc\"\n"
                + "Content-Description: OpenPGP encrypted message\n"
                + "Content-Disposition: inline; filename=\"encrypted.asc\"\n"
                + "\n");
    }

    /** An RFC 5322 msg-id: printable ASCII in angle brackets, with an {@code @}. */
    private static final Pattern MESSAGE_ID = Pattern.compile("<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>");

    /**
     * The message identifiers of an In-Reply-To or References value, and nothing else: free text
     * beside them (comments, phrases, anything a sender put there) stays inside the encryption. A
     * field of message IDs alone is copied as it was, byte for byte.
     */
    static String messageIds(String value) {
        StringBuilder ids = new StringBuilder();
        Matcher m = MESSAGE_ID.matcher(value);
        while (m.find()) {
            if (ids.length() > 0) {
                ids.append(' ');
            }
            ids.append(m.group());
        }
        return ids.toString();
    }

    /**
     * The original's Message-ID as a notice shows it: its message identifiers alone, as the outer
     * In-Reply-To and References carry them ({@link #messageIds}); free text a sender put beside
     * them, or instead of them, is not shown outside the encryption.
     */
    static String noticeMessageId(String value) {
        String ids = value == null ? "" : messageIds(value);
        return ids.isEmpty() ? "(none)" : printable(ids);
    }

    String date() {
        return Dates.rfc5322(ZonedDateTime.now(clock));
    }

    String newMessageId() {
        return "<" + Long.toString(clock.millis(), 36) + "." + hex(8) + "@" + hostname + ">";
    }

    private String hex(int bytes) {
        byte[] b = new byte[bytes];
        random.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** Text safe for a notice body: printable ASCII only, bounded. */
    static String printable(String s) {
        return printable(s, 300);
    }

    static String printable(String s, int max) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() < max; i++) {
            char c = s.charAt(i);
            sb.append(c >= 32 && c < 127 ? c : '?');
        }
        return sb.toString();
    }
}
