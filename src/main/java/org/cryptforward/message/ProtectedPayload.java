package org.cryptforward.message;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.cryptforward.Limits;

/**
 * The cryptographic payload of a PGP/MIME forward: the original message, every byte of it, with
 * RFC 9788's {@code hp="cipher"} parameter added to its Content-Type so that a reader knows the
 * header fields inside are the protected originals.
 *
 * <p>Where the original has no Content-Type, the default it stands for ({@code text/plain;
 * charset=us-ascii}, RFC 2045) is written out with the parameter, at the end of the header
 * section (followed by an empty line when the message had no header at all).
 *
 * <p>When the Subject is hidden outside ({@code protect_subject}), RFC 9788's Legacy Display
 * Element is added for readers that do not know header protection: {@code Subject: ...} and an
 * empty line at the start of the body, marked {@code hp-legacy-display="1"}. That is done only
 * where the body can take it unchanged otherwise: a single text/plain body without a
 * transfer encoding; elsewhere such readers find the Subject in the protected header.
 */
public final class ProtectedPayload {
    static final String HP = "hp=\"cipher\"";
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
        String params = legacy ? HP + "; " + LEGACY : HP;
        List<Insertion> out = new ArrayList<>();
        Optional<HeaderSection.Field> ct = header.first("Content-Type");
        if (ct.isPresent()) {
            HeaderSection.Field f = ct.get();
            InputMessage m = header.message();
            String start = new String(header.raw(f, Limits.DEFAULT.fieldBytes()), StandardCharsets.ISO_8859_1);
            if (!start.toLowerCase(Locale.ROOT).replace(" ", "").contains("hp=")) {
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
                String add = (k >= 0 && before[k] == ';' ? " " : "; ") + params;
                out.add(new Insertion(end, add.getBytes(StandardCharsets.US_ASCII)));
            } else {
                legacy = false; // already protected by someone else: leave it alone
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
            add.append("Content-Type: text/plain; charset=us-ascii; ").append(params).append(eol);
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
