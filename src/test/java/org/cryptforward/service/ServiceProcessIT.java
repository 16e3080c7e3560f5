package org.cryptforward.service;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.cryptforward.support.ClientArchive;
import org.cryptforward.support.ExternalTool;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.Messages;
import org.cryptforward.support.Nobody;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.ScriptedRelay.Step;
import org.cryptforward.support.ServeProcess;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The resident service and its clients as separate processes, through the built launcher, as an
 * MTA and a supervisor run them: the service SIGKILLed at random points of deliveries, then the
 * MTA's retries; SIGTERM to a client while its delivery relays; SIGTERM to the service with
 * deliveries running; SIGHUP; a client of a user that is not allowed. Only 0 and 75 may ever be
 * seen by the "MTA", and in the end there is exactly one local copy of each message and every
 * forward was relayed.
 */
class ServiceProcessIT {
    @TempDir
    Path tmp;

    final ScriptedRelay relay = new ScriptedRelay();
    final List<AutoCloseable> closing = new ArrayList<>();

    /** The launcher as installed: with the thin client's archive, it starts deliver as the client when the socket exists. */
    @BeforeAll
    static void clientArchive() {
        ClientArchive.ensure(Path.of("target").toAbsolutePath().resolve("it-client-archive"));
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
        relay.close();
    }

    static byte[] message(String id) {
        return ("From: cron@host.example (Cron Daemon)\nTo: root@host.example\nSubject: Cron <root@host> job " + id
                        + "\n" + "Message-ID: <" + id + "@host.example>\n\nthe output of job " + id + "\n")
                .getBytes(StandardCharsets.US_ASCII);
    }

    Sandbox sandbox(Path dir, String service, String forwardTo) throws IOException {
        Sandbox sb = new Sandbox(
                dir,
                relay.port(),
                "\n[service]\nsocket = \"" + dir.resolve("run/s.sock") + "\"\n" + service,
                true,
                List.of(TestKeys.ED.email));
        sb.writeConfig(Files.readString(sb.config)
                .replace("forward_to = [\"admin@example.org\"]", "forward_to = " + forwardTo));
        return sb;
    }

    ServeProcess serve(Sandbox sb, List<String> wrapper) {
        ServeProcess s =
                new ServeProcess(sb.config, sb.dir.resolve("run/s.sock"), sb.dir.resolve("serve.log"), wrapper);
        closing.add(0, s);
        return s;
    }

    static Map<String, String> env() {
        return Launcher.postfixEnv("root@cf.test", "cron@host.example");
    }

    Process client(Sandbox sb, byte[] m, String name) {
        Path in = Launcher.postfixInput(sb.dir, name + ".in", "cron@host.example", m);
        return Launcher.startDeliver(sb.config, in, sb.dir.resolve(name + ".out"), env());
    }

    Launcher.Run finish(Sandbox sb, Process p, String name) {
        return Launcher.finish(p, sb.dir.resolve(name + ".out"), 120);
    }

    @Test
    void sigkillOfTheServiceAtRandomPointsThenTheMtaRetries() throws Exception {
        Sandbox sb = sandbox(tmp.resolve("kill"), "", "[\"first@example.org\", \"second@example.org\"]");
        relay.pause(Step.END_OF_DATA, java.time.Duration.ofMillis(150)); // widen the windows between the steps
        long seed = System.nanoTime();
        Random random = new Random(seed);
        int trials = 32;
        List<byte[]> messages = new ArrayList<>();
        Map<Integer, Integer> exits = new HashMap<>();
        int killedBeforeTheEnd = 0;
        for (int i = 0; i < trials; i++) {
            byte[] m = message("kill-" + i);
            messages.add(m);
            ServeProcess service =
                    new ServeProcess(sb.config, sb.dir.resolve("run/s.sock"), sb.dir.resolve("serve-" + i + ".log"));
            Process client = client(sb, m, "c" + i);
            Thread.sleep(random.nextInt(1500));
            boolean running = client.isAlive();
            service.kill9();
            Launcher.Run r = finish(sb, client, "c" + i);
            exits.merge(r.exit(), 1, Integer::sum);
            assertTrue(
                    r.exit() == 0 || r.exit() == 75,
                    "trial " + i + " (seed " + seed + "): " + r.exit() + " " + r.output());
            if (r.exit() == 75) {
                assertEquals(1, r.output().strip().lines().count(), "one status line: " + r.output());
                assertTrue(r.output().startsWith("4."), r.output());
                killedBeforeTheEnd += running ? 1 : 0;
            }
            // the MTA retries: through a new service every other time, in-process otherwise
            int attempts = 0;
            int exit = r.exit();
            while (exit != 0) {
                assertTrue(++attempts <= 3, "retries of trial " + i + " do not end");
                ServeProcess again = i % 2 == 0
                        ? new ServeProcess(
                                sb.config, sb.dir.resolve("run/s.sock"), sb.dir.resolve("retry-" + i + ".log"))
                        : null;
                try {
                    Launcher.Run retry = finish(sb, client(sb, m, "r" + i + "-" + attempts), "r" + i + "-" + attempts);
                    assertTrue(retry.exit() == 0 || retry.exit() == 75, retry.output());
                    exit = retry.exit();
                } finally {
                    if (again != null) {
                        again.close();
                    }
                }
            }
        }
        assertTrue(exits.getOrDefault(75, 0) >= 3, "the kills hit deliveries under way (seed " + seed + "): " + exits);
        assertTrue(killedBeforeTheEnd >= 3, "and during them: " + killedBeforeTheEnd);

        Map<String, Integer> local = new HashMap<>();
        for (Path p : sb.maildirMessages()) {
            local.merge(Files.readString(p, StandardCharsets.US_ASCII), 1, Integer::sum);
        }
        for (byte[] m : messages) {
            assertEquals(
                    1,
                    local.getOrDefault(new String(m, StandardCharsets.US_ASCII), 0),
                    "exactly one local copy (seed " + seed + ")");
        }
        assertEquals(trials, sb.maildirMessages().size());
        // every forward relayed (at least once: a kill between the 250 and its journal record sends it again)
        Map<String, Integer> relayed = new HashMap<>();
        List<byte[]> accepted = relay.accepted();
        List<String> rcpts = new ArrayList<>();
        for (String c : relay.commands()) {
            if (c.startsWith("RCPT TO:")) {
                rcpts.add(c);
            }
        }
        for (byte[] a : accepted) {
            byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(a)));
            String text = new String(payload, StandardCharsets.US_ASCII);
            String to = Messages.headerValue(a, "To").strip();
            relayed.merge(text.substring(text.indexOf("the output of job ")).strip() + " -> " + to, 1, Integer::sum);
        }
        for (int i = 0; i < trials; i++) {
            for (String to : List.of("first@example.org", "second@example.org")) {
                assertTrue(
                        relayed.getOrDefault("the output of job kill-" + i + " -> " + to, 0) >= 1,
                        "job " + i + " to " + to + ": " + relayed);
            }
        }
        assertTrue(
                accepted.size() <= trials * 2 + exits.getOrDefault(75, 0) * 2,
                "no more duplicates than interrupted runs");
    }

    @Test
    void sigtermToTheClientStopsItsDeliveryBeforeTheNextForward() throws Exception {
        Sandbox sb = sandbox(tmp.resolve("term"), "", "[\"first@example.org\", \"second@example.org\"]");
        ServeProcess service = serve(sb, List.of());
        relay.pause(Step.END_OF_DATA, java.time.Duration.ofSeconds(3));
        byte[] m = message("term");
        Process client = client(sb, m, "c");
        long until = System.nanoTime() + 30_000_000_000L;
        while (!relay.commands().contains("DATA") && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        assertTrue(relay.commands().contains("DATA"), "the first forward is under way");
        Launcher.jvmOf(client).destroy(); // SIGTERM, as Postfix at its time limit, or an admin
        Launcher.Run r = finish(sb, client, "c");
        assertEquals(75, r.exit(), r.output());
        assertTrue(r.output().startsWith("4.3.0 cryptforward: terminated by a signal"), r.output());
        service.waitForLog("(cancelled)", 20);
        assertTrue(service.log().contains("client went away"), service.log());
        assertFalse(
                relay.commands().contains("RCPT TO:<second@example.org>"), "nothing more relayed: " + relay.commands());

        relay.clear();
        Launcher.Run retry = finish(sb, client(sb, m, "r"), "r");
        assertEquals(0, retry.exit(), retry.output());
        assertEquals(1, sb.maildirMessages().size());
        assertArrayEquals(m, Files.readAllBytes(sb.maildirMessages().get(0)));
        assertEquals(
                1,
                relay.commands().stream()
                        .filter(c -> c.equals("RCPT TO:<second@example.org>"))
                        .count());
        assertTrue(
                relay.commands().stream()
                                .filter(c -> c.equals("RCPT TO:<first@example.org>"))
                                .count()
                        <= 1,
                "the first again only if its 250 came after the kill: " + relay.commands());
        assertEquals(1, service.ended(0), service.log());
    }

    @Test
    void sigtermToTheServiceLetsDeliveriesFinishWithinTheBoundAndTellsTheRest75() throws Exception {
        Sandbox sb = sandbox(tmp.resolve("stop"), "stop_timeout_seconds = 2\n", "[\"admin@example.org\"]");
        ServeProcess service = serve(sb, List.of());
        relay.at(Step.END_OF_DATA, 1, ScriptedRelay.Action.silence()); // the first never finishes
        Process stuck = client(sb, message("stuck"), "stuck");
        long until = System.nanoTime() + 30_000_000_000L;
        while (!relay.commands().contains("DATA") && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        relay.pause(Step.END_OF_DATA, java.time.Duration.ofMillis(1200));
        Process quick = client(sb, message("quick"), "quick");
        until = System.nanoTime() + 30_000_000_000L;
        while (relay.commands().stream().filter("DATA"::equals).count() < 2 && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        long start = System.nanoTime();
        service.signal("TERM");
        Launcher.Run q = finish(sb, quick, "quick");
        Launcher.Run s = finish(sb, stuck, "stuck");
        assertEquals(0, service.waitFor(30), service.log());
        assertTrue(System.nanoTime() - start < 15_000_000_000L, "within the bound");
        assertEquals(0, q.exit(), "finished within stop_timeout_seconds: " + q.output());
        assertEquals(75, s.exit(), s.output());
        assertTrue(s.output().startsWith("4.3.2 cryptforward: the delivery service is stopping"), s.output());
        assertFalse(Files.exists(sb.dir.resolve("run/s.sock")), "the socket is gone with the service");

        relay.clear();
        Launcher.Run retry = finish(sb, client(sb, message("stuck"), "retry"), "retry");
        assertEquals(0, retry.exit(), "in-process now: " + retry.output());
        assertEquals(2, sb.maildirMessages().size(), "one local copy each");
        assertEquals(2, relay.accepted().size(), "each forwarded once");
    }

    @Test
    void sighupReloadsTheConfiguration() throws Exception {
        Sandbox sb = sandbox(tmp.resolve("hup"), "", "[\"admin@example.org\"]");
        ServeProcess service = serve(sb, List.of());
        service.signal("HUP");
        service.waitForLog("configuration reloaded", 20);
        assertTrue(service.process.isAlive(), "SIGHUP does not end it");
        Launcher.Run r = finish(sb, client(sb, message("hup"), "c"), "c");
        assertEquals(0, r.exit(), r.output());
        assertEquals(1, service.ended(0), service.log());
    }

    @Test
    void aUserNotAllowedIsRefusedAndDeliversInProcess() throws Exception {
        Nobody.assumeAvailable();
        // under target/: every directory above is traversable by nobody
        Path dir =
                Files.createDirectories(Path.of("target").toAbsolutePath().resolve("it-service-" + System.nanoTime()));
        closing.add(() -> deleteTree(dir));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Sandbox sb = sandbox(dir.resolve("sb"), "allowed_users = [\"root\"]\n", "[\"admin@example.org\"]");
        Files.createDirectories(sb.mailbox);
        chownTree(dir.resolve("sb"), 65534);
        List<String> asNobody = List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--");
        ServeProcess service = serve(sb, asNobody); // the service runs as nobody, as it would as cryptforward
        assertEquals(
                "rw-------",
                PosixFilePermissions.toString(Files.getPosixFilePermissions(sb.dir.resolve("run/s.sock"))));
        assertEquals(65534, Files.getAttribute(sb.dir.resolve("run/s.sock"), "unix:uid", LinkOption.NOFOLLOW_LINKS));

        Launcher.Run refused = asNobody(sb, message("refused"), "refused");
        assertEquals(0, refused.exit(), refused.output());
        assertTrue(service.log().contains("request refused: user nobody is not in allowed_users"), service.log());
        assertEquals(0, service.ended(0), "not delivered by the service");
        assertEquals(1, sb.maildirMessages().size(), "delivered in-process by the client");

        // allowed now (its own user, by default): the same client is served
        sb.writeConfig(Files.readString(sb.config).replace("allowed_users = [\"root\"]\n", ""));
        Launcher.Run served = asNobody(sb, message("served"), "served");
        assertEquals(0, served.exit(), served.output());
        assertEquals(1, service.ended(0), service.log());
        assertEquals(2, sb.maildirMessages().size());
        assertEquals(2, relay.accepted().size());
        for (Path p : sb.maildirMessages()) {
            assertEquals(65534, Files.getAttribute(p, "unix:uid"));
        }
    }

    @Test
    void theThinClientStartsFromItsOwnArchiveAndWhatTheServiceDoesNotTakeIsDeliveredInASecondJvm() throws Exception {
        Sandbox sb = sandbox(tmp.resolve("archive"), "", "[\"admin@example.org\"]");
        ServeProcess service = serve(sb, List.of());

        // served: one JVM, whose classes of the client path come from the client's archive
        Launcher.Run served = deliverLoggingClasses(sb, sb.config, message("served"), "served");
        assertEquals(0, served.exit(), served.output());
        assertEquals(1, service.ended(0), service.log());
        List<String> jvms = classLogs(tmp.resolve("classes-served"));
        assertEquals(1, jvms.size(), "one JVM for a delivery the service takes");
        assertTrue(jvms.get(0).contains(SHARED_CLIENT), "the client's archive is used: " + firstLines(jvms.get(0)));
        assertFalse(jvms.get(0).contains("org.cryptforward.pipeline.Delivery "), "no delivery code in the client");
        // what the thin client loads is small, and all of it is in its archive or the Java runtime: the jar is never
        // read
        long loaded = jvms.get(0).lines().filter(l -> l.contains(" source: ")).count();
        assertTrue(loaded > 300 && loaded < 1000, loaded + " classes");
        assertFalse(
                jvms.get(0).contains(" source: file:"),
                "a class read from the jar: "
                        + jvms.get(0)
                                .lines()
                                .filter(l -> l.contains(" source: file:"))
                                .toList());
        assertFalse(jvms.get(0).contains("java.util.zip.ZipFile$Source "), "the jar opened");

        // another configuration naming the same socket: the service refuses it, the client's JVM
        // ends unseen, and a second JVM delivers in-process, as without a service
        Path other = sb.dir.resolve("other.toml");
        Files.writeString(other, Files.readString(sb.config));
        Launcher.Run refused = deliverLoggingClasses(sb, other, message("refused"), "refused");
        assertEquals(0, refused.exit(), refused.output());
        assertEquals("", refused.output().strip(), "nothing of the hand-over is seen by the MTA");
        assertEquals(1, service.ended(0), "not delivered by the service: " + service.log());
        jvms = classLogs(tmp.resolve("classes-refused"));
        assertEquals(2, jvms.size(), "the client's JVM, then the in-process delivery's");
        assertEquals(
                1,
                jvms.stream().filter(j -> j.contains(SHARED_CLIENT)).count(),
                "only the first maps the client's archive");
        assertEquals(
                1,
                jvms.stream()
                        .filter(j -> j.contains("org.cryptforward.pipeline.Delivery "))
                        .count(),
                "only the second delivers");

        // the service killed, its socket left behind: the same, in-process
        service.kill9();
        assertTrue(Files.exists(sb.dir.resolve("run/s.sock"), LinkOption.NOFOLLOW_LINKS), "a stale socket");
        Launcher.Run stale = deliverLoggingClasses(sb, sb.config, message("stale"), "stale");
        assertEquals(0, stale.exit(), stale.output());
        assertEquals(2, classLogs(tmp.resolve("classes-stale")).size());

        assertEquals(3, sb.maildirMessages().size(), "one local copy each");
        List<byte[]> accepted = relay.accepted();
        assertEquals(3, accepted.size(), "one forward each");
        List<String> bodies = new ArrayList<>();
        for (byte[] a : accepted) {
            String text =
                    new String(TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(a))), StandardCharsets.US_ASCII);
            bodies.add(text.substring(text.indexOf("the output of job ")).strip());
        }
        assertEquals(
                List.of("the output of job served", "the output of job refused", "the output of job stale"), bodies);
    }

    /**
     * Socket activation as systemd does it, by systemd's own tool: {@code systemd-socket-activate}
     * owns the socket, starts {@code serve} at the first connection with the listening socket as
     * standard input ({@code StandardInput=socket} of cryptforward.service), and the service,
     * idle for {@code idle_exit_seconds}, exits by itself.
     */
    @Test
    void socketActivatedTheFirstConnectionStartsTheServiceWhichExitsWhenIdle() throws Exception {
        ExternalTool.require("systemd-socket-activate");
        Sandbox sb = sandbox(tmp.resolve("activated"), "idle_exit_seconds = 3\n", "[\"admin@example.org\"]");
        Path socket = sb.dir.resolve("run/s.sock");
        Files.createDirectories(socket.getParent());
        Path log = sb.dir.resolve("activated.log");
        // standard output and error into the log, as systemd's journal; standard input stays the socket
        ProcessBuilder pb = new ProcessBuilder(
                        "systemd-socket-activate",
                        "--inetd",
                        "--listen=" + socket,
                        "/bin/sh",
                        "-c",
                        "exec \"$0\" serve --verbose --config \"$1\" >>\"$2\" 2>&1",
                        Launcher.path().toAbsolutePath().toString(),
                        sb.config.toString(),
                        log.toString())
                .redirectErrorStream(true)
                .redirectOutput(sb.dir.resolve("activate.out").toFile());
        pb.environment().put("PATH", "/usr/bin:/bin");
        Process activator = pb.start();
        closing.add(0, () -> {
            activator.toHandle().descendants().forEach(ProcessHandle::destroy);
            activator.destroy();
        });
        long until = System.nanoTime() + 20_000_000_000L;
        while (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS) && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertTrue(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "systemd-socket-activate listens");
        assertFalse(Files.exists(log), "nothing started before the first connection");

        Launcher.Run first = finish(sb, client(sb, message("activated"), "a1"), "a1");
        assertEquals(0, first.exit(), first.output());
        String served = Files.readString(log);
        assertTrue(served.contains("cryptforward serve: serving " + sb.config + " on " + socket), served);
        assertTrue(served.contains("request ended with 0"), "delivered by the started service: " + served);
        Launcher.Run second = finish(sb, client(sb, message("activated-2"), "a2"), "a2");
        assertEquals(0, second.exit(), second.output());
        assertEquals(
                2,
                Files.readString(log)
                        .lines()
                        .filter(l -> l.contains("request ended with 0"))
                        .count(),
                "the same service, still running");

        // idle: it ends by itself, with 0 (idle_exit_seconds is 3; the bound only keeps a hang from stalling the build)
        assertTrue(activator.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "the idle service exits");
        assertEquals(0, activator.exitValue(), Files.readString(log));

        assertEquals(2, sb.maildirMessages().size());
        List<byte[]> accepted = relay.accepted();
        assertEquals(2, accepted.size());
        for (byte[] a : accepted) {
            String text =
                    new String(TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(a))), StandardCharsets.US_ASCII);
            assertTrue(text.contains("the output of job activated"), text);
        }
    }

    /** How a class of the thin client reads in a JVM's class+load log when it comes from the client's archive. */
    static final String SHARED_CLIENT = "org.cryptforward.cli.ServiceClient source: shared objects file";

    Launcher.Run deliverLoggingClasses(Sandbox sb, Path config, byte[] m, String name) throws IOException {
        Path logs = Files.createDirectories(tmp.resolve("classes-" + name));
        Map<String, String> env = new HashMap<>(env());
        env.put("CRYPTFORWARD_JAVA_OPTS", "-Xlog:class+load=info:file=" + logs + "/%p.log");
        Path in = Launcher.postfixInput(sb.dir, name + ".in", "cron@host.example", m);
        return Launcher.deliver(config, in, sb.dir.resolve(name + ".out"), env);
    }

    /** The class+load logs of the JVMs one delivery started, one per JVM. */
    static List<String> classLogs(Path dir) throws IOException {
        List<String> logs = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) {
                logs.add(Files.readString(p, StandardCharsets.UTF_8));
            }
        }
        return logs;
    }

    static String firstLines(String log) {
        return log.lines()
                .filter(l -> l.contains("org.cryptforward"))
                .limit(5)
                .toList()
                .toString();
    }

    Launcher.Run asNobody(Sandbox sb, byte[] m, String name) throws Exception {
        Path in = Launcher.postfixInput(sb.dir.getParent(), name + ".in", "cron@host.example", m);
        List<String> cmd = new ArrayList<>(List.of(
                "/usr/bin/setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                Launcher.path().toAbsolutePath().toString(),
                "deliver",
                "--config",
                sb.config.toString()));
        Path out = sb.dir.getParent().resolve(name + ".out");
        return Launcher.finish(Launcher.start(cmd, in, out, env()), out, 120);
    }

    static void chownTree(Path root, int uid) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.toList()) {
                Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(p, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
            }
        }
    }

    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
