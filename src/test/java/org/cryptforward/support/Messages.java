package org.cryptforward.support;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Byte-level helpers for comparing messages, written independently of the production code so
 * that a test does not check the code against itself.
 */
public final class Messages {
    private Messages() {}

    /**
     * The message without a leading mbox {@code From } line — a real one: a sender, then a ctime
     * date ({@code From : x} or {@code From } alone is part of the message).
     */
    public static byte[] withoutEnvelopeLine(byte[] input) {
        if (startsWith(input, 0, "From ")) {
            int nl = indexOf(input, (byte) '\n', 0);
            if (nl >= 0
                    && nl < 2048
                    && new String(input, 0, nl, StandardCharsets.ISO_8859_1)
                            .strip()
                            .matches(
                                    "From \\S+\\s+([A-Z][a-z]{2},? )?([A-Z][a-z]{2} +\\d{1,2}|\\d{1,2} [A-Z][a-z]{2}) .*\\d{1,2}:\\d\\d.*")) {
                return Arrays.copyOfRange(input, nl + 1, input.length);
            }
        }
        return input;
    }

    /**
     * The message without a UTF-8 byte-order mark before its first header field: the header as a
     * reader that skips the mark sees it (cryptforward does; Python's email package does not).
     */
    public static byte[] withoutByteOrderMark(byte[] m) {
        if (m.length >= 3
                && (m[0] & 0xff) == 0xEF
                && (m[1] & 0xff) == 0xBB
                && (m[2] & 0xff) == 0xBF
                && bodyStart(Arrays.copyOfRange(m, 3, m.length)) > 0) {
            return Arrays.copyOfRange(m, 3, m.length);
        }
        return m;
    }

    /** CRLF → LF (and nothing else): "byte for byte up to line endings". */
    public static byte[] lf(byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(b.length);
        for (int i = 0; i < b.length; i++) {
            if (b[i] == '\r' && i + 1 < b.length && b[i + 1] == '\n') {
                continue;
            }
            out.write(b[i]);
        }
        return out.toByteArray();
    }

    /** The parameters every PGP/MIME forward adds to the Content-Type of its inner part. */
    public static final String HP = "hp=\"cipher\"";

    public static final String PROTECTED_HEADERS = "protected-headers=\"v1\"";

    private static final String BOTH = HP + "; " + PROTECTED_HEADERS;

    /** The added text: the default Content-Type line, or the parameters appended to the original's. */
    private static List<String> marks(String params) {
        String line = "Content-Type: text/plain; charset=us-ascii; " + params;
        return List.of(
                line + "\r\n\r\n",
                line + "\n\n",
                line + "\r\n",
                line + "\n",
                "\r\n" + line + "\r\n",
                "\n" + line + "\n",
                "; " + params,
                " " + params);
    }

    /**
     * Whether {@code payload} is {@code original} with exactly the header protection parameters
     * added: {@code hp="cipher"; protected-headers="v1"} on the Content-Type, or the default
     * Content-Type line that carries them. Where the original's header already names one of the
     * two parameters, only the other may have been added. Line endings are compared as LF.
     */
    public static boolean isOriginalWithMark(byte[] original, byte[] payload) {
        String want = new String(lf(original), StandardCharsets.ISO_8859_1);
        String head = want.substring(0, bodyStart(lf(original))).toLowerCase(java.util.Locale.ROOT);
        List<String> marks = new ArrayList<>(marks(BOTH));
        if (head.contains("protected-headers")) {
            marks.addAll(marks(HP).subList(6, 8));
        }
        if (java.util.regex.Pattern.compile("[;\\s]hp\\s*=").matcher(head).find()) {
            marks.addAll(marks(PROTECTED_HEADERS).subList(6, 8));
        }
        String s = new String(payload, StandardCharsets.ISO_8859_1);
        for (String mark : marks) {
            // the mark's text may also stand in the original: try every place it occurs
            for (int i = s.indexOf(mark); i >= 0; i = s.indexOf(mark, i + 1)) {
                String without = s.substring(0, i) + s.substring(i + mark.length());
                if (new String(lf(without.getBytes(StandardCharsets.ISO_8859_1)), StandardCharsets.ISO_8859_1)
                        .equals(want)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Offset of the body: after the first empty line, or at the first line that is neither a
     * header field ({@code name:}) nor a continuation (a message without the empty line), as
     * Python's email package reads it.
     */
    public static int bodyStart(byte[] m) {
        int i = 0;
        boolean first = true;
        while (i < m.length) {
            int nl = indexOf(m, (byte) '\n', i);
            int end = nl < 0 ? m.length : nl;
            int lineLen = end - i;
            if (nl >= 0 && (lineLen == 0 || (lineLen == 1 && m[i] == '\r'))) {
                return nl + 1;
            }
            boolean continuation = !first && (m[i] == ' ' || m[i] == '\t');
            if (!continuation && !isField(m, i, end)) {
                return i;
            }
            first = false;
            if (nl < 0) {
                return m.length;
            }
            i = nl + 1;
        }
        return m.length;
    }

    private static boolean isField(byte[] m, int from, int to) {
        int i = from;
        while (i < to && m[i] > 32 && m[i] < 127 && m[i] != ':') {
            i++;
        }
        int nameEnd = i;
        while (i < to && (m[i] == ' ' || m[i] == '\t')) {
            i++;
        }
        return nameEnd > from && i < to && m[i] == ':';
    }

    /** The body lines of at least {@code minLength} visible characters, trimmed. */
    public static List<String> bodyLines(byte[] m, int minLength) {
        String body = new String(m, bodyStart(m), m.length - bodyStart(m), StandardCharsets.ISO_8859_1);
        List<String> out = new ArrayList<>();
        for (String line : body.split("\r?\n")) {
            String t = line.strip();
            if (t.length() >= minLength) {
                out.add(t);
            }
        }
        return out;
    }

    /** The raw value of the first header field with this name (folded lines kept), or null. */
    public static String headerValue(byte[] m, String name) {
        String head = new String(m, 0, bodyStart(m), StandardCharsets.ISO_8859_1);
        String[] lines = head.replace("\r\n", "\n").split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String l = lines[i];
            int colon = l.indexOf(':');
            if (colon > 0
                    && l.substring(0, colon).strip().equalsIgnoreCase(name)
                    && !l.startsWith(" ")
                    && !l.startsWith("\t")) {
                StringBuilder v = new StringBuilder(l.substring(colon + 1));
                while (i + 1 < lines.length && (lines[i + 1].startsWith(" ") || lines[i + 1].startsWith("\t"))) {
                    v.append('\n').append(lines[++i]);
                }
                return v.toString();
            }
        }
        return null;
    }

    /** Unfolded, CR removed, runs of white space (and NUL) as one space, trimmed. */
    public static String normalizeSpace(String v) {
        return v == null ? null : v.replace('\0', ' ').replaceAll("[\\s]+", " ").strip();
    }

    public static int indexOf(byte[] b, byte v, int from) {
        for (int i = from; i < b.length; i++) {
            if (b[i] == v) {
                return i;
            }
        }
        return -1;
    }

    public static boolean contains(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    private static boolean startsWith(byte[] b, int off, String s) {
        if (b.length - off < s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (b[off + i] != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
