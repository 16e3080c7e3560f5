package org.cryptforward.message;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.cryptforward.core.Limits;

/**
 * Copies original header fields to the outside of a forward, byte for byte where that is safe.
 *
 * <p>The original's folding is kept, with LF line ends. What could change the header's structure
 * is neutralised: a CR not part of a line end and a NUL become a space (a lone CR would otherwise
 * end the line on the wire and could start an injected field), and a physical line longer than
 * SMTP's 998 octets is folded at a space (or, lacking one, between two characters) so no relay
 * truncates it.
 *
 * <p>A field longer than {@link Limits#outerFieldBytes()} octets (16 KiB) is cut (the whole of it travels inside the
 * encryption) at a folding point: the last white space in the last KiB before the bound, so that
 * whole words and addresses stay whole. Where there is none (one long run of adjacent encoded
 * words, or of text without spaces), and where a long line without a space is folded, the break
 * never falls inside an RFC 2047 encoded word or inside a UTF-8 sequence: it goes before the
 * encoded word it would split, that is between it and the adjacent encoded word before it (where
 * a reader ignores the fold), else back to the start of the UTF-8 character. White space left at
 * the end of a cut field is dropped.
 */
public final class OuterFields {
    static final int MAX_LINE = Limits.DEFAULT.outputLineBytes();
    /** Fields longer than this are cut; the full text is inside the encryption. */
    static final int MAX_FIELD = Limits.DEFAULT.outerFieldBytes();
    /** An RFC 2047 encoded word: {@code =?charset?B-or-Q?text?=}, no white space inside. */
    private static final Pattern ENCODED_WORD = Pattern.compile("=\\?[^?\\s]+\\?[bBqQ]\\?[^?\\s]*\\?=");

    private OuterFields() {}

    /** The field, sanitised, ending in LF. {@code raw} includes the name and the line end(s). */
    public static byte[] copy(byte[] raw) {
        int n = raw.length;
        if (n > MAX_FIELD) {
            // at the last white space (a folding point) in the last KiB before the bound, else
            // at the last place that splits no encoded word and no character
            int floor = nameEnd(raw);
            int space = MAX_FIELD;
            while (space > floor && space > MAX_FIELD - 1024 && !isSpace(raw[space])) {
                space--;
            }
            n = space > floor && isSpace(raw[space]) ? space : safeBreak(raw, n, MAX_FIELD, floor);
            while (n > 0 && isSpace(raw[n - 1])) {
                n--;
            }
        }
        // the field as logical text: folds as LF and white space, no CR, no NUL, no final line end
        ByteArrayOutputStream text = new ByteArrayOutputStream(n + 8);
        for (int i = 0; i < n; i++) {
            int b = raw[i] & 0xff;
            if (b == '\r' && i + 1 < n && raw[i + 1] == '\n') {
                continue;
            }
            if (b == '\n' || (b == '\r' && (i + 1 == n || raw[i + 1] == ' ' || raw[i + 1] == '\t'))) {
                // LF, or a bare CR that ends a line (HeaderSection reads it as one): a fold or the end
                if (i + 1 < n && (raw[i + 1] == ' ' || raw[i + 1] == '\t')) {
                    text.write('\n');
                }
                continue; // the final line end is written below
            }
            if (b == '\r' || b == 0) {
                b = ' ';
            }
            text.write(b);
        }
        byte[] t = text.toByteArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream(t.length + 16);
        int cur = 0; // where the current physical line's text starts in t
        boolean indent = false; // whether a space was inserted before it (a fold with no space of its own)
        while (true) {
            int nl = cur;
            while (nl < t.length && t[nl] != '\n') {
                nl++;
            }
            int room = MAX_LINE - (indent ? 1 : 0);
            if (nl - cur <= room) {
                if (indent) {
                    out.write(' ');
                }
                out.write(t, cur, nl - cur);
                out.write('\n');
                if (nl >= t.length) {
                    return out.toByteArray();
                }
                cur = nl + 1;
                indent = false;
                continue;
            }
            int limit = cur + room;
            int space = limit;
            while (space > cur && t[space] != ' ' && t[space] != '\t') {
                space--;
            }
            int at;
            if (space > cur) {
                at = space; // the next line starts with that space
            } else {
                at = safeBreak(t, t.length, limit, cur);
            }
            if (indent) {
                out.write(' ');
            }
            out.write(t, cur, at - cur);
            out.write('\n');
            indent = space <= cur;
            cur = at;
        }
    }

    /**
     * The last position at or before {@code limit} (and after {@code floor}) where {@code b[0, len)}
     * may be broken: not inside an encoded word, not inside a UTF-8 sequence. {@code limit} itself
     * when there is no such place.
     */
    static int safeBreak(byte[] b, int len, int limit, int floor) {
        int at = limit;
        if (at >= len) {
            return len;
        }
        // an encoded word is at most 75 octets (RFC 2047); 1 KiB either side is ample for the sloppy ones
        int base = Math.max(0, Math.max(floor, limit - 1024));
        Matcher m = ENCODED_WORD.matcher(
                new String(b, base, Math.min(len, limit + 1024) - base, StandardCharsets.ISO_8859_1));
        int from = 0;
        while (m.find(from) && base + m.start() < at) {
            if (base + m.end() > at) {
                at = base + m.start(); // before the encoded word it would split
                break;
            }
            from = m.end();
        }
        for (int k = 0; k < 3 && at > floor && (b[at] & 0xc0) == 0x80; k++) {
            at--; // back to the lead byte of the UTF-8 character
        }
        return at > floor ? at : limit;
    }

    private static int nameEnd(byte[] raw) {
        for (int i = 0; i < raw.length && i < 256; i++) {
            if (raw[i] == ':') {
                return i + 1;
            }
        }
        return 0;
    }

    private static boolean isSpace(byte b) {
        return b == ' ' || b == '\t' || b == '\r' || b == '\n';
    }

    /** A header line from our own (ASCII) text, ending in LF. */
    public static byte[] line(String name, String value) {
        return (name + ": " + value + "\n").getBytes(StandardCharsets.UTF_8);
    }
}
