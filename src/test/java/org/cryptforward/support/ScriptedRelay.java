package org.cryptforward.support;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * An SMTP server on 127.0.0.1 that answers as scripted: a chosen reply at a chosen step
 * (greeting, EHLO, MAIL, RCPT, DATA, end of data), or silence (to test timeouts), or a dropped
 * connection — at every occurrence of the step ({@link #at(Step, Action)}) or only at its n-th
 * occurrence over all sessions ({@link #at(Step, int, Action)}, e.g. "the second message gets a
 * 451"); and a pause before the replies at a step ({@link #pause}). It records every message it
 * accepted with 250 and every session's commands.
 */
public final class ScriptedRelay implements AutoCloseable {
    /** Where in the SMTP dialogue a scripted reply applies. */
    public enum Step {
        GREETING,
        EHLO,
        MAIL,
        RCPT,
        DATA,
        END_OF_DATA
    }

    /** What to do at a step instead of the normal reply. */
    public record Action(String reply, boolean hangs, boolean drops) {
        public static Action reply(String line) {
            return new Action(line, false, false);
        }

        public static Action silence() {
            return new Action(null, true, false);
        }

        public static Action disconnect() {
            return new Action(null, false, true);
        }
    }

    private final ServerSocket server;
    private final Map<Step, Action> script = Collections.synchronizedMap(new EnumMap<>(Step.class));
    private final Map<Step, Map<Integer, Action>> nth = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<Step, AtomicInteger> occurrences = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<Step, java.time.Duration> pauses = new java.util.concurrent.ConcurrentHashMap<>();
    private final List<byte[]> accepted = Collections.synchronizedList(new ArrayList<>());
    private final List<String> commands = Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger sessions = new AtomicInteger();
    private final Thread acceptor;
    private final SSLContext tls;
    private volatile java.nio.file.Path spoolDir;
    private final List<java.nio.file.Path> acceptedFiles = Collections.synchronizedList(new ArrayList<>());
    private volatile String user;
    private volatile long dropDuringData = -1;
    private volatile String password;
    private volatile boolean closed;
    private volatile boolean smtpUtf8;

    /** A plain SMTP server. */
    public ScriptedRelay() {
        this(null, false);
    }

    /**
     * With a TLS context: {@code implicitTls} serves TLS from the first byte (port 465 style),
     * otherwise STARTTLS is offered.
     */
    public ScriptedRelay(SSLContext tls, boolean implicitTls) {
        this.tls = tls;
        try {
            server = implicitTls
                    ? tls.getServerSocketFactory().createServerSocket(0, 50, InetAddress.getLoopbackAddress())
                    : new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        acceptor = new Thread(this::acceptLoop, "scripted-relay");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** Writes accepted messages to files in {@code dir} instead of keeping them in memory (for huge messages). */
    public ScriptedRelay spoolTo(java.nio.file.Path dir) {
        this.spoolDir = dir;
        return this;
    }

    /** The files of the messages accepted while spooling to a directory. */
    public List<java.nio.file.Path> acceptedFiles() {
        synchronized (acceptedFiles) {
            return new ArrayList<>(acceptedFiles);
        }
    }

    /** Drops the connection once this many bytes of a message have arrived (negative: never). */
    public ScriptedRelay dropDuringData(long afterBytes) {
        this.dropDuringData = afterBytes;
        return this;
    }

    /** Offers SMTPUTF8 (RFC 6531) in the EHLO reply, or not. */
    public ScriptedRelay smtpUtf8(boolean offer) {
        this.smtpUtf8 = offer;
        return this;
    }

    /** Requires AUTH PLAIN or LOGIN with these credentials before MAIL. */
    public ScriptedRelay requireAuth(String user, String password) {
        this.user = user;
        this.password = password;
        return this;
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Sets (or with null, clears) the scripted action at a step. */
    public ScriptedRelay at(Step step, Action action) {
        if (action == null) {
            script.remove(step);
        } else {
            script.put(step, action);
        }
        return this;
    }

    /** Sets the action for the {@code occurrence}-th time (from 1, counted over all sessions) the step comes. */
    public ScriptedRelay at(Step step, int occurrence, Action action) {
        nth.computeIfAbsent(step, k -> new java.util.concurrent.ConcurrentHashMap<>())
                .put(occurrence, action);
        return this;
    }

    /** Waits this long before every reply at {@code step} (e.g. a slow relay, to make two clients overlap). */
    public ScriptedRelay pause(Step step, java.time.Duration pause) {
        pauses.put(step, pause);
        return this;
    }

    public ScriptedRelay clear() {
        script.clear();
        nth.clear();
        pauses.clear();
        dropDuringData = -1;
        return this;
    }

    /** The messages accepted with 250 at the end of DATA, as received (dot-unstuffed, CRLF). */
    public List<byte[]> accepted() {
        synchronized (accepted) {
            return new ArrayList<>(accepted);
        }
    }

    public List<String> commands() {
        synchronized (commands) {
            return new ArrayList<>(commands);
        }
    }

    public int sessions() {
        return sessions.get();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket s = server.accept();
                sessions.incrementAndGet();
                Thread t = new Thread(() -> session(s), "scripted-relay-session");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void session(Socket socket) {
        Socket s = socket;
        try {
            s.setSoTimeout(60_000);
            if (s instanceof SSLSocket ssl) {
                ssl.startHandshake();
            }
            OutputStream out = s.getOutputStream();
            if (!respond(out, Step.GREETING, next(Step.GREETING), "220 scripted.test ESMTP")) {
                return;
            }
            BufferedReader in =
                    new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
            boolean secure = s instanceof SSLSocket;
            boolean authenticated = user == null;
            String line;
            while ((line = in.readLine()) != null) {
                commands.add(line.toUpperCase().startsWith("AUTH") ? "AUTH ..." : line);
                String upper = line.toUpperCase();
                if (upper.startsWith("EHLO") || upper.startsWith("HELO")) {
                    String ext = "250-scripted.test\r\n250-8BITMIME\r\n"
                            + (tls != null && !secure ? "250-STARTTLS\r\n" : "")
                            + (user != null ? "250-AUTH PLAIN LOGIN\r\n" : "")
                            + (smtpUtf8 ? "250-SMTPUTF8\r\n" : "")
                            + "250 SIZE 100000000";
                    if (!respond(out, Step.EHLO, next(Step.EHLO), ext)) {
                        return;
                    }
                } else if (upper.startsWith("STARTTLS") && tls != null && !secure) {
                    write(out, "220 2.0.0 ready to start TLS");
                    SSLSocket ssl = (SSLSocket) tls.getSocketFactory()
                            .createSocket(s, s.getInetAddress().getHostAddress(), s.getPort(), true);
                    ssl.setUseClientMode(false);
                    ssl.startHandshake();
                    s = ssl;
                    secure = true;
                    out = s.getOutputStream();
                    in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
                } else if (upper.startsWith("AUTH")) {
                    String creds = authenticate(line, in, out);
                    if (creds != null && creds.equals(user + "\0" + password)) {
                        authenticated = true;
                        write(out, "235 2.7.0 authenticated");
                    } else {
                        write(out, "535 5.7.8 authentication credentials invalid");
                    }
                } else if (upper.startsWith("MAIL")) {
                    if (!authenticated) {
                        write(out, "530 5.7.0 authentication required");
                        continue;
                    }
                    if (!respond(out, Step.MAIL, next(Step.MAIL), "250 2.1.0 ok")) {
                        return;
                    }
                } else if (upper.startsWith("RCPT")) {
                    if (!respond(out, Step.RCPT, next(Step.RCPT), "250 2.1.5 ok")) {
                        return;
                    }
                } else if (upper.startsWith("DATA")) {
                    Action a = next(Step.DATA);
                    if (!respond(out, Step.DATA, a, "354 go ahead")) {
                        return;
                    }
                    if (a != null && a.reply() != null && !a.reply().startsWith("3")) {
                        continue;
                    }
                    java.nio.file.Path file =
                            spoolDir == null ? null : java.nio.file.Files.createTempFile(spoolDir, "accepted-", ".eml");
                    ByteArrayOutputStream memory = new ByteArrayOutputStream();
                    boolean complete = false;
                    long dropAfter = dropDuringData;
                    long received = 0;
                    try (OutputStream msg = file == null
                            ? memory
                            : new java.io.BufferedOutputStream(java.nio.file.Files.newOutputStream(file), 1 << 16)) {
                        String dl;
                        while ((dl = in.readLine()) != null) {
                            received += dl.length() + 2;
                            if (dropAfter >= 0 && received > dropAfter) {
                                return; // the connection is reset in the middle of the message
                            }
                            if (dl.equals(".")) {
                                complete = true;
                                break;
                            }
                            if (dl.startsWith("..")) {
                                dl = dl.substring(1);
                            }
                            msg.write(dl.getBytes(StandardCharsets.ISO_8859_1));
                            msg.write('\r');
                            msg.write('\n');
                        }
                    }
                    if (!complete) {
                        return;
                    }
                    Action end = next(Step.END_OF_DATA);
                    if (!respond(out, Step.END_OF_DATA, end, "250 2.0.0 queued")) {
                        return;
                    }
                    if (end == null || end.reply().startsWith("2")) {
                        if (file == null) {
                            accepted.add(memory.toByteArray());
                        } else {
                            acceptedFiles.add(file);
                        }
                    }
                } else if (upper.startsWith("QUIT")) {
                    write(out, "221 bye");
                    return;
                } else if (upper.startsWith("RSET") || upper.startsWith("NOOP")) {
                    write(out, "250 ok");
                } else {
                    write(out, "502 5.5.2 not implemented");
                }
            }
        } catch (IOException e) {
            // the client went away, or the handshake failed
        } finally {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing
            }
        }
    }

    /** Reads AUTH PLAIN or LOGIN credentials; returns "user\0password" or null. */
    private static String authenticate(String line, BufferedReader in, OutputStream out) throws IOException {
        String[] parts = line.split(" ");
        java.util.Base64.Decoder b64 = java.util.Base64.getDecoder();
        try {
            if (parts.length >= 2 && parts[1].equalsIgnoreCase("PLAIN")) {
                String resp = parts.length >= 3 ? parts[2] : null;
                if (resp == null) {
                    write(out, "334 ");
                    resp = in.readLine();
                }
                String[] f = new String(b64.decode(resp), StandardCharsets.UTF_8).split("\0", -1);
                return f.length == 3 ? f[1] + "\0" + f[2] : null;
            }
            if (parts.length >= 2 && parts[1].equalsIgnoreCase("LOGIN")) {
                write(out, "334 VXNlcm5hbWU6");
                String u = new String(b64.decode(in.readLine()), StandardCharsets.UTF_8);
                write(out, "334 UGFzc3dvcmQ6");
                String p = new String(b64.decode(in.readLine()), StandardCharsets.UTF_8);
                return u + "\0" + p;
            }
        } catch (IllegalArgumentException e) {
            return null;
        }
        return null;
    }

    /** The action for this occurrence of {@code step}: one set for just this occurrence, else the step's, else none. */
    private Action next(Step step) {
        int n = occurrences.computeIfAbsent(step, k -> new AtomicInteger()).incrementAndGet();
        Action once = nth.getOrDefault(step, Map.of()).get(n);
        return once != null ? once : script.get(step);
    }

    /** Sends the scripted or the default reply, after the step's pause; false when the session must end. */
    private boolean respond(OutputStream out, Step step, Action a, String dflt) throws IOException {
        java.time.Duration pause = pauses.get(step);
        if (pause != null) {
            try {
                Thread.sleep(pause.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (a == null) {
            write(out, dflt);
            return true;
        }
        if (a.hangs()) {
            try {
                Thread.sleep(120_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return false;
        }
        if (a.drops()) {
            return false;
        }
        write(out, a.reply());
        return !a.reply().startsWith("421");
    }

    private static void write(OutputStream out, String reply) throws IOException {
        out.write((reply.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing
        }
    }
}
