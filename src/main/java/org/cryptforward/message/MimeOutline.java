package org.cryptforward.message;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.james.mime4j.MimeException;
import org.apache.james.mime4j.codec.DecodeMonitor;
import org.apache.james.mime4j.stream.BodyDescriptor;
import org.apache.james.mime4j.stream.EntityState;
import org.apache.james.mime4j.stream.Field;
import org.apache.james.mime4j.stream.MimeConfig;
import org.apache.james.mime4j.stream.MimeTokenStream;
import org.apache.james.mime4j.stream.NameValuePair;
import org.apache.james.mime4j.stream.RawBody;
import org.apache.james.mime4j.stream.RawField;
import org.apache.james.mime4j.stream.RawFieldParser;
import org.apache.james.mime4j.stream.RecursionMode;
import org.cryptforward.Limits;

/**
 * The top of a message's MIME tree, as mime4j parses it: each entity's type, Content-Type
 * parameters, transfer encoding and the first bytes of its decoded body. Parsing is streaming and
 * bounded: a line or header field over {@link Limits#mimeLineBytes()} bytes ends it, nested messages
 * (message/rfc822) are not entered, entities deeper than {@code maxDepth} are skipped whole, and
 * at most {@code sampleBytes} of each body are kept.
 */
public final class MimeOutline {
    /**
     * Lines and header fields longer than this end the parse (the structure is then unknown):
     * mime4j holds a header line in memory, and a 30 MB one does not fit the delivery's heap.
     */
    static final int MAX_LINE = Limits.DEFAULT.mimeLineBytes();
    static final int MAX_FIELDS = Limits.DEFAULT.mimeFields();

    private MimeOutline() {}

    /** One entity. */
    public record Part(String type, Map<String, String> params, String transferEncoding, byte[] sample, boolean truncated,
            List<Part> children) {

        public boolean is(String mimeType) {
            return type.equals(mimeType);
        }

        public String param(String name) {
            return params.get(name.toLowerCase(Locale.ROOT));
        }
    }

    public static Part parse(InputStream in, int maxDepth, int sampleBytes) throws IOException {
        return parse(in, null, maxDepth, sampleBytes);
    }

    /**
     * Parses a body whose header has been read elsewhere: {@code contentType} is the value of its
     * Content-Type field (mime4j's headless mode). Null parses {@code in} as a whole message.
     */
    public static Part parse(InputStream in, String contentType, int maxDepth, int sampleBytes) throws IOException {
        MimeConfig config = new MimeConfig.Builder()
                .setMaxLineLen(MAX_LINE)
                .setMaxHeaderLen(MAX_LINE)
                .setMaxHeaderCount(MAX_FIELDS)
                .setMaxContentLen(-1)
                .setMalformedHeaderStartsBody(true)
                .build();
        MimeTokenStream stream = new MimeTokenStream(config, DecodeMonitor.SILENT, null);
        stream.setRecursionMode(RecursionMode.M_NO_RECURSE);
        Deque<Builder> open = new ArrayDeque<>();
        Builder root = null;
        if (contentType == null) {
            stream.parse(in);
        } else {
            stream.parseHeadless(in, contentType);
            root = new Builder(0);
            open.push(root);
        }
        try {
            for (EntityState state = stream.getState(); state != EntityState.T_END_OF_STREAM; state = stream.next()) {
                switch (state) {
                    case T_START_MESSAGE, T_START_BODYPART -> {
                        Builder b = new Builder(open.size());
                        if (root == null) {
                            root = b;
                        } else if (!open.isEmpty() && open.peek().depth < maxDepth) {
                            open.peek().children.add(b);
                        }
                        open.push(b);
                    }
                    case T_FIELD -> {
                        Field f = stream.getField();
                        if (!open.isEmpty() && f.getName().equalsIgnoreCase("Content-Type") && open.peek().params == null) {
                            open.peek().params = params(f);
                        }
                    }
                    case T_END_HEADER -> {
                        // below the depth of interest, a multipart is read as one opaque body
                        stream.setRecursionMode(open.peek().depth + 1 >= maxDepth ? RecursionMode.M_FLAT : RecursionMode.M_NO_RECURSE);
                    }
                    case T_START_MULTIPART -> describe(open.peek(), stream.getBodyDescriptor());
                    case T_BODY -> {
                        Builder b = open.peek();
                        describe(b, stream.getBodyDescriptor());
                        if (b.depth < maxDepth) {
                            try (InputStream body = stream.getDecodedInputStream()) {
                                b.sample = body.readNBytes(sampleBytes);
                                b.truncated = body.read() >= 0;
                            }
                        }
                    }
                    case T_END_MESSAGE, T_END_BODYPART -> open.pop();
                    default -> {
                        // preamble, epilogue, multipart markers: nothing to keep
                    }
                }
            }
        } catch (MimeException | RuntimeException e) {
            // mime4j gives up on some malformed structures (and has thrown IllegalStateException
            // from its boundary reader on fuzzed input): the structure is then unknown
            throw new IOException("MIME structure: " + e.getMessage(), e);
        }
        if (root == null) {
            root = new Builder(0);
            root.type = "text/plain";
        }
        return root.build();
    }

    private static void describe(Builder b, BodyDescriptor d) {
        b.type = d.getMimeType() == null ? "text/plain" : d.getMimeType().toLowerCase(Locale.ROOT);
        b.transferEncoding = d.getTransferEncoding() == null ? "7bit" : d.getTransferEncoding().toLowerCase(Locale.ROOT);
    }

    private static Map<String, String> params(Field f) {
        Map<String, String> out = new HashMap<>();
        try {
            RawField raw = f instanceof RawField r ? r : RawFieldParser.DEFAULT.parseField(f.getRaw());
            RawBody body = RawFieldParser.DEFAULT.parseRawBody(raw);
            for (NameValuePair p : body.getParams()) {
                if (p.getName() != null) {
                    out.putIfAbsent(p.getName().toLowerCase(Locale.ROOT), p.getValue() == null ? "" : p.getValue());
                }
            }
        } catch (MimeException | RuntimeException e) {
            // unparseable parameters: none
        }
        return out;
    }

    private static final class Builder {
        final int depth;
        final List<Builder> children = new ArrayList<>();
        String type = "text/plain";
        String transferEncoding = "7bit";
        Map<String, String> params;
        byte[] sample = new byte[0];
        boolean truncated;

        Builder(int depth) {
            this.depth = depth;
        }

        Part build() {
            List<Part> kids = new ArrayList<>(children.size());
            for (Builder c : children) {
                kids.add(c.build());
            }
            return new Part(type, params == null ? Map.of() : params, transferEncoding, sample, truncated, kids);
        }
    }
}
