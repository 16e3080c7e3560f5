package org.cryptforward.message;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The cryptographic payload of a PGP/MIME forward: the original message, every byte of it, with
 * RFC 9788's {@code hp="cipher"} parameter added to its Content-Type so that a reader knows the
 * header fields inside are the protected originals.
 *
 * <p>Where the original has no Content-Type, the default it stands for ({@code text/plain;
 * charset=us-ascii}, RFC 2045) is written out with the parameter, at the end of the header
 * section (preceded by an empty line when the message had no header at all). Nothing else changes.
 */
public final class ProtectedPayload {
    static final String HP = "hp=\"cipher\"";
    static final String DEFAULT_TYPE = "Content-Type: text/plain; charset=us-ascii; " + HP;

    private ProtectedPayload() {}

    /** Where to insert what into the original, or nothing when it already says hp. */
    record Insertion(long offset, byte[] bytes) {}

    public static InputStream open(HeaderSection header) throws IOException {
        InputMessage message = header.message();
        Optional<Insertion> ins = insertion(header);
        if (ins.isEmpty()) {
            return message.open();
        }
        long at = ins.get().offset();
        return new SequenceInputStream(java.util.Collections.enumeration(List.of(
                message.open(0, at), new ByteArrayInputStream(ins.get().bytes()), message.open(at, message.length()))));
    }

    static Optional<Insertion> insertion(HeaderSection header) throws IOException {
        String eol = header.usesCrlf() ? "\r\n" : "\n";
        Optional<HeaderSection.Field> ct = header.first("Content-Type");
        if (ct.isPresent()) {
            HeaderSection.Field f = ct.get();
            InputMessage m = header.message();
            String start = new String(header.raw(f, 64 * 1024), StandardCharsets.ISO_8859_1);
            if (start.toLowerCase(Locale.ROOT).replace(" ", "").contains("hp=")) {
                return Optional.empty();
            }
            // insert before the field's final line end, after any trailing white space
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
            String add = k >= 0 && before[k] == ';' ? " " + HP : "; " + HP;
            return Optional.of(new Insertion(end, add.getBytes(StandardCharsets.US_ASCII)));
        }
        long at = header.headerEnd();
        StringBuilder add = new StringBuilder();
        if (at > 0) {
            byte[] before = header.message().read(at - 1, 1);
            if (before.length == 1 && before[0] != '\n') {
                add.append(eol); // the last header line had no line end (end of input)
            }
        }
        add.append(DEFAULT_TYPE).append(eol);
        if (header.fieldCount() == 0 && !header.hasSeparator()) {
            add.append(eol);
        }
        return Optional.of(new Insertion(at, add.toString().getBytes(StandardCharsets.US_ASCII)));
    }
}
