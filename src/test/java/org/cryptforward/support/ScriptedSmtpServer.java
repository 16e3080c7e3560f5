package org.cryptforward.support;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A small SMTP server on a free port of 127.0.0.1 whose replies follow a script: by default it
 * accepts everything (no TLS, no AUTH); {@link #reply} makes it answer something else at the n-th
 * time a step occurs (counted over all sessions), {@link #delay} makes it wait before answering.
 * It records every transaction that reached the end of DATA, with the reply it got, so a test
 * can tell what the relay accepted from what it refused.
 *
 * <pre>
 * try (ScriptedSmtpServer smtp = new ScriptedSmtpServer()) {
 *     smtp.reply(Step.END_OF_DATA, 1, "451 4.3.0 try again later");   // the first message is deferred
 *     ...
 *     smtp.accepted();                                                 // what got a 250
 * }
 * </pre>
 */
public final class ScriptedSmtpServer implements AutoCloseable {
    /** The points of a session where a reply is given. */
    public enum Step { CONNECT, EHLO, MAIL, RCPT, DATA, END_OF_DATA, RSET, NOOP, QUIT }

    /** One message transaction that reached the end of DATA. */
    public record Transaction(String mailFrom, List<String> recipients, byte[] data, String reply) {
        public boolean accepted() {
            return reply.startsWith("2");
        }
    }

    private static final Map<Step, String> DEFAULTS = new EnumMap<>(Map.of(
            Step.CONNECT, "220 scripted.test ESMTP",
            Step.EHLO, "250-scripted.test\r\n250 8BITMIME",
            Step.MAIL, "250 2.1.0 ok",
            Step.RCPT, "250 2.1.5 ok",
            Step.DATA, "354 end with .",
            Step.END_OF_DATA, "250 2.0.0 queued",
            Step.RSET, "250 2.0.0 ok",
            Step.NOOP, "250 2.0.0 ok",
            Step.QUIT, "221 2.0.0 bye"));

    private final ServerSocket server;
    private final Map<Step, Map<Integer, String>> scripted = new ConcurrentHashMap<>();
    private final Map<Step, Duration> delays = new ConcurrentHashMap<>();
    private final Map<Step, Integer> occurrences = new EnumMap<>(Step.class);
    private final List<Transaction> transactions = new CopyOnWriteArrayList<>();
    private final List<Socket> clients = new CopyOnWriteArrayList<>();
    private volatile int sessions;

    public ScriptedSmtpServer() {
        try {
            server = new ServerSocket(0, 100, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Thread t = new Thread(this::acceptLoop, "scripted-smtp-accept");
        t.setDaemon(true);
        t.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Answers {@code reply} (e.g. {@code "451 4.3.0 try later"}) the {@code occurrence}-th time (from 1) {@code step} occurs. */
    public ScriptedSmtpServer reply(Step step, int occurrence, String reply) {
        scripted.computeIfAbsent(step, s -> new ConcurrentHashMap<>()).put(occurrence, reply);
        return this;
    }

    /** Waits this long before every reply at {@code step}. */
    public ScriptedSmtpServer delay(Step step, Duration delay) {
        delays.put(step, delay);
        return this;
    }

    /** Every transaction that reached the end of DATA, accepted or not, in order. */
    public List<Transaction> transactions() {
        return List.copyOf(transactions);
    }

    /** The transactions the server accepted with a 2xx reply. */
    public List<Transaction> accepted() {
        return transactions.stream().filter(Transaction::accepted).toList();
    }

    /** How many connections were made. */
    public int sessions() {
        return sessions;
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                clients.add(s);
                sessions++;
                Thread t = new Thread(() -> session(s), "scripted-smtp-session");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private String replyFor(Step step) {
        int n;
        synchronized (occurrences) {
            n = occurrences.merge(step, 1, Integer::sum);
        }
        Duration d = delays.get(step);
        if (d != null) {
            try {
                Thread.sleep(d.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Map<Integer, String> s = scripted.get(step);
        String r = s == null ? null : s.get(n);
        return r != null ? r : DEFAULTS.get(step);
    }

    private void session(Socket socket) {
        try (socket; InputStream in = new BufferedInputStream(socket.getInputStream()); OutputStream out = socket.getOutputStream()) {
            socket.setSoTimeout(120_000);
            if (!send(out, replyFor(Step.CONNECT))) {
                return;
            }
            String mailFrom = null;
            List<String> rcpts = new ArrayList<>();
            String line;
            while ((line = readLine(in)) != null) {
                String upper = line.toUpperCase(Locale.ROOT);
                if (upper.startsWith("EHLO")) {
                    send(out, replyFor(Step.EHLO));
                } else if (upper.startsWith("HELO")) {
                    send(out, "250 scripted.test");
                } else if (upper.startsWith("MAIL FROM:")) {
                    String r = replyFor(Step.MAIL);
                    if (r.startsWith("2")) {
                        mailFrom = line.substring(10).trim();
                        rcpts = new ArrayList<>();
                    }
                    send(out, r);
                } else if (upper.startsWith("RCPT TO:")) {
                    String r = replyFor(Step.RCPT);
                    if (r.startsWith("2")) {
                        rcpts.add(line.substring(8).trim());
                    }
                    send(out, r);
                } else if (upper.equals("DATA")) {
                    String r = replyFor(Step.DATA);
                    send(out, r);
                    if (!r.startsWith("3")) {
                        continue;
                    }
                    byte[] data = readData(in);
                    if (data == null) {
                        return;
                    }
                    String end = replyFor(Step.END_OF_DATA);
                    transactions.add(new Transaction(mailFrom, List.copyOf(rcpts), data, end));
                    send(out, end);
                    mailFrom = null;
                    rcpts = new ArrayList<>();
                } else if (upper.equals("RSET")) {
                    mailFrom = null;
                    rcpts = new ArrayList<>();
                    send(out, replyFor(Step.RSET));
                } else if (upper.equals("NOOP")) {
                    send(out, replyFor(Step.NOOP));
                } else if (upper.equals("QUIT")) {
                    send(out, replyFor(Step.QUIT));
                    return;
                } else {
                    send(out, "502 5.5.2 command not recognized");
                }
            }
        } catch (SocketException e) {
            // client went away
        } catch (IOException e) {
            // a broken session is the client's business
        } finally {
            clients.remove(socket);
        }
    }

    /** Sends a reply; a reply starting with 421 also ends the session. */
    private static boolean send(OutputStream out, String reply) throws IOException {
        out.write((reply.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        return !reply.startsWith("421");
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                byte[] l = b.toByteArray();
                int len = l.length > 0 && l[l.length - 1] == '\r' ? l.length - 1 : l.length;
                return new String(l, 0, len, StandardCharsets.ISO_8859_1);
            }
            b.write(c);
        }
        return null;
    }

    /** Reads DATA up to the lone dot, undoing dot-stuffing; line ends are kept as sent. */
    private static byte[] readData(InputStream in) throws IOException {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            line.write(c);
            if (c == '\n') {
                byte[] l = line.toByteArray();
                line.reset();
                if ((l.length == 3 && l[0] == '.' && l[1] == '\r') || (l.length == 2 && l[0] == '.')) {
                    return data.toByteArray();
                }
                int off = l[0] == '.' ? 1 : 0;
                data.write(l, off, l.length - off);
            }
        }
        return null;
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException ignored) {
            // closing
        }
        for (Socket s : clients) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing
            }
        }
    }
}
