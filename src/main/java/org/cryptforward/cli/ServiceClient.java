package org.cryptforward.cli;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.cryptforward.core.Limits;
import org.cryptforward.service.Protocol;

/**
 * {@code deliver} as a thin client of the resident service ({@code cryptforward serve}).
 *
 * <p>When the service answers on its socket and accepts the request, the message is streamed to
 * it and this process ends with the exit code and the status line the service returns. When
 * there is no socket, the connection is refused, the service speaks another protocol version,
 * refuses this user or serves another configuration — anything before the first byte of the
 * message is read — it returns null and {@code deliver} runs in this process exactly as without
 * a service. Once the message has been handed over, every doubt is a 75: the journal makes the
 * MTA's retry idempotent.
 *
 * <p>Only what this path needs is loaded: no picocli model, no Bouncy Castle, no Jakarta Mail,
 * no configuration parser. The socket is found with a scan of the configuration file for
 * {@code [service] socket} (whose value the loader restricts to plain characters, so that both
 * read it alike); anything the scan does not understand leads to the default socket, where a
 * service of another configuration refuses, and the delivery runs in-process.
 */
final class ServiceClient {
    /** How long to wait for the service's answer before delivering in-process instead. */
    static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(10);

    static final String DEFAULT_SOCKET = "/run/cryptforward/deliver.sock";
    static final String DEFAULT_CONFIG = "/etc/cryptforward/cryptforward.toml";

    private final Context context;
    private final int version;
    private volatile boolean handedOver;

    ServiceClient(Context context) {
        this(context, Protocol.VERSION);
    }

    /** A client that speaks protocol {@code version} (tests play a newer client with it). */
    ServiceClient(Context context, int version) {
        this.context = context;
        this.version = version;
    }

    /** The configuration file {@code deliver} reads: as {@code ConfigLoader.locate}, without loading it. */
    static Path configFile(Path option, Map<String, String> env) {
        if (option != null) {
            return option;
        }
        String fromEnv = env.get("CRYPTFORWARD_CONFIG");
        return fromEnv != null && !fromEnv.isBlank() ? Path.of(fromEnv) : Path.of(DEFAULT_CONFIG);
    }

    /** The exit code of the delivery done by the service, or null to deliver in-process. */
    Integer deliver(DeliverCmd cmd) {
        Path config =
                configFile(cmd.config.path, context.env()).toAbsolutePath().normalize();
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("op", "deliver");
        fields.put("config", config.toString());
        if (cmd.recipient != null) {
            fields.put("recipient", cmd.recipient);
        }
        if (cmd.sender != null) {
            fields.put("sender", cmd.sender);
        }
        fields.put("dry_run", cmd.dryRun ? "1" : "0");
        fields.put("debug", cmd.debug ? "1" : "0");
        fields.put("charset", java.nio.charset.Charset.defaultCharset().name());
        for (String name : Protocol.ENVIRONMENT) {
            String v = context.env().get(name);
            if (v != null && v.indexOf(0) < 0) {
                fields.put("env." + name, v);
            }
        }
        if (!Files.isRegularFile(config)) {
            return null; // a FIFO or device is never opened: the in-process delivery refuses it at once
        }
        Connection c = connect(socketOf(config), fields);
        if (c == null) {
            return null;
        }
        if (context.ownsProcess() && !cmd.dryRun) {
            Watchdog.arm(c.deadline, context.err());
        }
        handedOver = true;
        return c.deliver(context.in());
    }

    /** Whether the service accepted the request, so that the input is being read (or was). */
    boolean handedOver() {
        return handedOver;
    }

    /**
     * The service's answer to a ping for {@code config}: its fields ({@code user}, {@code build},
     * {@code config} when it accepts; {@code reason} when it refuses) and {@code status}
     * ({@code accepted} or {@code refused}); null when nothing answers.
     */
    Map<String, String> ping(Path socket, Path config) {
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("op", "ping");
        fields.put("config", config.toAbsolutePath().normalize().toString());
        Map<String, String> answer = new LinkedHashMap<>();
        Connection c = connect(socket, fields, answer);
        if (c != null) {
            c.close();
        }
        return answer.isEmpty() ? null : answer;
    }

    private Connection connect(Path socket, Map<String, String> fields) {
        return connect(socket, fields, new LinkedHashMap<>());
    }

    static final String SELECTOR_PROVIDER = "java.nio.channels.spi.SelectorProvider";

    /**
     * Names the JDK's own selector provider (epoll's, which it would choose anyway on Linux), so
     * that opening the socket does not look for another one on the class path: that lookup opens
     * and indexes the jar (some 15 ms and 2 MB), which nothing else of the thin client needs, its
     * classes coming from the start-up archive. Elsewhere the JDK chooses as it always does.
     */
    static void nameSelectorProvider() {
        if ("Linux".equals(System.getProperty("os.name")) && System.getProperty(SELECTOR_PROVIDER) == null) {
            System.setProperty(SELECTOR_PROVIDER, "sun.nio.ch.EPollSelectorProvider");
        }
    }

    /** Connects and hands over the request; null when the service cannot or will not take it (its answer then in {@code seen}). */
    private Connection connect(Path socket, Map<String, String> fields, Map<String, String> seen) {
        SocketChannel ch;
        try {
            nameSelectorProvider();
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException | UnsupportedOperationException | java.util.ServiceConfigurationError e) {
            return null;
        }
        Thread timer = closeAfter(ch, ANSWER_TIMEOUT);
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
            OutputStream out = new BufferedOutputStream(Protocol.output(ch), Limits.DEFAULT.ioBufferBytes() + 5);
            DataInputStream in = new DataInputStream(
                    new BufferedInputStream(Protocol.input(ch), Limits.DEFAULT.serviceReplyBufferBytes()));
            Protocol.writeHello(out, version, fields);
            int serviceVersion = Protocol.readVersion(in);
            int status = in.readUnsignedByte();
            Map<String, String> answer = Protocol.decodeFields(Protocol.readLengthPrefixed(in, Protocol.MAX_FIELDS));
            timer.interrupt();
            seen.putAll(answer);
            seen.put("status", status == Protocol.ACCEPTED && serviceVersion == version ? "accepted" : "refused");
            if (serviceVersion != version || status != Protocol.ACCEPTED) {
                ch.close();
                return null;
            }
            long ms = Long.parseLong(answer.getOrDefault("deadline_ms", "600000"));
            return new Connection(ch, in, out, Duration.ofMillis(Math.max(1000, ms)), answer);
        } catch (IOException | RuntimeException e) {
            // no socket, nobody listening, not allowed to connect, a timeout, garbage: in-process
            timer.interrupt();
            closeQuietly(ch);
            return null;
        }
    }

    private static Thread closeAfter(SocketChannel ch, Duration d) {
        Thread t = new Thread("answer-timeout") { // not a lambda: see Main
                    @Override
                    public void run() {
                        try {
                            Thread.sleep(d.toMillis());
                            ch.close();
                        } catch (InterruptedException | IOException e) {
                            // answered in time, or closed anyway
                        }
                    }
                };
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** An accepted request: stream the message, then relay the service's output and exit code. */
    private final class Connection {
        final SocketChannel ch;
        final DataInputStream in;
        final OutputStream out;
        final Duration deadline;
        final Map<String, String> answer;

        Connection(
                SocketChannel ch, DataInputStream in, OutputStream out, Duration deadline, Map<String, String> answer) {
            this.ch = ch;
            this.in = in;
            this.out = out;
            this.deadline = deadline;
            this.answer = answer;
        }

        int deliver(InputStream stdin) {
            try {
                send(stdin);
            } catch (IOException e) {
                // the service stopped reading (it failed early, or went away): its answer, if any, tells
            }
            try {
                return results();
            } finally {
                close();
            }
        }

        private void send(InputStream stdin) throws IOException {
            byte[] buf = new byte[Limits.DEFAULT.ioBufferBytes()];
            while (true) {
                int n;
                try {
                    n = stdin.read(buf);
                } catch (IOException e) {
                    Protocol.writeFrame(out, Protocol.ABORT, buf, 0, 0);
                    out.flush();
                    return;
                }
                if (n < 0) {
                    break;
                }
                if (n > 0) {
                    Protocol.writeFrame(out, Protocol.DATA, buf, 0, n);
                }
            }
            Protocol.writeFrame(out, Protocol.END, buf, 0, 0);
            out.flush();
        }

        private int results() {
            try {
                while (true) {
                    int type = in.readUnsignedByte();
                    byte[] b = Protocol.readLengthPrefixed(in, Protocol.MAX_FRAME);
                    switch (type) {
                        case Protocol.STDOUT -> context.out().write(b, 0, b.length);
                        case Protocol.STDERR -> context.err().write(b, 0, b.length);
                        case Protocol.EXIT -> {
                            context.out().flush();
                            context.err().flush();
                            int code = b.length == 1 ? b[0] & 0xff : -1;
                            if (code == 0 || code == 64 || code == 69 || code == 75) {
                                return code;
                            }
                            return lost("an exit code it may not give (" + code + ")");
                        }
                        default -> {
                            return lost("an unknown frame");
                        }
                    }
                }
            } catch (IOException e) {
                return lost("no result");
            }
        }

        private int lost(String what) {
            context.out().flush();
            context.err().println("4.3.0 cryptforward: the delivery service sent " + what + "; the MTA will retry");
            context.err().flush();
            return 75;
        }

        void close() {
            closeQuietly(ch);
        }
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    /** Where the service of {@code config} listens: its {@code [service] socket}, else the default. */
    static Path socketOf(Path config) {
        byte[] text;
        try {
            if (!Files.isRegularFile(config) || Files.size(config) > Limits.DEFAULT.configFileBytes()) {
                // a FIFO or device is never opened
                return Path.of(DEFAULT_SOCKET);
            }
            text = Files.readAllBytes(config);
        } catch (IOException | SecurityException e) {
            // unreadable by this user: a service that serves this file may still take the message
            return Path.of(DEFAULT_SOCKET);
        }
        String found = scanSocket(new String(text, StandardCharsets.ISO_8859_1));
        return Path.of(found == null ? DEFAULT_SOCKET : found);
    }

    /**
     * The value of {@code socket} in the {@code [service]} table (or of {@code service.socket} at
     * the top), when written plainly: a basic or literal string of the characters the loader
     * allows. Null otherwise.
     */
    static String scanSocket(String text) {
        boolean top = true;
        boolean inService = false;
        String found = null;
        for (String raw : text.split("\n", -1)) {
            String line = stripComment(raw).strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.charAt(0) == '[') {
                top = false;
                inService = line.startsWith("[")
                        && !line.startsWith("[[")
                        && line.endsWith("]")
                        && line.substring(1, line.length() - 1).strip().equals("service");
                continue;
            }
            String rest = null;
            if (inService) {
                rest = after(line, "socket");
            } else if (top) {
                String s = after(line, "service");
                if (s != null && s.startsWith(".")) {
                    rest = after(s.substring(1).strip(), "socket");
                }
            }
            if (rest == null || !rest.startsWith("=")) {
                continue;
            }
            String value = rest.substring(1).strip();
            if (value.length() < 3
                    || (value.charAt(0) != '"' && value.charAt(0) != '\'')
                    || value.charAt(value.length() - 1) != value.charAt(0)) {
                return null;
            }
            String v = value.substring(1, value.length() - 1);
            if (!plainPath(v)) {
                return null;
            }
            found = v;
        }
        return found;
    }

    private static String after(String line, String word) {
        if (!line.startsWith(word)) {
            return null;
        }
        String rest = line.substring(word.length());
        if (!rest.isEmpty()
                && (Character.isLetterOrDigit(rest.charAt(0)) || rest.charAt(0) == '_' || rest.charAt(0) == '-')) {
            return null;
        }
        return rest.strip();
    }

    /** The line without a comment; a {@code #} inside a string on the line ends nothing. */
    private static String stripComment(String line) {
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                }
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '#') {
                return line.substring(0, i);
            }
        }
        return line;
    }

    /** What the loader accepts as {@code socket}: {@code /[A-Za-z0-9._+@/-]*}, at most 100 characters. */
    static boolean plainPath(String v) {
        if (v.isEmpty() || v.charAt(0) != '/' || v.length() > 100) {
            return false;
        }
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z')
                    || (c >= 'A' && c <= 'Z')
                    || (c >= '0' && c <= '9')
                    || ".+_@/-".indexOf(c) >= 0;
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
