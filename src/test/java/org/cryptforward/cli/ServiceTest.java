package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.cryptforward.service.Protocol;
import org.cryptforward.support.InJvmService;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.ScriptedRelay.Step;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code deliver} through the resident service, in one JVM: the thin client hands the request
 * over, the service runs the delivery; and every case where the client must deliver in-process
 * instead (another protocol version, another configuration, a configuration the service cannot
 * load, no service), checked by who did the delivery. Killed services and clients, other uids and
 * SIGTERM are {@code ServiceProcessIT}; the corpus both ways is {@code CorpusDeliveryTest}.
 */
class ServiceTest {
    @TempDir
    Path tmp;

    final ScriptedRelay relay = new ScriptedRelay();
    final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
        relay.close();
    }

    static byte[] message(String id, String body) {
        return ("From: cron@host.example (Cron Daemon)\nTo: root@host.example\nSubject: Cron <root@host> job " + id
                        + "\n" + "Message-ID: <" + id + "@host.example>\n\n" + body + "\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    Sandbox sandbox(String name, String service, String forwardTo) {
        Path dir = tmp.resolve(name);
        Sandbox sb = new Sandbox(dir, relay.port(), service, true, List.of(TestKeys.ED.email));
        if (forwardTo != null) {
            try {
                sb.writeConfig(Files.readString(sb.config)
                        .replace("forward_to = [\"admin@example.org\"]", "forward_to = " + forwardTo));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return sb;
    }

    InJvmService serve(Sandbox sb) {
        InJvmService s = new InJvmService(sb.config);
        closing.add(0, s);
        return s;
    }

    void assertForwarded(byte[] original, byte[] relayed) {
        byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(relayed)));
        assertTrue(Messages.isOriginalWithMark(original, payload), "decrypts to the original");
    }

    @Test
    void theServiceDeliversWhatTheClientHandsOver() throws Exception {
        Sandbox sb = sandbox("a", InJvmService.toml(tmp.resolve("a"), ""), null);
        InJvmService service = serve(sb);
        byte[] m = message("one", "the body of the first message");
        Sandbox.Run r = sb.env("SENDER", "cron@host.example")
                .env("RECIPIENT", "root@cf.test")
                .deliver(m);
        assertEquals(0, r.exit(), r.combined());
        assertEquals("", r.combined());
        assertEquals(1, service.service.served(), service.log());
        List<Path> local = sb.maildirMessages();
        assertEquals(1, local.size());
        assertArrayEquals(m, Files.readAllBytes(local.get(0)));
        assertEquals(1, relay.accepted().size());
        assertForwarded(m, relay.accepted().get(0));
        assertTrue(
                relay.commands().stream().anyMatch(c -> c.startsWith("RCPT TO:<admin@example.org>")),
                relay.commands().toString());
        assertTrue(
                sb.logText().contains("from=<cron@host.example> to=<root@cf.test>"),
                "the MTA's environment went over: " + sb.logText());

        Sandbox.Run again = sb.deliver(m);
        assertEquals(0, again.exit(), again.combined());
        assertEquals(1, sb.maildirMessages().size(), "the MTA's retry is idempotent through the service too");
        assertEquals(1, relay.accepted().size());
    }

    @Test
    void aFailureComesBackAsTheInProcessStatusLineAndExitCode() throws Exception {
        Sandbox sb = sandbox("f", InJvmService.toml(tmp.resolve("f"), ""), null);
        InJvmService service = serve(sb);
        relay.at(Step.END_OF_DATA, ScriptedRelay.Action.reply("550 5.7.1 rejected"));
        Sandbox.Run viaService = sb.deliver(message("rejected", "body"), "--recipient", "root");
        assertEquals(1, service.service.served());
        service.close();
        closing.clear();
        relay.clear().at(Step.END_OF_DATA, ScriptedRelay.Action.reply("550 5.7.1 rejected"));
        Sandbox.Run inProcess = sb.deliver(message("rejected2", "body"), "--recipient", "root");
        assertEquals(69, viaService.exit(), viaService.combined());
        assertEquals(inProcess.exit(), viaService.exit());
        assertEquals(inProcess.err().replace("rejected2", "rejected"), viaService.err());
        assertTrue(viaService.err().startsWith("5.7.1 cryptforward: "), viaService.err());
    }

    @Test
    void fiftyClientsAtOnce() throws Exception {
        Sandbox sb = sandbox("many", InJvmService.toml(tmp.resolve("many"), "max_deliveries = 4\n"), null);
        InJvmService service = serve(sb);
        int n = 50;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<Future<Sandbox.Run>> runs = new ArrayList<>();
        List<byte[]> messages = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] m = message("m" + i, "body of message " + i + " " + "x".repeat(i * 100));
            messages.add(m);
            runs.add(pool.submit(() -> sb.deliver(m, "--recipient", "root")));
        }
        for (Future<Sandbox.Run> f : runs) {
            Sandbox.Run r = f.get();
            assertEquals(0, r.exit(), r.combined());
        }
        pool.shutdown();
        assertEquals(n, service.service.served(), service.log());
        Set<String> local = new HashSet<>();
        for (Path p : sb.maildirMessages()) {
            local.add(Files.readString(p));
        }
        Set<String> want = new HashSet<>();
        messages.forEach(m -> want.add(new String(m, StandardCharsets.UTF_8)));
        assertEquals(want, local, "every message kept once, intact");
        List<byte[]> relayed = relay.accepted();
        assertEquals(n, relayed.size());
        Set<String> decrypted = new HashSet<>();
        for (byte[] r : relayed) {
            byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(r)));
            String s = new String(payload, StandardCharsets.UTF_8);
            decrypted.add(s.substring(s.indexOf("body of message")).strip());
        }
        Set<String> bodies = new HashSet<>();
        for (int i = 0; i < n; i++) {
            bodies.add(("body of message " + i + " " + "x".repeat(i * 100)).strip());
        }
        assertEquals(bodies, decrypted, "each forward is its own message");
    }

    @Test
    void aNewerClientIsRefusedAndDeliversInProcess() throws Exception {
        Sandbox sb = sandbox("v", InJvmService.toml(tmp.resolve("v"), ""), null);
        InJvmService service = serve(sb);
        byte[] m = message("newer", "from a newer client");
        Context ctx = context(m);
        DeliverCmd cmd = FastDeliver.parse(
                ctx, new String[] {"deliver", "--config", sb.config.toString(), "--recipient", "root"});
        assertNull(new ServiceClient(ctx, Protocol.VERSION + 1).deliver(cmd), "refused: the client falls back");
        assertEquals(1, service.service.requests());
        assertEquals(0, service.service.served());
        assertEquals(0, cmd.call(), "and delivers in-process, the message still all there");
        assertArrayEquals(m, Files.readAllBytes(sb.maildirMessages().get(0)));

        // what a newer client reads: this service's version and a refusal with a reason
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(tmp.resolve("v").resolve("s.sock")));
            OutputStream out = Channels.newOutputStream(ch);
            Protocol.writeHello(out, 7, Map.of("op", "deliver", "something", "new"));
            DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
            assertEquals(Protocol.VERSION, Protocol.readVersion(in));
            assertEquals(Protocol.REFUSED, in.readUnsignedByte());
            Map<String, String> answer = Protocol.decodeFields(Protocol.readLengthPrefixed(in, Protocol.MAX_FIELDS));
            assertTrue(answer.get("reason").contains("version 7"), answer.toString());
        }
    }

    @Test
    void anotherConfigurationIsNeverReadByTheServiceTheClientDeliversInProcess() throws Exception {
        Sandbox own = sandbox("own", InJvmService.toml(tmp.resolve("own"), ""), null);
        InJvmService service = serve(own);
        // another configuration whose [service] socket is the same: the service must not take it
        Sandbox other = sandbox("other", InJvmService.toml(tmp.resolve("own"), ""), "[\"other@example.org\"]");
        byte[] m = message("other", "for the other configuration");
        Sandbox.Run r = other.deliver(m, "--recipient", "root");
        assertEquals(0, r.exit(), r.combined());
        assertEquals(1, service.service.requests());
        assertEquals(0, service.service.served(), service.log());
        assertTrue(service.log().contains("serves " + own.config), service.log());
        assertEquals(0, own.maildirMessages().size());
        assertEquals(1, other.maildirMessages().size());
        assertTrue(
                relay.commands().contains("RCPT TO:<other@example.org>"),
                "the other configuration's rule: " + relay.commands());
    }

    @Test
    void aChangedConfigurationIsUsedAndABrokenOneMeansInProcess() throws Exception {
        Sandbox sb = sandbox("c", InJvmService.toml(tmp.resolve("c"), ""), null);
        InJvmService service = serve(sb);
        assertEquals(0, sb.deliver(message("c1", "one"), "--recipient", "root").exit());
        sb.writeConfig(Files.readString(sb.config)
                .replace("forward_to = [\"admin@example.org\"]", "forward_to = [\"changed@example.org\"]"));
        assertEquals(0, sb.deliver(message("c2", "two"), "--recipient", "root").exit());
        assertEquals(2, service.service.served());
        assertTrue(
                relay.commands().contains("RCPT TO:<changed@example.org>"),
                relay.commands().toString());

        sb.writeConfig(Files.readString(sb.config).replace("[relay]\n", "[relay]\nport = \"smtp\"\n"));
        Sandbox.Run broken = sb.deliver(message("c3", "three"), "--recipient", "root");
        assertEquals(75, broken.exit(), broken.combined());
        assertTrue(broken.err().startsWith("4.3.5 cryptforward: configuration error: "), broken.err());
        assertEquals(2, service.service.served(), "refused by the service: reported by the in-process delivery");
    }

    @Test
    void noServiceListeningMeansInProcess() throws Exception {
        Path dir = tmp.resolve("n");
        Sandbox sb = sandbox("n", InJvmService.toml(dir, ""), null);
        // a socket file left by a service that is gone
        try (var s = java.nio.channels.ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            s.bind(UnixDomainSocketAddress.of(dir.resolve("s.sock")));
        }
        assertTrue(Files.exists(dir.resolve("s.sock")));
        byte[] m = message("none", "no service");
        Sandbox.Run r = sb.deliver(m, "--recipient", "root");
        assertEquals(0, r.exit(), r.combined());
        assertArrayEquals(m, Files.readAllBytes(sb.maildirMessages().get(0)));
        // and a service started now replaces the stale socket
        InJvmService service = serve(sb);
        assertEquals(
                0,
                sb.deliver(message("then", "a service"), "--recipient", "root").exit());
        assertEquals(1, service.service.served());
    }

    @Test
    void dryRunPrintsTheSameBothWays() throws Exception {
        Sandbox sb = sandbox(
                "d", InJvmService.toml(tmp.resolve("d"), ""), "[\"admin@example.org\", \"second@example.org\"]");
        byte[] m = message("dry", "a dry run body");
        Sandbox.Run inProcess = sb.deliver(m, "--recipient", "root", "--dry-run");
        InJvmService service = serve(sb);
        Sandbox.Run viaService = sb.deliver(m, "--recipient", "root", "--dry-run");
        assertEquals(1, service.service.served());
        assertEquals(0, inProcess.exit(), inProcess.combined());
        assertEquals(inProcess.exit(), viaService.exit());
        assertEquals(inProcess.err(), viaService.err());
        assertEquals(normalised(m, inProcess.out()), normalised(m, viaService.out()));
        assertTrue(viaService.out().startsWith("msgid=<dry@host.example>"), viaService.out());
        assertEquals(0, sb.maildirMessages().size(), "a dry run writes nothing");
        assertEquals(0, relay.accepted().size(), "and relays nothing");
    }

    /** The dry-run output with what is random in each run (Message-IDs, boundaries, ciphertext) replaced by what it means. */
    static String normalised(byte[] original, String out) {
        String s = out;
        Matcher b = Pattern.compile("boundary=\"([^\"]+)\"").matcher(s);
        List<String> boundaries = new ArrayList<>();
        while (b.find()) {
            boundaries.add(b.group(1));
        }
        for (String x : boundaries) {
            s = s.replace(x, "BOUNDARY");
        }
        s = s.replaceAll("Message-ID: <[^>]+@cf.test>", "Message-ID: <OWN>").replaceAll("Date: [^\r\n]+", "Date: DATE");
        Matcher armor = Pattern.compile("-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", Pattern.DOTALL)
                .matcher(s);
        StringBuilder sb = new StringBuilder();
        int count = 0;
        while (armor.find()) {
            byte[] payload = TestKeys.ED.decrypt(armor.group().getBytes(StandardCharsets.US_ASCII));
            assertTrue(Messages.isOriginalWithMark(original, payload));
            armor.appendReplacement(sb, "ENCRYPTED(" + payload.length + ")");
            count++;
        }
        armor.appendTail(sb);
        assertEquals(2, count, "two forwards: " + out);
        return sb.toString();
    }

    @Test
    void aClientThatGoesAwayStopsItsDeliveryBeforeTheNextForward() throws Exception {
        Sandbox sb = sandbox(
                "g", InJvmService.toml(tmp.resolve("g"), ""), "[\"first@example.org\", \"second@example.org\"]");
        InJvmService service = serve(sb);
        relay.pause(Step.END_OF_DATA, Duration.ofSeconds(2));
        byte[] m = message("gone", "the client goes away");
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(tmp.resolve("g").resolve("s.sock")));
            OutputStream out = Channels.newOutputStream(ch);
            Map<String, String> f = new LinkedHashMap<>();
            f.put("op", "deliver");
            f.put("config", sb.config.toAbsolutePath().toString());
            f.put("recipient", "root");
            Protocol.writeHello(out, Protocol.VERSION, f);
            DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
            assertEquals(Protocol.VERSION, Protocol.readVersion(in));
            assertEquals(Protocol.ACCEPTED, in.readUnsignedByte());
            Protocol.readLengthPrefixed(in, Protocol.MAX_FIELDS);
            Protocol.writeFrame(out, Protocol.DATA, m, 0, m.length);
            Protocol.writeFrame(out, Protocol.END, m, 0, 0);
            out.flush();
            long until = System.nanoTime() + 10_000_000_000L;
            while (!relay.commands().contains("DATA") && System.nanoTime() < until) {
                Thread.sleep(10);
            }
            assertTrue(relay.commands().contains("DATA"), "the first forward is under way");
        } // the client is gone while the relay takes its time over the first forward
        long until = System.nanoTime() + 20_000_000_000L;
        while (!service.log().contains("ended with") && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertTrue(service.log().contains("client went away"), service.log());
        assertTrue(service.log().contains("ended with 75 (cancelled)"), service.log());
        assertFalse(
                relay.commands().contains("RCPT TO:<second@example.org>"),
                "nothing relayed after the client went away: " + relay.commands());
        assertEquals(1, sb.maildirMessages().size());

        relay.clear();
        Sandbox.Run retry = sb.deliver(m, "--recipient", "root");
        assertEquals(0, retry.exit(), retry.combined());
        assertEquals(1, sb.maildirMessages().size(), "one local copy");
        assertEquals(
                1,
                relay.commands().stream()
                        .filter(c -> c.equals("RCPT TO:<first@example.org>"))
                        .count(),
                "the journal had the first");
        assertEquals(
                1,
                relay.commands().stream()
                        .filter(c -> c.equals("RCPT TO:<second@example.org>"))
                        .count());
    }

    @Test
    void aCutOffMessageIsNeverDelivered() throws Exception {
        Sandbox sb = sandbox("cut", InJvmService.toml(tmp.resolve("cut"), ""), null);
        InJvmService service = serve(sb);
        byte[] m = message("cut", "this message is cut off in the middle");
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(tmp.resolve("cut").resolve("s.sock")));
            OutputStream out = Channels.newOutputStream(ch);
            Protocol.writeHello(
                    out,
                    Protocol.VERSION,
                    Map.of("op", "deliver", "config", sb.config.toAbsolutePath().toString(), "recipient", "root"));
            DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
            Protocol.readVersion(in);
            assertEquals(Protocol.ACCEPTED, in.readUnsignedByte());
            Protocol.readLengthPrefixed(in, Protocol.MAX_FIELDS);
            Protocol.writeFrame(out, Protocol.DATA, m, 0, m.length / 2);
            out.flush();
        }
        long until = System.nanoTime() + 20_000_000_000L;
        while (!service.log().contains("ended with") && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertTrue(service.log().contains("ended with 75"), service.log());
        assertEquals(0, sb.maildirMessages().size(), "no local copy of half a message");
        assertEquals(0, relay.accepted().size());
    }

    @Test
    void moreThanMaxDeliveriesWaitForASlot() throws Exception {
        Sandbox sb = sandbox("wait", InJvmService.toml(tmp.resolve("wait"), "max_deliveries = 1\n"), null);
        InJvmService service = serve(sb);
        relay.pause(Step.END_OF_DATA, Duration.ofSeconds(4));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        Future<Sandbox.Run> first =
                pool.submit(() -> sb.deliver(message("slow", "takes the only slot"), "--recipient", "root"));
        long until = System.nanoTime() + 10_000_000_000L;
        while (!relay.commands().contains("DATA") && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        Thread.sleep(500); // the first is in the relay's pause now
        relay.pause(Step.END_OF_DATA, Duration.ZERO);
        long start = System.nanoTime();
        Future<Sandbox.Run> second =
                pool.submit(() -> sb.deliver(message("waits", "waits for it"), "--recipient", "root"));
        Sandbox.Run r1 = first.get();
        Sandbox.Run r2 = second.get();
        pool.shutdown();
        assertEquals(0, r1.exit(), r1.combined());
        assertEquals(0, r2.exit(), "the second waited for the slot: " + r2.combined());
        assertTrue(System.nanoTime() - start > 2_000_000_000L, "it did wait");
        assertEquals(2, service.service.served());
        assertEquals(2, relay.accepted().size());
    }

    @Test
    void waitingForASlotIsBoundedByTheDeadline() throws Exception {
        Sandbox sb = sandbox("busy", InJvmService.toml(tmp.resolve("busy"), "max_deliveries = 1\n"), null);
        sb.writeConfig(Files.readString(sb.config).replace("deadline_seconds = 60", "deadline_seconds = 10"));
        InJvmService service = serve(sb);
        relay.at(Step.END_OF_DATA, ScriptedRelay.Action.silence()); // the first holds the slot to its deadline
        ExecutorService pool = Executors.newFixedThreadPool(2);
        Future<Sandbox.Run> first =
                pool.submit(() -> sb.deliver(message("stuck", "holds the slot"), "--recipient", "root"));
        Thread.sleep(1500);
        long start = System.nanoTime();
        Future<Sandbox.Run> second =
                pool.submit(() -> sb.deliver(message("busy", "waits, then has no time left"), "--recipient", "root"));
        Sandbox.Run r2 = second.get();
        long waited = System.nanoTime() - start;
        Sandbox.Run r1 = first.get();
        pool.shutdown();
        assertEquals(75, r1.exit(), r1.combined());
        assertEquals(75, r2.exit(), r2.combined());
        assertTrue(r2.err().startsWith("4.") && r2.err().strip().lines().count() == 1, r2.err());
        assertTrue(
                waited > 8_000_000_000L && waited < 13_000_000_000L,
                "waited for the slot, and no longer than its deadline: " + waited);
        assertEquals(0, relay.accepted().size());
    }

    @Test
    void theSocketIsPrivateUnlessOtherUsersAreAllowed() throws Exception {
        Sandbox own = sandbox("p", InJvmService.toml(tmp.resolve("p"), ""), null);
        serve(own);
        assertEquals(
                "rw-------",
                java.nio.file.attribute.PosixFilePermissions.toString(
                        Files.getPosixFilePermissions(tmp.resolve("p/s.sock"))));
        Sandbox open =
                sandbox("o", InJvmService.toml(tmp.resolve("o"), "allowed_users = [\"root\", \"daemon\"]\n"), null);
        serve(open);
        assertEquals(
                "rw-rw-rw-",
                java.nio.file.attribute.PosixFilePermissions.toString(
                        Files.getPosixFilePermissions(tmp.resolve("o/s.sock"))),
                "the peer check decides");
    }

    @Test
    void socketActivatedItExitsWhenIdleAndLeavesTheSocketToSystemd() throws Exception {
        Path dir = tmp.resolve("act");
        Sandbox sb = sandbox("act", InJvmService.toml(dir, "idle_exit_seconds = 2\n"), null);
        // the listening socket systemd would pass as standard input
        java.nio.channels.ServerSocketChannel listening =
                java.nio.channels.ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listening.bind(UnixDomainSocketAddress.of(dir.resolve("s.sock")));
        org.cryptforward.service.Service service = ServeCmd.service(
                sb.config,
                Clock.systemDefaultZone(),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                true);
        service.start(listening);
        assertEquals(
                0,
                sb.deliver(message("act", "socket-activated"), "--recipient", "root")
                        .exit());
        assertEquals(1, service.served());
        long start = System.nanoTime();
        Thread waiter = new Thread(() -> {
            try {
                service.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        waiter.start();
        waiter.join(15_000);
        assertFalse(waiter.isAlive(), "exited when idle");
        assertTrue(System.nanoTime() - start > 1_000_000_000L, "not before idle_exit_seconds");
        assertTrue(Files.exists(dir.resolve("s.sock")), "systemd's socket is not removed");
    }

    /** A stand-in service on the sandbox's socket: accepts the hello, reads the message, then does {@code after}. */
    interface After {
        void run(OutputStream out) throws Exception;
    }

    Thread fakeService(Path socket, After after) throws Exception {
        java.nio.channels.ServerSocketChannel server =
                java.nio.channels.ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        closing.add(server);
        Thread t = new Thread(() -> {
            try (SocketChannel ch = server.accept()) {
                DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
                OutputStream out = Channels.newOutputStream(ch);
                Protocol.readVersion(in);
                Protocol.readLengthPrefixed(in, Protocol.MAX_FIELDS);
                Protocol.writeAnswer(out, Protocol.ACCEPTED, Map.of("deadline_ms", "60000"));
                new Protocol.MessageInput(in, () -> {}).readAllBytes();
                after.run(out);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        t.start();
        return t;
    }

    @Test
    void aConnectionThatBreaksAfterTheHandOverIs75AndNothingElse() throws Exception {
        Sandbox sb = sandbox("brk", InJvmService.toml(tmp.resolve("brk"), ""), null);
        Thread t = fakeService(tmp.resolve("brk/s.sock"), out -> {
            byte[] partial = "4.3.0 cryptforward: half a st".getBytes(StandardCharsets.US_ASCII);
            Protocol.writeFrame(out, Protocol.STDERR, partial, 0, partial.length);
            out.flush(); // and gone, without an exit frame
        });
        Sandbox.Run r = sb.deliver(message("broken", "the service dies"), "--recipient", "root");
        t.join(10_000);
        assertEquals(75, r.exit(), r.combined());
        assertTrue(
                r.err().endsWith("4.3.0 cryptforward: the delivery service sent no result; the MTA will retry\n"),
                r.err());
        assertEquals(
                0,
                sb.maildirMessages().size(),
                "not delivered in-process behind the service's back: the message was handed over");
    }

    @Test
    void anExitCodeAnMtaWouldMisreadBecomes75() throws Exception {
        Sandbox sb = sandbox("odd", InJvmService.toml(tmp.resolve("odd"), ""), null);
        Thread t = fakeService(tmp.resolve("odd/s.sock"), out -> {
            Protocol.writeFrame(out, Protocol.EXIT, new byte[] {1}, 0, 1);
            out.flush();
        });
        Sandbox.Run r = sb.deliver(message("odd", "exit 1 would bounce"), "--recipient", "root");
        t.join(10_000);
        assertEquals(75, r.exit(), r.combined());
        assertTrue(r.err().contains("an exit code it may not give (1)"), r.err());
    }

    @Test
    void garbageOnTheSocketHarmsNeitherTheServiceNorTheNextRequest() throws Exception {
        Sandbox sb = sandbox("junk", InJvmService.toml(tmp.resolve("junk"), ""), null);
        InJvmService service = serve(sb);
        java.util.Random random = new java.util.Random(1);
        for (int i = 0; i < 20; i++) {
            try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                ch.connect(UnixDomainSocketAddress.of(tmp.resolve("junk/s.sock")));
                byte[] junk = new byte[random.nextInt(200)];
                random.nextBytes(junk);
                if (i % 3 == 0 && junk.length > 9) {
                    System.arraycopy(new byte[] {'C', 'F', 'W', 'D', 1, 0x7f, 0, 0, 0}, 0, junk, 0, 9); // a huge length
                }
                Channels.newOutputStream(ch).write(junk);
            } catch (java.io.IOException ignored) {
                // the service may close first
            }
        }
        byte[] m = message("after-junk", "still served");
        Sandbox.Run r = sb.deliver(m, "--recipient", "root");
        assertEquals(0, r.exit(), r.combined());
        assertEquals(1, service.service.served());
        assertArrayEquals(m, Files.readAllBytes(sb.maildirMessages().get(0)));
    }

    @Test
    void theSocketScanFindsWhatTheLoaderReads() {
        assertEquals(
                "/run/x/d.sock",
                ServiceClient.scanSocket(
                        "a = 1\n[service]\nsocket = \"/run/x/d.sock\" # here\n[[rule]]\nsocket = \"/no\"\n"));
        assertEquals(
                "/run/y.sock", ServiceClient.scanSocket("service.socket = '/run/y.sock'\n[relay]\nhost = \"h\"\n"));
        assertEquals("/a/b", ServiceClient.scanSocket("[ service ]\n  socket='/a/b'\n"));
        assertNull(
                ServiceClient.scanSocket("[service]\nsocket = \"/run/with space\"\n"),
                "what the loader refuses, the scan does not take");
        assertNull(ServiceClient.scanSocket("[service]\nsocket = \"/run/\\u0041\"\n"));
        assertNull(ServiceClient.scanSocket("[services]\nsocket = \"/run/a\"\n[rule.service]\nsocket = \"/run/b\"\n"));
        assertNull(ServiceClient.scanSocket("[relay]\nservice.socket = \"/run/a\"\n"));
        assertEquals(
                org.cryptforward.config.ConfigLoader.locate(null, Map.of()), ServiceClient.configFile(null, Map.of()));
        assertEquals(
                org.cryptforward.config.ConfigLoader.locate(null, Map.of("CRYPTFORWARD_CONFIG", "/x.toml")),
                ServiceClient.configFile(null, Map.of("CRYPTFORWARD_CONFIG", "/x.toml")));
        assertNotNull(ServiceClient.configFile(Path.of("rel.toml"), Map.of()));
    }

    private static Context context(byte[] stdin) {
        return new Context(
                new ByteArrayInputStream(stdin),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                Map.of(),
                Clock.systemDefaultZone(),
                false);
    }
}
