package org.cryptforward.service;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.channels.SocketChannel;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.cryptforward.config.Config;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Limits;

/**
 * One connection to the service: checks, then one delivery.
 *
 * <p>Before anything of the message is read it checks, and refuses (the client then delivers
 * in-process) on any doubt: the peer's uid ({@code SO_PEERCRED}) must be allowed; the protocol
 * version must be this one; the configuration the client would read must be the service's own
 * (the service never reads a file a client names); the service's configuration must be loaded.
 * Only the request's fields are taken from the client: its options, the allow-listed MTA
 * environment and the message.
 *
 * <p>Then it waits for a delivery slot within the request's deadline and runs the delivery,
 * streaming the client's output back and ending with the exit code. Once the whole message has
 * arrived, a watcher reads on: if the client goes away (SIGTERM, killed by its MTA) the request is
 * cancelled and relays nothing more. A request that overruns its deadline by more than a little
 * is answered 75 and cancelled. Nothing here is shared with another request.
 */
final class Session {
    static final Duration HANDSHAKE = Duration.ofSeconds(10);
    /** How long past its deadline a stuck request is given before its client is told 75. */
    static final Duration OVERRUN = Duration.ofSeconds(2);

    private final Service service;
    private final SocketChannel ch;
    private final RequestClock requestClock;
    private final Clock clock;
    private final OutputStream raw;
    private boolean finished;

    Session(Service service, SocketChannel ch, Clock clock) {
        this.service = service;
        this.ch = ch;
        this.clock = clock;
        this.requestClock = new RequestClock(clock);
        this.raw = new java.io.BufferedOutputStream(Protocol.output(ch), Limits.DEFAULT.serviceReplyBufferBytes());
    }

    /** Refuses without reading the request (too many connections, stopping). */
    void refuseNow(String reason) {
        try {
            ch.configureBlocking(true);
            answer(Protocol.REFUSED, Map.of("reason", reason));
        } catch (IOException ignored) {
            // gone already
        }
        close();
    }

    void run() {
        ScheduledFuture<?> handshake =
                service.timer().schedule(this::close, HANDSHAKE.toMillis(), TimeUnit.MILLISECONDS);
        ServiceDelivery.Request request;
        Service.Generation g;
        boolean dryRun;
        DataInputStream in;
        try {
            UserPrincipal peer = peer();
            in = new DataInputStream(new BufferedInputStream(Protocol.input(ch), Limits.DEFAULT.ioBufferBytes() + 5));
            int version = Protocol.readVersion(in);
            byte[] hello = Protocol.readLengthPrefixed(
                    in, Protocol.MAX_FIELDS); // the framing of a hello is the same in every version
            if (version != Protocol.VERSION) {
                refuse("protocol version " + version + " is not spoken here (this service speaks " + Protocol.VERSION
                        + ")");
                return;
            }
            Map<String, String> fields = Protocol.decodeFields(hello);
            g = service.generation();
            if (peer == null || !g.allowed().contains(peer)) {
                refuse("user " + (peer == null ? "?" : peer.getName()) + " is not in allowed_users");
                return;
            }
            if (g.config() == null) {
                refuse(g.problem());
                return;
            }
            if (!ownConfig(fields.get("config"))) {
                refuse("this service serves " + service.configFile() + ", not " + fields.get("config"));
                return;
            }
            String op = fields.getOrDefault("op", "");
            if (op.equals("ping")) {
                answer(Protocol.ACCEPTED, info(g.config()));
                return;
            }
            if (!op.equals("deliver")) {
                refuse("unknown operation " + op);
                return;
            }
            if (service.stopping()) {
                refuse("the service is stopping");
                return;
            }
            Map<String, String> env = new LinkedHashMap<>();
            for (String name : Protocol.ENVIRONMENT) {
                String v = fields.get("env." + name);
                if (v != null) {
                    env.put(name, v);
                }
            }
            dryRun = "1".equals(fields.get("dry_run"));
            request = new ServiceDelivery.Request(
                    Optional.ofNullable(fields.get("recipient")),
                    Optional.ofNullable(fields.get("sender")),
                    dryRun,
                    "1".equals(fields.get("debug")),
                    env);
            Charset charset = charset(fields.get("charset"));
            answer(Protocol.ACCEPTED, info(g.config()));
            handshake.cancel(false);
            deliver(g.config(), in, request, charset);
        } catch (IOException | RuntimeException e) {
            // a client that went away or spoke garbage before its message: nothing was taken from it
            if (service.verbose()) {
                service.log("request dropped: " + Service.describe(e));
            }
        } catch (Error e) {
            // this request alone ends (its client sees the connection close: 75); out of memory ends the process
            service.log("request failed: " + e.getClass().getName() + ": " + Service.describe(e));
        } finally {
            handshake.cancel(false);
            close();
        }
    }

    private void deliver(Config config, DataInputStream in, ServiceDelivery.Request request, Charset charset) {
        long started = System.nanoTime();
        Deadline deadline = new Deadline(requestClock, config.deadline());
        ScheduledFuture<?> overrun = service.timer()
                .schedule(
                        () -> abort("4.4.7 cryptforward: deadline of "
                                + config.deadline().toSeconds() + " s reached; the MTA will retry"),
                        config.deadline().plus(OVERRUN).toMillis(),
                        TimeUnit.MILLISECONDS);
        boolean slot = false;
        int code = ExitCodes.TEMPFAIL;
        PrintStream out = new PrintStream(new FrameStream(Protocol.STDOUT), false, charset);
        PrintStream err = new PrintStream(new FrameStream(Protocol.STDERR), false, charset);
        try {
            slot = service.slots().tryAcquire(deadline.remaining().toMillis(), TimeUnit.MILLISECONDS);
            if (!slot || requestClock.cancelled()) {
                err.println("4.3.2 cryptforward: the delivery service is busy (all "
                        + config.service().maxDeliveries()
                        + " delivery slots taken until the deadline); the MTA will retry");
            } else {
                InputStream message = new Protocol.MessageInput(in, this::watchClient);
                code = ServiceDelivery.run(service.wiring(), config, clock, deadline, message, out, err, request);
                service.countServed();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("4.3.0 cryptforward: the delivery service was interrupted; the MTA will retry");
        } finally {
            if (slot) {
                service.slots().release();
            }
            overrun.cancel(false);
            out.flush();
            err.flush();
            finish(code);
            if (service.verbose()) {
                service.log("request " + (request.dryRun() ? "(dry run) " : "") + "ended with " + code
                        + (requestClock.cancelled() ? " (cancelled)" : "") + " in "
                        + (System.nanoTime() - started) / 1_000_000 + " ms");
            }
        }
    }

    /** Once the message is in: any read that returns means the client is gone (or broke the protocol): cancel. */
    private void watchClient() {
        Thread t = new Thread(
                () -> {
                    try {
                        InputStream in = Protocol.input(ch);
                        in.read(new byte[1]);
                    } catch (IOException | RuntimeException e) {
                        // closed: by us at the end, or the client went away
                    }
                    synchronized (this) {
                        if (finished) {
                            return;
                        }
                    }
                    requestClock.cancel();
                    service.log(
                            "client went away before the result: its delivery is cancelled (nothing more is relayed)");
                },
                "request-watch");
        t.setDaemon(true);
        t.start();
    }

    /** Ends the request now with 75 and cancels its delivery (stopping, or a stuck request). */
    void abort(String statusLine) {
        requestClock.cancel();
        synchronized (this) {
            if (finished) {
                return;
            }
            try {
                byte[] b = (statusLine + "\n").getBytes(StandardCharsets.US_ASCII);
                Protocol.writeFrame(raw, Protocol.STDERR, b, 0, b.length);
                Protocol.writeFrame(raw, Protocol.EXIT, new byte[] {(byte) ExitCodes.TEMPFAIL}, 0, 1);
                raw.flush();
            } catch (IOException ignored) {
                // the client is gone: its MTA sees a 75 from it anyway
            }
            finished = true;
        }
        close();
    }

    private void finish(int code) {
        synchronized (this) {
            if (finished) {
                return;
            }
            finished = true;
            try {
                Protocol.writeFrame(raw, Protocol.EXIT, new byte[] {(byte) code}, 0, 1);
                raw.flush();
            } catch (IOException ignored) {
                // the client is gone; the journal makes its MTA's retry idempotent
            }
        }
    }

    /** Frames of one kind; dropped once the request has ended (aborted). */
    private final class FrameStream extends OutputStream {
        private final byte type;

        FrameStream(byte type) {
            this.type = type;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            synchronized (Session.this) {
                if (finished) {
                    return;
                }
                while (len > 0) {
                    int n = Math.min(len, Protocol.MAX_FRAME);
                    try {
                        Protocol.writeFrame(raw, type, b, off, n);
                    } catch (IOException e) {
                        // the client is gone: the delivery goes on to a consistent end (the watcher cancels it)
                        finished = true;
                        return;
                    }
                    off += n;
                    len -= n;
                }
            }
        }

        @Override
        public void flush() throws IOException {
            synchronized (Session.this) {
                if (!finished) {
                    try {
                        raw.flush();
                    } catch (IOException e) {
                        finished = true;
                    }
                }
            }
        }
    }

    private UserPrincipal peer() {
        try {
            UnixDomainPrincipal p = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
            return p.user();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private boolean ownConfig(String claimed) {
        if (claimed == null) {
            return false;
        }
        Path own = service.configFile();
        if (claimed.equals(own.toString())) {
            return true;
        }
        try {
            return claimed.equals(own.toRealPath().toString());
        } catch (IOException e) {
            return false;
        }
    }

    private Map<String, String> info(Config config) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("deadline_ms", String.valueOf(config.deadline().toMillis()));
        m.put("user", service.user());
        m.put("build", service.build());
        m.put("config", service.configFile().toString());
        return m;
    }

    private static Charset charset(String name) {
        try {
            return name == null ? StandardCharsets.UTF_8 : Charset.forName(name);
        } catch (RuntimeException e) {
            return StandardCharsets.US_ASCII;
        }
    }

    private void refuse(String reason) throws IOException {
        if (service.verbose()) {
            service.log("request refused: " + reason);
        }
        answer(Protocol.REFUSED, Map.of("reason", reason));
    }

    private void answer(int status, Map<String, String> fields) throws IOException {
        synchronized (this) {
            Protocol.writeAnswer(raw, status, fields);
        }
    }

    private void close() {
        try {
            ch.close();
        } catch (IOException ignored) {
            // closed
        }
    }
}
