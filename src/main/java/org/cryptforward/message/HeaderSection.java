package org.cryptforward.message;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.james.mime4j.MimeException;
import org.apache.james.mime4j.codec.Base64InputStream;
import org.apache.james.mime4j.codec.DecodeMonitor;
import org.apache.james.mime4j.codec.QuotedPrintableInputStream;
import org.apache.james.mime4j.stream.NameValuePair;
import org.apache.james.mime4j.stream.RawBody;
import org.apache.james.mime4j.stream.RawFieldParser;
import org.apache.james.mime4j.util.ByteArrayBuffer;
import org.cryptforward.core.Limits;

/**
 * The top-level header section of a message, located by byte offsets and never re-encoded.
 *
 * <p>A field starts with a name of printable US-ASCII followed by a colon (white space before the
 * colon is tolerated) and continues over lines that start with a space or tab. The section ends
 * at the first empty line; a line that is neither a field nor a continuation (a message without
 * the empty line, or without any header) also ends it and begins the body, as lenient readers do.
 * Line ends may be CRLF, LF, a bare CR or a mix: a message whose lines end in CR alone is read as
 * lines, never as one long field.
 *
 * <p>A UTF-8 byte-order mark before the first field (some editors and Windows tools write one)
 * is skipped: the field starts after it, so it is read and copied outside without the mark. The
 * message itself, the local copy and the encrypted original, keep it.
 *
 * <p>To keep memory bounded whatever the input, only fields whose names are asked for are
 * remembered, at most {@link Limits#headerFieldsPerName()} of each.
 */
public final class HeaderSection {
    public static final int MAX_PER_NAME = Limits.DEFAULT.headerFieldsPerName();
    /** The longest field name considered: a line of SMTP's 998 octets, less the colon. */
    private static final int MAX_NAME = Limits.DEFAULT.headerNameBytes();
    /** The UTF-8 byte-order mark. */
    private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

    /** One header field: its name and the bytes {@code [start, end)} including its line end(s). */
    public record Field(String name, long start, long end) {
        public long length() {
            return end - start;
        }
    }

    private final InputMessage message;
    private final Map<String, List<Field>> fields;
    private final int fieldCount;
    private final long headerEnd;
    private final long bodyStart;
    private final boolean crlf;

    private HeaderSection(
            InputMessage message,
            Map<String, List<Field>> fields,
            int fieldCount,
            long headerEnd,
            long bodyStart,
            boolean crlf) {
        this.message = message;
        this.fields = fields;
        this.fieldCount = fieldCount;
        this.headerEnd = headerEnd;
        this.bodyStart = bodyStart;
        this.crlf = crlf;
    }

    /**
     * Scans the header section of {@code message}, remembering the fields named in {@code wanted}
     * (lower case).
     */
    public static HeaderSection parse(InputMessage message, Set<String> wanted) throws IOException {
        Map<String, List<Field>> found = new HashMap<>();
        int count = 0;
        boolean crlf = false;
        boolean firstLine = true;
        String currentName = null;
        long currentStart = -1;
        long headerEnd;
        long bodyStart;
        try (Scanner in = new Scanner(message.open())) {
            in.skipByteOrderMark();
            while (true) {
                long lineStart = in.offset();
                int first = in.peek();
                if (first < 0) {
                    headerEnd = bodyStart = lineStart;
                    break;
                }
                if (first == '\n' || first == '\r') {
                    headerEnd = lineStart;
                    in.skipLine();
                    bodyStart = in.offset();
                    if (firstLine) {
                        crlf = first == '\r';
                    }
                    break;
                }
                if (first == ' ' || first == '\t') {
                    if (currentName == null) {
                        headerEnd = bodyStart = lineStart;
                        break;
                    }
                    boolean endedCrlf = in.skipLine();
                    if (firstLine) {
                        crlf = endedCrlf;
                    }
                    continue;
                }
                String name = in.fieldName();
                if (name == null) {
                    headerEnd = bodyStart = lineStart;
                    break;
                }
                if (currentName != null) {
                    remember(found, wanted, currentName, currentStart, lineStart);
                }
                currentName = name;
                currentStart = lineStart;
                count++;
                boolean endedCrlf = in.skipLine();
                if (firstLine) {
                    crlf = endedCrlf;
                    firstLine = false;
                }
            }
            if (currentName != null) {
                remember(found, wanted, currentName, currentStart, headerEnd);
            }
        }
        return new HeaderSection(message, found, count, headerEnd, bodyStart, crlf);
    }

    private static void remember(
            Map<String, List<Field>> found, Set<String> wanted, String name, long start, long end) {
        String key = name.toLowerCase(Locale.ROOT);
        if (!wanted.contains(key)) {
            return;
        }
        List<Field> list = found.computeIfAbsent(key, k -> new ArrayList<>(1));
        if (list.size() < MAX_PER_NAME) {
            list.add(new Field(name, start, end));
        }
    }

    public InputMessage message() {
        return message;
    }

    /** All remembered fields of that name, in order. */
    public List<Field> all(String name) {
        return fields.getOrDefault(name.toLowerCase(Locale.ROOT), List.of());
    }

    public Optional<Field> first(String name) {
        List<Field> list = all(name);
        return list.isEmpty() ? Optional.empty() : Optional.of(list.get(0));
    }

    /** How many fields the section has (all names). */
    public int fieldCount() {
        return fieldCount;
    }

    /** Where the header section ends: the offset of the empty line, or of the first body line. */
    public long headerEnd() {
        return headerEnd;
    }

    /** Where the body starts. */
    public long bodyStart() {
        return bodyStart;
    }

    /** Whether an empty line separates header and body. */
    public boolean hasSeparator() {
        return bodyStart > headerEnd;
    }

    /** Whether the message's first line ends in CRLF. */
    public boolean usesCrlf() {
        return crlf;
    }

    /** The raw bytes of a field, name and line ends included, at most {@code limit} of them. */
    public byte[] raw(Field f, int limit) throws IOException {
        return message.read(f.start(), (int) Math.min(limit, f.length()));
    }

    /**
     * The field's value: unfolded, RFC 2047 words decoded, raw 8-bit bytes read as UTF-8 (or
     * ISO-8859-1 where they are not UTF-8), surrounding white space removed. At most
     * {@code limit} raw bytes are considered.
     */
    public String value(Field f, int limit) throws IOException {
        byte[] raw = raw(f, limit);
        int colon = 0;
        while (colon < raw.length && raw[colon] != ':') {
            colon++;
        }
        return HeaderValues.decode(raw, Math.min(colon + 1, raw.length), raw.length);
    }

    /** The value of the first field of that name, if any. */
    public Optional<String> value(String name, int limit) throws IOException {
        Optional<Field> f = first(name);
        return f.isPresent() ? Optional.of(value(f.get(), limit)) : Optional.empty();
    }

    /** A parsed Content-Type: the lower-case type and the parameters (names lower case). */
    public record MediaType(String type, Map<String, String> params) {
        public String param(String name) {
            return params.get(name.toLowerCase(Locale.ROOT));
        }

        /** The charset parameter, {@code us-ascii} when there is none (RFC 2045's default). */
        public String charset() {
            String c = param("charset");
            return c == null || c.isBlank() ? "us-ascii" : c;
        }
    }

    /**
     * The top-level Content-Type, parsed by mime4j; {@code text/plain} (with no parameters) when
     * the message has none or it cannot be parsed, as RFC 2045 says.
     */
    public MediaType contentType() throws IOException {
        Optional<Field> ct = first("Content-Type");
        if (ct.isPresent()) {
            byte[] raw = raw(ct.get(), Limits.DEFAULT.fieldBytes());
            try {
                RawBody body = RawFieldParser.DEFAULT.parseRawBody(
                        RawFieldParser.DEFAULT.parseField(new ByteArrayBuffer(raw, raw.length, false)));
                String type =
                        body.getValue() == null ? "" : body.getValue().strip().toLowerCase(Locale.ROOT);
                if (type.matches("[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")) {
                    Map<String, String> params = new HashMap<>();
                    for (NameValuePair p : body.getParams()) {
                        if (p.getName() != null) {
                            params.putIfAbsent(
                                    p.getName().toLowerCase(Locale.ROOT), p.getValue() == null ? "" : p.getValue());
                        }
                    }
                    return new MediaType(type, params);
                }
            } catch (MimeException | RuntimeException e) {
                // an unparseable Content-Type counts as the default
            }
        }
        return new MediaType("text/plain", Map.of());
    }

    /** The top-level Content-Transfer-Encoding, lower case; {@code 7bit} when absent. */
    public String transferEncoding() throws IOException {
        return value("Content-Transfer-Encoding", 1024)
                .map(v -> v.toLowerCase(Locale.ROOT))
                .filter(v -> !v.isEmpty())
                .orElse("7bit");
    }

    /** The body, decoded from its transfer encoding (base64, quoted-printable) by mime4j. */
    public InputStream decodedBody() throws IOException {
        InputStream raw = message.open(bodyStart, message.length());
        return switch (transferEncoding()) {
            case "base64" -> new Base64InputStream(raw, DecodeMonitor.SILENT);
            case "quoted-printable" -> new QuotedPrintableInputStream(raw, DecodeMonitor.SILENT);
            default -> raw;
        };
    }

    /** Reads lines of the header with its own buffer, keeping track of the offset. */
    private static final class Scanner implements AutoCloseable {
        private final InputStream in;
        private final byte[] buf = new byte[Limits.DEFAULT.ioBufferBytes()];
        private int pos;
        private int len;
        private long base;

        Scanner(InputStream in) {
            this.in = in;
        }

        long offset() {
            return base + pos;
        }

        private boolean ensure(int n) throws IOException {
            if (len - pos >= n) {
                return true;
            }
            if (pos > 0) {
                System.arraycopy(buf, pos, buf, 0, len - pos);
                base += pos;
                len -= pos;
                pos = 0;
            }
            while (len < n) {
                int r = in.read(buf, len, buf.length - len);
                if (r < 0) {
                    return false;
                }
                len += r;
            }
            return true;
        }

        int peek() throws IOException {
            return peekAt(0);
        }

        int peekAt(int i) throws IOException {
            return ensure(i + 1) ? buf[pos + i] & 0xff : -1;
        }

        /**
         * Skips to after the end of the line — LF, CRLF or a bare CR: the section is read the same
         * whatever the line ends — or to the end; returns whether the line ended in CRLF.
         */
        boolean skipLine() throws IOException {
            while (true) {
                if (pos >= len && !ensure(1)) {
                    return false;
                }
                int limit = len;
                for (int i = pos; i < limit; i++) {
                    byte b = buf[i];
                    if (b == '\n') {
                        pos = i + 1;
                        return false;
                    }
                    if (b == '\r') {
                        pos = i + 1;
                        if (peek() == '\n') {
                            pos++;
                            return true;
                        }
                        return false;
                    }
                }
                pos = limit;
            }
        }

        /** Skips a UTF-8 byte-order mark at the start when a field name follows it. */
        void skipByteOrderMark() throws IOException {
            ensure(BOM.length + MAX_NAME + 2);
            if (len - pos >= BOM.length
                    && buf[pos] == BOM[0]
                    && buf[pos + 1] == BOM[1]
                    && buf[pos + 2] == BOM[2]
                    && fieldNameAt(pos + BOM.length) != null) {
                pos += BOM.length;
            }
        }

        /** The field name at the current position if the line starts a field, else null. */
        String fieldName() throws IOException {
            ensure(MAX_NAME + 2);
            return fieldNameAt(pos);
        }

        private String fieldNameAt(int start) {
            int i = start;
            int limit = Math.min(len, start + MAX_NAME + 2);
            while (i < limit && buf[i] > 32 && buf[i] < 127 && buf[i] != ':') {
                i++;
            }
            int nameEnd = i;
            while (i < limit && (buf[i] == ' ' || buf[i] == '\t')) {
                i++;
            }
            if (nameEnd == start || i >= limit || buf[i] != ':') {
                return null;
            }
            return new String(buf, start, nameEnd - start, StandardCharsets.US_ASCII);
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
