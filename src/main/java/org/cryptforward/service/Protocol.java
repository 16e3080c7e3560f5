package org.cryptforward.service;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.cryptforward.core.Limits;

/**
 * The protocol between {@code cryptforward deliver} and {@code cryptforward serve}, over a Unix
 * socket. Small, versioned and length-prefixed; shared by both ends, and light enough for the
 * client, which must load few classes.
 *
 * <pre>
 * client  hello    "CFWD" VERSION(u8) LEN(u32) FIELDS        the request, before any message byte
 * service answer   "CFWD" VERSION(u8) STATUS(u8) LEN(u32) FIELDS
 *                    STATUS 0 = accepted (fields: deadline_ms, user, build)
 *                    STATUS 1 = refused (field: reason): the client delivers in-process
 * client  frames   'D' LEN data ... then 'E' 0 (end of message) or 'A' 0 (input failed: abort)
 * service frames   'O' LEN stdout bytes | 'R' LEN stderr bytes ... then 'X' 1 exit code
 * </pre>
 *
 * <p>FIELDS are {@code name NUL value NUL} pairs in UTF-8 ({@code op}, {@code config},
 * {@code recipient}, {@code sender}, {@code dry_run}, {@code debug}, {@code env.NAME}); a value
 * holds no NUL (none of arguments, paths or environment can). The framing of the hello and of
 * the answer (magic, version, [status,] length, fields) is the same in every version: a service
 * reads a hello of another version whole and answers with its own version and a refusal, so a
 * newer client falls back.
 *
 * <p>The client stops reading its standard input until it has the answer, so a refusal costs
 * nothing: the message is still there for the in-process delivery. Once the message has gone
 * over, the only end is the {@code 'X'} frame; a connection that closes without it is a 75.
 */
public final class Protocol {
    public static final int VERSION = 1;
    static final byte[] MAGIC = {'C', 'F', 'W', 'D'};
    public static final int ACCEPTED = 0;
    public static final int REFUSED = 1;

    public static final byte DATA = 'D';
    public static final byte END = 'E';
    public static final byte ABORT = 'A';
    public static final byte STDOUT = 'O';
    public static final byte STDERR = 'R';
    public static final byte EXIT = 'X';

    /** The largest hello or answer, and the largest frame. */
    public static final int MAX_FIELDS = Limits.DEFAULT.serviceHelloBytes();

    public static final int MAX_FRAME = Limits.DEFAULT.serviceFrameBytes();

    /**
     * The MTA's environment variables a delivery may look at (Postfix's and Exim's), and the only
     * ones handed over; everything else (PATH, HOME, CRYPTFORWARD_CONFIG, which the client has
     * already resolved) stays with the client.
     */
    public static final String[] ENVIRONMENT = {
        "SENDER",
        "RECIPIENT",
        "ORIGINAL_RECIPIENT",
        "LOCAL",
        "USER",
        "LOGNAME",
        "DOMAIN",
        "EXTENSION",
        "LOCAL_PART",
        "MESSAGE_ID",
        "QUALIFY_DOMAIN"
    };

    private Protocol() {}

    /** A violation of the protocol by the other end. */
    public static final class ProtocolException extends IOException {
        private static final long serialVersionUID = 1L;

        public ProtocolException(String message) {
            super(message);
        }
    }

    public static byte[] encodeFields(Map<String, String> fields) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        for (Map.Entry<String, String> e : fields.entrySet()) {
            byte[] k = e.getKey().getBytes(StandardCharsets.UTF_8);
            byte[] v = e.getValue().getBytes(StandardCharsets.UTF_8);
            out.write(k, 0, k.length);
            out.write(0);
            out.write(v, 0, v.length);
            out.write(0);
        }
        return out.toByteArray();
    }

    public static Map<String, String> decodeFields(byte[] b) throws ProtocolException {
        Map<String, String> fields = new LinkedHashMap<>();
        int i = 0;
        while (i < b.length) {
            int k = indexOf(b, i);
            int v = k < 0 ? -1 : indexOf(b, k + 1);
            if (v < 0) {
                throw new ProtocolException("malformed fields");
            }
            String name = new String(b, i, k - i, StandardCharsets.UTF_8);
            if (fields.put(name, new String(b, k + 1, v - k - 1, StandardCharsets.UTF_8)) != null) {
                throw new ProtocolException("field given twice: " + name);
            }
            i = v + 1;
        }
        return fields;
    }

    private static int indexOf(byte[] b, int from) {
        for (int i = from; i < b.length; i++) {
            if (b[i] == 0) {
                return i;
            }
        }
        return -1;
    }

    /** Writes the client's hello. */
    public static void writeHello(OutputStream out, int version, Map<String, String> fields) throws IOException {
        byte[] f = encodeFields(fields);
        byte[] head = new byte[9];
        System.arraycopy(MAGIC, 0, head, 0, 4);
        head[4] = (byte) version;
        putInt(head, 5, f.length);
        out.write(head);
        out.write(f);
        out.flush();
    }

    /** Writes the service's answer. */
    public static void writeAnswer(OutputStream out, int status, Map<String, String> fields) throws IOException {
        byte[] f = encodeFields(fields);
        byte[] head = new byte[10];
        System.arraycopy(MAGIC, 0, head, 0, 4);
        head[4] = (byte) VERSION;
        head[5] = (byte) status;
        putInt(head, 6, f.length);
        out.write(head);
        out.write(f);
        out.flush();
    }

    /** The magic and the version of a hello or an answer. */
    public static int readVersion(DataInputStream in) throws IOException {
        byte[] magic = new byte[4];
        in.readFully(magic);
        for (int i = 0; i < 4; i++) {
            if (magic[i] != MAGIC[i]) {
                throw new ProtocolException("not the cryptforward protocol");
            }
        }
        return in.readUnsignedByte();
    }

    public static byte[] readLengthPrefixed(DataInputStream in, int max) throws IOException {
        int len = in.readInt();
        if (len < 0 || len > max) {
            throw new ProtocolException("length out of bounds: " + len);
        }
        byte[] b = new byte[len];
        in.readFully(b);
        return b;
    }

    /** Writes one frame. */
    public static void writeFrame(OutputStream out, byte type, byte[] b, int off, int len) throws IOException {
        byte[] head = new byte[5];
        head[0] = type;
        putInt(head, 1, len);
        out.write(head);
        out.write(b, off, len);
    }

    static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    /**
     * A stream that reads the channel directly. Not {@code Channels.newInputStream}: that holds
     * the channel's blocking lock while it waits, so a write from another thread (the service
     * answers while it watches for its client going away) would wait for the read.
     */
    public static InputStream input(SocketChannel ch) {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) {
                    return 0;
                }
                int n = ch.read(ByteBuffer.wrap(b, off, len));
                return n; // blocking: never 0
            }

            @Override
            public void close() throws IOException {
                ch.close();
            }
        };
    }

    /** A stream that writes the channel directly (see {@link #input}). */
    public static OutputStream output(SocketChannel ch) {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                ByteBuffer bb = ByteBuffer.wrap(b, off, len);
                while (bb.hasRemaining()) {
                    ch.write(bb);
                }
            }

            @Override
            public void close() throws IOException {
                ch.close();
            }
        };
    }

    /**
     * The message as the service reads it: the data of the client's {@code 'D'} frames, ending
     * only at its {@code 'E'} frame. A connection that ends before it, or an {@code 'A'} frame,
     * is an error, never an end of input: a cut-off message must not be delivered as if whole.
     */
    public static final class MessageInput extends InputStream {
        private final DataInputStream in;
        private final Runnable atEnd;
        private int left;
        private boolean ended;

        /** {@code atEnd} runs once the whole message has arrived. */
        public MessageInput(DataInputStream in, Runnable atEnd) {
            this.in = in;
            this.atEnd = atEnd;
        }

        private boolean fill() throws IOException {
            while (left == 0 && !ended) {
                int type;
                int len;
                try {
                    type = in.readUnsignedByte();
                    len = in.readInt();
                } catch (EOFException e) {
                    throw new IOException("the client went away before the end of the message");
                }
                if (len < 0 || len > MAX_FRAME) {
                    throw new ProtocolException("frame length out of bounds: " + len);
                }
                switch (type) {
                    case DATA -> left = len;
                    case END -> {
                        if (len != 0) {
                            throw new ProtocolException("end frame with data");
                        }
                        ended = true;
                        atEnd.run();
                    }
                    case ABORT -> throw new IOException("the client could not read its standard input");
                    default -> throw new ProtocolException("unexpected frame " + type);
                }
            }
            return !ended || left > 0;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (!fill()) {
                return -1;
            }
            int n = in.read(b, off, Math.min(len, left));
            if (n < 0) {
                throw new IOException("the client went away in the middle of the message");
            }
            left -= n;
            return n;
        }

        /** Whether the end frame has been read. */
        public boolean ended() {
            return ended;
        }
    }
}
