package org.cryptforward.service;

import java.io.IOException;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.cryptforward.config.Config;
import org.cryptforward.config.ConfigException;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.config.ConfigProblem;

/**
 * {@code cryptforward serve}: the resident delivery service for one configuration.
 *
 * <p>It listens on a Unix socket — its own ({@code [service] socket}, created mode 0600, or 0666
 * when {@code allowed_users} names others, in a directory its user owns), or the one systemd hands
 * it (socket activation) — and runs, for every request a {@code deliver} client hands over, the
 * same delivery the client would run in-process (see {@link Session}). The optimising compiler
 * warms up once, and each message then costs only its own work.
 *
 * <p>Bounds: at most {@code max_deliveries} deliveries at once, more wait for a slot within their
 * deadline; at most {@link #maxConnections} connections, more are refused (and deliver in-process).
 * Socket-activated, it exits after {@code idle_exit_seconds} without a request.
 *
 * <p>Configuration: loaded at start; reloaded on SIGHUP ({@link #reload}) and whenever the file
 * changes (looked at before each request), so it never serves a configuration other than the
 * file's. While the file cannot be loaded it refuses requests, and {@code deliver} runs
 * in-process, reporting the problem exactly as without a service. Keys are read for each
 * delivery, as in-process.
 *
 * <p>Stopping ({@link #stop}, SIGTERM): no new connection is accepted; running deliveries have
 * {@code stop_timeout_seconds} to finish; the rest are cancelled (they relay nothing more) and
 * their clients get 75.
 *
 * <p>Periodic work (e.g. a queue runner) is added with {@link #every} and runs on its own thread.
 */
public final class Service {
    private final Path configFile;
    private final DeliveryWiring wiring;
    private final Clock clock;
    private final PrintStream log;
    private final boolean verbose;
    private final UserPrincipal self;
    private final List<Periodic> periodic = new ArrayList<>();
    private final Set<Session> sessions = ConcurrentHashMap.newKeySet();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong served = new AtomicLong();
    private final Object reloadLock = new Object();
    private final String build = BuildId.current();
    private final java.util.concurrent.CountDownLatch stopped = new java.util.concurrent.CountDownLatch(1);

    private volatile Generation current;
    private volatile boolean stopping;
    private volatile long lastActivity;
    private long trimmedAt;
    static final Duration IDLE_TRIM = Duration.ofSeconds(2);
    private ServerSocketChannel server;
    private Path ownSocket;
    private boolean inherited;
    private Semaphore slots;
    private int maxConnections;
    private ScheduledExecutorService timer;
    private Thread acceptor;

    private record Periodic(Duration interval, Runnable task) {}

    /** A loaded configuration (or why it cannot be), and whose requests it serves. */
    record Generation(Config config, Object stamp, String problem, Set<UserPrincipal> allowed) {}

    /** The service of {@code configFile}, whose deliveries get their ports from {@code wiring} (as {@code deliver}'s). */
    public Service(Path configFile, Clock clock, PrintStream log, boolean verbose, DeliveryWiring wiring) {
        this.wiring = wiring;
        this.configFile = configFile.toAbsolutePath().normalize();
        this.clock = clock;
        this.log = log;
        this.verbose = verbose;
        UserPrincipal me;
        try {
            me = lookup().lookupPrincipalByName(System.getProperty("user.name"));
        } catch (IOException | RuntimeException e) {
            me = null;
        }
        this.self = me;
    }

    /** Runs {@code task} every {@code interval} while the service runs (add before {@link #start}). */
    public Service every(Duration interval, Runnable task) {
        periodic.add(new Periodic(interval, task));
        return this;
    }

    /** Thrown when the service cannot start: the configuration or the socket. */
    public static final class StartException extends Exception {
        private static final long serialVersionUID = 1L;

        StartException(String message) {
            super(message);
        }
    }

    /**
     * Loads the configuration and starts listening: on {@code inheritedChannel} when it is a Unix
     * server socket (systemd), else on the configured socket.
     */
    public void start(Channel inheritedChannel) throws StartException {
        Generation g = load();
        if (g.config() == null) {
            throw new StartException(g.problem());
        }
        current = g;
        Config cfg = g.config();
        slots = new Semaphore(cfg.service().maxDeliveries(), true);
        maxConnections = Math.max(64, cfg.service().maxDeliveries() * 16);
        try {
            if (inheritedChannel instanceof ServerSocketChannel s
                    && s.getLocalAddress() instanceof UnixDomainSocketAddress) {
                server = s;
                server.configureBlocking(true);
                inherited = true;
            } else {
                server = bind(cfg.service().socket(), g.allowed());
                ownSocket = cfg.service().socket();
            }
        } catch (IOException e) {
            throw new StartException("cannot listen on " + cfg.service().socket() + ": " + describe(e));
        }
        lastActivity = System.nanoTime();
        timer = Executors.newScheduledThreadPool(1, r -> {
            Thread t = new Thread(r, "service-timer");
            t.setDaemon(true);
            return t;
        });
        for (Periodic p : periodic) {
            long ms = Math.max(1, p.interval().toMillis());
            timer.scheduleWithFixedDelay(
                    () -> {
                        try {
                            p.task().run();
                        } catch (RuntimeException | Error e) {
                            log("periodic task failed: " + describe(e));
                        }
                    },
                    ms,
                    ms,
                    TimeUnit.MILLISECONDS);
        }
        if (inherited && !cfg.service().idleExit().isZero()) {
            timer.scheduleWithFixedDelay(this::exitWhenIdle, 1, 1, TimeUnit.SECONDS);
        }
        timer.scheduleWithFixedDelay(this::trimWhenIdle, 1, 1, TimeUnit.SECONDS);
        acceptor = new Thread(this::acceptLoop, "service-accept");
        acceptor.start();
        log("serving " + configFile + " on " + socketName() + " (max_deliveries "
                + cfg.service().maxDeliveries() + ", build " + build + ")");
    }

    /** Where it listens. */
    public String socketName() {
        if (ownSocket != null) {
            return ownSocket.toString();
        }
        try {
            return String.valueOf(server.getLocalAddress());
        } catch (IOException e) {
            return "?";
        }
    }

    /** Blocks until the service has stopped (a delivery stuck past its abort is left to the process's end). */
    public void await() throws InterruptedException {
        stopped.await();
    }

    /** Requests taken so far (accepted or not) and deliveries run. */
    public long requests() {
        return requests.get();
    }

    public long served() {
        return served.get();
    }

    /** Reloads the configuration (SIGHUP): the next requests use the new one. */
    public void reload() {
        synchronized (reloadLock) {
            Generation g = load();
            Generation old = current;
            current = g;
            if (g.config() == null) {
                log("configuration not loaded, deliveries run in-process until it is fixed: " + g.problem());
            } else {
                if (old.config() != null
                        && !old.config()
                                .service()
                                .socket()
                                .equals(g.config().service().socket())
                        && !inherited) {
                    log("the socket changed in the configuration; restart the service to listen there");
                }
                log("configuration reloaded");
            }
        }
    }

    /** The configuration in force (reloaded first if the file changed); empty while it is broken. */
    public Optional<Config> config() {
        return Optional.ofNullable(generation().config());
    }

    /** The configuration for the next request: reloaded first if the file changed. */
    Generation generation() {
        Generation g = current;
        if (!Objects.equals(stamp(), g.stamp())) {
            synchronized (reloadLock) {
                if (current == g) {
                    reload();
                }
                g = current;
            }
        }
        return g;
    }

    private Generation load() {
        Object stamp = stamp();
        try {
            Config cfg = ConfigLoader.load(configFile);
            return new Generation(cfg, stamp, null, allowed(cfg));
        } catch (ConfigException e) {
            StringBuilder sb = new StringBuilder("configuration error: ");
            int shown = 0;
            for (ConfigProblem p : e.problems()) {
                if (shown++ == 3) {
                    sb.append("; and more (run cryptforward check)");
                    break;
                }
                sb.append(shown > 1 ? "; " : "").append(p);
            }
            return new Generation(null, stamp, sb.toString(), Set.of());
        } catch (RuntimeException e) {
            return new Generation(null, stamp, "the configuration could not be loaded: " + describe(e), Set.of());
        }
    }

    /** What changes when the configuration file does: inode, size, modification and change time. */
    private Object stamp() {
        try {
            return List.copyOf(Files.readAttributes(configFile, "unix:ino,size,lastModifiedTime,ctime")
                    .values());
        } catch (IOException | RuntimeException e) {
            return "unreadable";
        }
    }

    private Set<UserPrincipal> allowed(Config cfg) {
        Set<UserPrincipal> out = new HashSet<>();
        List<String> names = cfg.service().allowedUsers();
        if (names.isEmpty()) {
            if (self != null) {
                out.add(self);
            }
            names = List.of("root");
        }
        for (String n : names) {
            try {
                out.add(lookup().lookupPrincipalByName(n));
            } catch (IOException | RuntimeException e) {
                log("allowed_users: no such user " + n);
            }
        }
        return Set.copyOf(out);
    }

    private static UserPrincipalLookupService lookup() {
        return FileSystems.getDefault().getUserPrincipalLookupService();
    }

    /** Whether the socket may be open to all: only when users other than this one and root are allowed. */
    private boolean openToOthers(Set<UserPrincipal> allowed) {
        for (UserPrincipal u : allowed) {
            if (!u.equals(self) && !u.getName().equals("root")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Binds the socket under a temporary name, sets its mode, and renames it into place: at no
     * moment is it there with a wider mode. A socket left by a service that is gone is replaced;
     * one a running service answers on is not.
     */
    private ServerSocketChannel bind(Path socket, Set<UserPrincipal> allowed) throws IOException, StartException {
        Path dir = socket.toAbsolutePath().getParent();
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(
                    dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        }
        PosixFileAttributes da = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (self != null && !da.owner().equals(self)) {
            throw new StartException("the socket's directory " + dir + " is owned by "
                    + da.owner().getName() + ", not by " + self.getName()
                    + ": make it the service user's (systemd: RuntimeDirectory=)");
        }
        if (Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.readAttributes(socket, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
                    .isOther()) {
                throw new StartException(socket + " exists and is not a socket");
            }
            try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                probe.connect(UnixDomainSocketAddress.of(socket));
                throw new StartException("a service already answers on " + socket);
            } catch (IOException e) {
                Files.deleteIfExists(socket); // left behind by a service that is gone
            }
        }
        Path tmp = dir.resolve(
                "." + socket.getFileName() + "." + ProcessHandle.current().pid());
        Files.deleteIfExists(tmp);
        ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            s.bind(UnixDomainSocketAddress.of(tmp), 128);
            Files.setPosixFilePermissions(
                    tmp, PosixFilePermissions.fromString(openToOthers(allowed) ? "rw-rw-rw-" : "rw-------"));
            Files.move(tmp, socket, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            s.close();
            Files.deleteIfExists(tmp);
            throw e;
        }
        return s;
    }

    private void acceptLoop() {
        while (!stopping) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (ClosedChannelException e) {
                break;
            } catch (IOException e) {
                log("accept failed: " + describe(e));
                sleep(100);
                continue;
            }
            lastActivity = System.nanoTime();
            requests.incrementAndGet();
            Session s = new Session(this, ch, clock);
            if (sessions.size() >= maxConnections || stopping) {
                s.refuseNow(stopping ? "the service is stopping" : "too many connections");
                continue;
            }
            sessions.add(s);
            Thread t = new Thread(
                    () -> {
                        try {
                            s.run();
                        } finally {
                            sessions.remove(s);
                            lastActivity = System.nanoTime();
                            synchronized (this) {
                                notifyAll();
                            }
                        }
                    },
                    "request-" + requests.get());
            t.start();
        }
    }

    /**
     * Once deliveries have stopped for a moment, gives the heap a large message grew back to the
     * system (a full collection, which the launcher's heap-free ratios let shrink the heap): an
     * idle service should hold little memory.
     */
    private void trimWhenIdle() {
        long last = lastActivity;
        if (last != trimmedAt && sessions.isEmpty() && System.nanoTime() - last > IDLE_TRIM.toNanos()) {
            trimmedAt = last;
            System.gc();
        }
    }

    private void exitWhenIdle() {
        Generation g = current;
        Duration idle = g.config() == null
                ? Duration.ofSeconds(300)
                : g.config().service().idleExit();
        if (!stopping && sessions.isEmpty() && System.nanoTime() - lastActivity > idle.toNanos()) {
            log("idle for " + idle.toSeconds()
                    + " s: exiting (systemd starts the service again on the next connection)");
            new Thread(() -> stop(Duration.ZERO), "service-stop").start();
        }
    }

    /**
     * Stops: no new connection; running deliveries get {@code grace} to finish, the rest are
     * cancelled and their clients told 75. Returns when every session has ended.
     */
    public void stop(Duration grace) {
        synchronized (stopped) {
            if (stopping) {
                return;
            }
            stopping = true;
        }
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        if (ownSocket != null) {
            try {
                Files.deleteIfExists(ownSocket);
            } catch (IOException ignored) {
                // a stale socket is replaced by the next start
            }
        }
        long until = System.nanoTime() + grace.toNanos();
        synchronized (this) {
            while (!sessions.isEmpty() && System.nanoTime() < until) {
                try {
                    wait(Math.max(1, Math.min(100, (until - System.nanoTime()) / 1_000_000)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        for (Session s : sessions) {
            s.abort("4.3.2 cryptforward: the delivery service is stopping; the MTA will retry");
        }
        synchronized (this) {
            long hard = System.nanoTime() + 5_000_000_000L;
            while (!sessions.isEmpty() && System.nanoTime() < hard) {
                try {
                    wait(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        if (timer != null) {
            timer.shutdownNow();
        }
        log("stopped");
        stopped.countDown();
    }

    /** The configured grace for running deliveries at SIGTERM. */
    public Duration stopTimeout() {
        Generation g = current;
        return g == null || g.config() == null
                ? Duration.ofSeconds(30)
                : g.config().service().stopTimeout();
    }

    // ---- for sessions ----

    Path configFile() {
        return configFile;
    }

    DeliveryWiring wiring() {
        return wiring;
    }

    String build() {
        return build;
    }

    String user() {
        return self == null ? System.getProperty("user.name") : self.getName();
    }

    Semaphore slots() {
        return slots;
    }

    ScheduledExecutorService timer() {
        return timer;
    }

    boolean stopping() {
        return stopping;
    }

    void countServed() {
        served.incrementAndGet();
    }

    boolean verbose() {
        return verbose;
    }

    public void log(String line) {
        synchronized (log) {
            log.println("cryptforward serve: " + line);
            log.flush();
        }
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
