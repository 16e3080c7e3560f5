package org.cryptforward.message;

import java.io.FilterInputStream;
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
import org.cryptforward.core.Limits;

/**
 * The top of a message's MIME tree, as mime4j parses it: each entity's place (its path of child
 * indices), type, Content-Type parameters, transfer encoding and the first bytes of its decoded
 * body. Parsing is streaming and bounded: a line or header field over {@link Limits#mimeLineBytes()} bytes
 * ends it, nested messages (message/rfc822) are not entered, entities deeper than
 * {@code maxDepth} are skipped whole, at most {@code sampleBytes} of each body are kept, and a
 * structure of more than {@link Limits#mimeParts()} entities is not outlined at all (an IOException: the
 * structure is then unknown, and the message is treated as opaque).
 *
 * <p>{@link #openBody} walks the same structure again, in the same way, to the decoded body of
 * one entity, so that what was examined and what is later read are the same bytes.
 */
public final class MimeOutline {
    /**
     * Lines and header fields longer than this end the parse (the structure is then unknown):
     * mime4j holds a header line in memory, and a 30 MB one does not fit the delivery's heap.
     */
    static final int MAX_LINE = Limits.DEFAULT.mimeLineBytes();

    static final int MAX_FIELDS = Limits.DEFAULT.mimeFields();
    /** Entities outlined at most: a million empty parts must not become a million objects. */
    public static final int MAX_PARTS = Limits.DEFAULT.mimeParts();

    private MimeOutline() {}

    /** One entity; {@code path} is the list of child indices from the root (empty for the root). */
    public record Part(
            List<Integer> path,
            String type,
            Map<String, String> params,
            String transferEncoding,
            byte[] sample,
            boolean truncated,
            List<Part> children) {

        public boolean is(String mimeType) {
            return type.equals(mimeType);
        }

        public String param(String name) {
            return params.get(name.toLowerCase(Locale.ROOT));
        }

        public boolean isMultipart() {
            return type.startsWith("multipart/");
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
        Walk walk = new Walk(in, contentType, maxDepth);
        Builder root = walk.root;
        int parts = 0;
        try {
            for (EntityState state = walk.state(); state != EntityState.T_END_OF_STREAM; state = walk.next()) {
                switch (state) {
                    case T_START_MESSAGE, T_START_BODYPART -> {
                        if (++parts > MAX_PARTS) {
                            throw new IOException("MIME structure: more than " + MAX_PARTS + " parts");
                        }
                        Builder b = walk.open.peek();
                        if (root == null) {
                            root = b;
                        } else if (b.parent != null && b.parent.depth < maxDepth) {
                            b.parent.children.add(b);
                        }
                    }
                    case T_FIELD -> {
                        Field f = walk.stream.getField();
                        Builder b = walk.open.peek();
                        if (b != null && f.getName().equalsIgnoreCase("Content-Type") && b.params == null) {
                            b.params = params(f);
                        }
                    }
                    case T_START_MULTIPART -> describe(walk.open.peek(), walk.stream.getBodyDescriptor());
                    case T_BODY -> {
                        Builder b = walk.open.peek();
                        describe(b, walk.stream.getBodyDescriptor());
                        if (b.depth < maxDepth) {
                            try (InputStream body = walk.stream.getDecodedInputStream()) {
                                b.sample = body.readNBytes(sampleBytes);
                                b.truncated = body.read() >= 0;
                            }
                        }
                    }
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
            root = new Builder(null, 0, List.of());
            root.type = "text/plain";
        }
        return root.build();
    }

    /**
     * The decoded body (transfer encoding undone) of the entity at {@code path}, walking the
     * structure exactly as {@link #parse} does. Closing the stream closes {@code in}.
     */
    public static InputStream openBody(InputStream in, String contentType, int maxDepth, List<Integer> path)
            throws IOException {
        Walk walk = new Walk(in, contentType, maxDepth);
        try {
            for (EntityState state = walk.state(); state != EntityState.T_END_OF_STREAM; state = walk.next()) {
                if (state == EntityState.T_BODY && walk.open.peek().path.equals(path)) {
                    return new FilterInputStream(walk.stream.getDecodedInputStream()) {
                        @Override
                        public void close() throws IOException {
                            in.close();
                        }
                    };
                }
            }
        } catch (MimeException | RuntimeException e) {
            in.close();
            throw new IOException("MIME structure: " + e.getMessage(), e);
        }
        in.close();
        throw new IOException("MIME structure: no entity at " + path);
    }

    /** mime4j's token stream, with the open entities and their paths tracked the same way for both uses. */
    private static final class Walk {
        final MimeTokenStream stream;
        final Deque<Builder> open = new ArrayDeque<>();
        final int maxDepth;
        Builder root;

        Walk(InputStream in, String contentType, int maxDepth) {
            MimeConfig config = new MimeConfig.Builder()
                    .setMaxLineLen(MAX_LINE)
                    .setMaxHeaderLen(MAX_LINE)
                    .setMaxHeaderCount(MAX_FIELDS)
                    .setMaxContentLen(-1)
                    .setMalformedHeaderStartsBody(true)
                    .build();
            this.maxDepth = maxDepth;
            stream = new MimeTokenStream(config, DecodeMonitor.SILENT, null);
            stream.setRecursionMode(RecursionMode.M_NO_RECURSE);
            if (contentType == null) {
                stream.parse(in);
            } else {
                stream.parseHeadless(in, contentType);
                root = new Builder(null, 0, List.of());
                open.push(root);
            }
            track(stream.getState());
        }

        EntityState state() {
            return stream.getState();
        }

        EntityState next() throws IOException, MimeException {
            EntityState s = stream.next();
            track(s);
            return s;
        }

        private void track(EntityState s) {
            switch (s) {
                case T_START_MESSAGE, T_START_BODYPART -> {
                    Builder parent = open.peek();
                    Builder b;
                    if (parent == null) {
                        b = new Builder(null, 0, List.of());
                    } else {
                        List<Integer> path = new ArrayList<>(parent.path);
                        path.add(parent.childCount++);
                        b = new Builder(parent, open.size(), List.copyOf(path));
                    }
                    open.push(b);
                }
                case T_END_HEADER -> {
                    // below the depth of interest, a multipart is read as one opaque body
                    Builder b = open.peek();
                    stream.setRecursionMode(
                            b != null && b.depth + 1 >= maxDepth ? RecursionMode.M_FLAT : RecursionMode.M_NO_RECURSE);
                }
                case T_END_MESSAGE, T_END_BODYPART -> open.pop();
                default -> {
                    // nothing to track
                }
            }
        }
    }

    private static void describe(Builder b, BodyDescriptor d) {
        b.type = d.getMimeType() == null ? "text/plain" : d.getMimeType().toLowerCase(Locale.ROOT);
        b.transferEncoding = d.getTransferEncoding() == null
                ? "7bit"
                : d.getTransferEncoding().toLowerCase(Locale.ROOT);
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
        final Builder parent;
        final int depth;
        final List<Integer> path;
        final List<Builder> children = new ArrayList<>();
        int childCount;
        String type = "text/plain";
        String transferEncoding = "7bit";
        Map<String, String> params;
        byte[] sample = new byte[0];
        boolean truncated;

        Builder(Builder parent, int depth, List<Integer> path) {
            this.parent = parent;
            this.depth = depth;
            this.path = path;
        }

        Part build() {
            List<Part> kids = new ArrayList<>(children.size());
            for (Builder c : children) {
                kids.add(c.build());
            }
            return new Part(path, type, params == null ? Map.of() : params, transferEncoding, sample, truncated, kids);
        }
    }
}
