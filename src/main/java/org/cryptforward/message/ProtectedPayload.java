package org.cryptforward.message;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.james.mime4j.MimeException;
import org.apache.james.mime4j.stream.NameValuePair;
import org.apache.james.mime4j.stream.RawBody;
import org.apache.james.mime4j.stream.RawFieldParser;
import org.apache.james.mime4j.util.ByteArrayBuffer;
import org.cryptforward.core.Limits;

/**
 * The cryptographic payload of a PGP/MIME forward: the original message, every byte of it, with
 * two parameters added to its Content-Type so that a reader knows the header fields inside are the
 * protected originals: RFC 9788's {@code hp="cipher"}, and {@code protected-headers="v1"} of the
 * earlier draft, which is the only form Thunderbird, K-9 (Thunderbird for Android) and NeoMutt's
 * {@code crypt_protected_headers_read} understand today (Delta Chat sends both for that reason).
 * A parameter the original's Content-Type already has is not added again (a parameter must not
 * appear twice); the added text is exactly {@code ; hp="cipher"; protected-headers="v1"}, or the
 * one of them that is missing.
 *
 * <p>Where the original has no Content-Type, the default it stands for ({@code text/plain;
 * charset=us-ascii}, RFC 2045) is written out with the parameter, at the end of the header
 * section (followed by an empty line when the message had no header at all).
 *
 * <p>When the Subject is hidden outside ({@code protect_subject}), RFC 9788's Legacy Display
 * Element is added for readers that do not know header protection: {@code Subject: ...} and an
 * empty line at the start of the body, marked {@code hp-legacy-display="1"}. That is done only
 * where the body can take it unchanged otherwise: a single text/plain body without a
 * transfer encoding; elsewhere such readers find the Subject in the protected header. It is added
 * only when {@code hp="cipher"} is: a Content-Type that already has an {@code hp} parameter was
 * marked by someone else, and its body is left as it is.
 *
 * <p>The inline format has no inner MIME header (only the body is encrypted, see
 * {@link InlineBody}), and an already encrypted message is passed through as it is: neither
 * carries these parameters.
 */
public final class ProtectedPayload {
    static final String HP = "hp=\"cipher\"";
    static final String PROTECTED_HEADERS = "protected-headers=\"v1\"";
    static final String LEGACY = "hp-legacy-display=\"1\"";

    private ProtectedPayload() {}

    /** Bytes to insert at an offset of the original. */
    record Insertion(long offset, byte[] bytes) {}

    /** The payload; {@code hiddenSubject} is the Subject to show in a Legacy Display Element, if any. */
    public static InputStream open(HeaderSection header, Optional<String> hiddenSubject) throws IOException {
        InputMessage message = header.message();
        List<Insertion> insertions = insertions(header, hiddenSubject);
        if (insertions.isEmpty()) {
            return message.open();
        }
        List<InputStream> parts = new ArrayList<>();
        long at = 0;
        for (Insertion ins : insertions) {
            parts.add(message.open(at, ins.offset()));
            parts.add(new ByteArrayInputStream(ins.bytes()));
            at = ins.offset();
        }
        parts.add(message.open(at, message.length()));
        return new SequenceInputStream(Collections.enumeration(parts));
    }

    public static InputStream open(HeaderSection header) throws IOException {
        return open(header, Optional.empty());
    }

    static List<Insertion> insertions(HeaderSection header, Optional<String> hiddenSubject) throws IOException {
        String eol = header.usesCrlf() ? "\r\n" : "\n";
        boolean legacy = hiddenSubject.isPresent() && legacyDisplayFits(header);
        List<Insertion> out = new ArrayList<>();
        Optional<HeaderSection.Field> ct = header.first("Content-Type");
        if (ct.isPresent()) {
            HeaderSection.Field f = ct.get();
            InputMessage m = header.message();
            Set<String> present = parameterNames(header.raw(f, Limits.DEFAULT.fieldBytes()));
            List<String> add = new ArrayList<>(3);
            if (!present.contains("hp")) {
                add.add(HP);
            } else {
                legacy = false; // already protected by someone else: leave its body alone
            }
            if (!present.contains("protected-headers")) {
                add.add(PROTECTED_HEADERS);
            }
            if (present.contains("hp-legacy-display")) {
                legacy = false; // a mark of its own already: not a second one
            }
            if (legacy) {
                add.add(LEGACY);
            }
            if (!add.isEmpty()) {
                // before the field's final line end, after any trailing white space
                long end = f.end();
                byte[] tail = m.read(Math.max(f.start(), end - 2), (int) Math.min(2, f.length()));
                if (tail.length > 0 && tail[tail.length - 1] == '\n') {
                    end--;
                    if (tail.length == 2 && tail[0] == '\r') {
                        end--;
                    }
                }
                long from = Math.max(f.start(), end - 256);
                byte[] before = m.read(from, (int) (end - from));
                int k = before.length - 1;
                while (k >= 0 && (before[k] == ' ' || before[k] == '\t')) {
                    k--;
                }
                String text = (k >= 0 && before[k] == ';' ? " " : "; ") + String.join("; ", add);
                out.add(new Insertion(end, text.getBytes(StandardCharsets.US_ASCII)));
            }
        } else {
            long at = header.headerEnd();
            StringBuilder add = new StringBuilder();
            if (at > 0) {
                byte[] before = header.message().read(at - 1, 1);
                if (before.length == 1 && before[0] != '\n') {
                    add.append(eol); // the last header line had no line end (end of input)
                }
            }
            add.append("Content-Type: text/plain; charset=us-ascii; ")
                    .append(HP)
                    .append("; ")
                    .append(PROTECTED_HEADERS);
            if (legacy) {
                add.append("; ").append(LEGACY);
            }
            add.append(eol);
            if (header.fieldCount() == 0 && !header.hasSeparator()) {
                add.append(eol);
            }
            out.add(new Insertion(at, add.toString().getBytes(StandardCharsets.US_ASCII)));
        }
        if (legacy) {
            out.add(new Insertion(header.bodyStart(), legacyDisplay(header, hiddenSubject.get(), eol)));
        }
        return out;
    }

    /**
     * The lower-case names of the parameters of a raw Content-Type field, as mime4j reads them
     * (quoted strings and folding understood); where it cannot read them, every {@code name=}
     * after a semicolon.
     */
    static Set<String> parameterNames(byte[] raw) {
        Set<String> names = new HashSet<>();
        try {
            RawBody body = RawFieldParser.DEFAULT.parseRawBody(
                    RawFieldParser.DEFAULT.parseField(new ByteArrayBuffer(raw, raw.length, false)));
            for (NameValuePair p : body.getParams()) {
                if (p.getName() != null) {
                    names.add(p.getName().strip().toLowerCase(Locale.ROOT));
                }
            }
            return names;
        } catch (MimeException | RuntimeException e) {
            Matcher m = LOOSE_PARAMETER.matcher(new String(raw, StandardCharsets.ISO_8859_1));
            while (m.find()) {
                names.add(m.group(1).toLowerCase(Locale.ROOT));
            }
            return names;
        }
    }

    private static final Pattern LOOSE_PARAMETER = Pattern.compile(";\\s*([A-Za-z0-9!#$%&'*+.^_`{|}~-]+)\\s*=");

    /** A single text/plain body without transfer encoding, after a proper empty line. */
    static boolean legacyDisplayFits(HeaderSection header) throws IOException {
        String cte = header.transferEncoding();
        return header.hasSeparator()
                && header.contentType().type().equals("text/plain")
                && (cte.equals("7bit") || cte.equals("8bit") || cte.equals("binary"));
    }

    private static byte[] legacyDisplay(HeaderSection header, String subject, String eol) throws IOException {
        byte[] text = encode("Subject: " + subject, header.contentType().charset());
        byte[] end = (eol + eol).getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[text.length + end.length];
        System.arraycopy(text, 0, out, 0, text.length);
        System.arraycopy(end, 0, out, text.length, end.length);
        return out;
    }

    /** The text in the body's charset; where that cannot hold it, ASCII with '?' for the rest. */
    static byte[] encode(String text, String charset) {
        try {
            Charset cs = Charset.forName(charset);
            if (cs.newEncoder().canEncode(text)) {
                return text.getBytes(cs);
            }
        } catch (IllegalArgumentException e) {
            // unknown charset: fall through
        }
        return text.getBytes(StandardCharsets.US_ASCII);
    }
}
