package org.cryptforward.message;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Copies original header fields to the outside of a forward, byte for byte where that is safe.
 *
 * <p>The original's folding is kept, with LF line ends. What could change the header's structure
 * is neutralised: a CR not part of a line end and a NUL become a space (a lone CR would otherwise
 * end the line on the wire and could start an injected field), and a physical line longer than
 * SMTP's 998 octets is folded at a space (or, lacking one, split) so no relay truncates it.
 */
public final class OuterFields {
    static final int MAX_LINE = 998;
    /** Fields longer than this are cut; the full text is inside the encryption. */
    static final int MAX_FIELD = 16 * 1024;

    private OuterFields() {}

    /** The field, sanitised, ending in LF. {@code raw} includes the name and the line end(s). */
    public static byte[] copy(byte[] raw) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length + 8);
        int lineLength = 0;
        int lastSpace = -1; // position in out of the last space/tab on the current line
        int n = Math.min(raw.length, MAX_FIELD);
        for (int i = 0; i < n; i++) {
            int b = raw[i] & 0xff;
            if (b == '\r' && i + 1 < n && raw[i + 1] == '\n') {
                continue;
            }
            if (b == '\n' || (b == '\r' && (i + 1 == n || raw[i + 1] == ' ' || raw[i + 1] == '\t'))) {
                // LF, or a bare CR that ends a line (HeaderSection reads it as one): a fold or the end
                if (i + 1 < n && (raw[i + 1] == ' ' || raw[i + 1] == '\t')) {
                    out.write('\n');
                    lineLength = 0;
                    lastSpace = -1;
                }
                continue; // the final line end is written below
            }
            if (b == '\r' || b == 0) {
                b = ' ';
            }
            if (lineLength >= MAX_LINE) {
                lineLength = fold(out, lastSpace);
                lastSpace = -1;
            }
            if ((b == ' ' || b == '\t') && lineLength > 0) {
                lastSpace = out.size();
            }
            out.write(b);
            lineLength++;
        }
        out.write('\n');
        return out.toByteArray();
    }

    /** Breaks the current line at {@code at} (a space) or at the end; returns the new line length. */
    private static int fold(ByteArrayOutputStream out, int at) {
        byte[] sofar = out.toByteArray();
        out.reset();
        if (at > 0) {
            out.write(sofar, 0, at);
            out.write('\n');
            out.write(sofar, at, sofar.length - at);
            int lineStart = at;
            return sofar.length - lineStart;
        }
        out.write(sofar, 0, sofar.length);
        out.write('\n');
        out.write(' ');
        return 1;
    }

    /** A header line from our own (ASCII) text, ending in LF. */
    public static byte[] line(String name, String value) {
        return (name + ": " + value + "\n").getBytes(StandardCharsets.UTF_8);
    }
}
