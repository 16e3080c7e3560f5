package org.cryptforward.faults;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.Messages;
import org.cryptforward.support.Nobody;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.ScriptedRelay.Action;
import org.cryptforward.support.ScriptedRelay.Step;
import org.cryptforward.support.ServeProcess;
import org.cryptforward.support.TestCertificates;
import org.cryptforward.support.TestKeys;
import org.cryptforward.support.Tools;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fault matrix, every row through the real launcher: a message with a canary body is
 * delivered while the fault holds, and the row's exit code, status line, mailbox and relay are
 * checked; then the fault is cleared and the MTA's retry is played, and the message must end up
 * delivered exactly once with exactly one local copy — or, for a permanent rejection, have been
 * bounced with its local copy kept. In every row the canary appears nowhere that left the
 * process except the local copy: not in the output, the log, the journal or anything relayed.
 * Every row twice: in-process, and with the resident service running ({@code cryptforward serve},
 * a process of its own), which must give the same answers and then have done the deliveries
 * that succeed; its own log must not hold the canary either.
 *
 * <p>Kills at random points are {@code CrashRecoveryIT} and {@code ProcessFaultsIT}; two
 * deliveries of one message at once, {@code ConcurrentDeliveryIT}.
 */
class FaultMatrixIT {
    static final String CANARY = "CANARY-4b1f9e-plaintext-never-leaves";

    @TempDir
    static Path tmp;

    static TestCertificates.Identity localhost;
    static TestCertificates.Identity wrongHost;
    static int n;

    /** One row: a fault, what deliver must answer under it, and how the fault clears. */
    record Row(String name, int exit, String status, boolean localCopyKept, Fault fault) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** The environment of one row. */
    static final class Env implements AutoCloseable {
        final Sandbox sb;
        final ScriptedRelay relay;
        final List<AutoCloseable> more = new ArrayList<>();
        ScriptedRelay active;
        Map<String, String> launcherEnv = Map.of();

        ServeProcess service;

        Env(Path dir, boolean viaService) {
            relay = new ScriptedRelay();
            active = relay;
            sb = new Sandbox(
                    dir,
                    relay.port(),
                    viaService ? "\n[service]\nsocket = \"" + dir.resolve("run/s.sock") + "\"\n" : "",
                    true,
                    List.of(TestKeys.ED.email));
            if (viaService) {
                service = new ServeProcess(sb.config, dir.resolve("run/s.sock"), dir.resolve("serve.log"));
                more.add(service);
            }
        }

        void config(String from, String to) {
            try {
                String cfg = Files.readString(sb.config);
                assertTrue(cfg.contains(from), "config has " + from);
                sb.writeConfig(cfg.replace(from, to));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        void relayPort(int port) {
            config("port = " + currentPort(), "port = " + port);
        }

        int currentPort() {
            try {
                String cfg = Files.readString(sb.config);
                int i = cfg.indexOf("port = ") + 7;
                return Integer.parseInt(cfg.substring(i, cfg.indexOf('\n', i)).strip());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void close() throws Exception {
            for (AutoCloseable c : more) {
                c.close();
            }
            relay.close();
        }
    }

    interface Fault {
        void apply(Env env) throws Exception;

        void clear(Env env) throws Exception;
    }

    static Fault relayReply(Step step, String reply) {
        return new Fault() {
            public void apply(Env e) {
                e.relay.at(step, Action.reply(reply));
            }

            public void clear(Env e) {
                e.relay.clear();
            }
        };
    }

    static Fault configChange(String from, String to) {
        return new Fault() {
            public void apply(Env e) {
                e.config(from, to);
            }

            public void clear(Env e) {
                e.config(to, from);
            }
        };
    }

    @BeforeAll
    static void certificates() {
        localhost = TestCertificates.selfSigned(tmp.resolve("certs"), "localhost", "dns:localhost,ip:127.0.0.1");
        wrongHost = TestCertificates.selfSigned(tmp.resolve("certs"), "wrong.example", "dns:wrong.example");
    }

    static Stream<Arguments> rows() {
        List<Row> rows = List.of(
                new Row("relay not listening", 75, "4.4.1", true, new Fault() {
                    int port;

                    public void apply(Env e) throws Exception {
                        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                            port = s.getLocalPort();
                        }
                        e.relayPort(port);
                    }

                    public void clear(Env e) {
                        e.relayPort(e.relay.port());
                    }
                }),
                new Row("connection reset in the middle of DATA", 75, "4.4.2", true, new Fault() {
                    public void apply(Env e) {
                        e.relay.dropDuringData(200);
                    }

                    public void clear(Env e) {
                        e.relay.clear();
                    }
                }),
                new Row(
                        "421 at the greeting",
                        75,
                        "4.",
                        true,
                        relayReply(Step.GREETING, "421 4.3.2 closing for maintenance")),
                new Row("451 after DATA", 75, "4.3.0", true, relayReply(Step.END_OF_DATA, "451 4.3.0 local problem")),
                new Row(
                        "452 after DATA",
                        75,
                        "4.3.1",
                        true,
                        relayReply(Step.END_OF_DATA, "452 4.3.1 insufficient storage")),
                new Row("550 after DATA", 69, "5.7.1", true, relayReply(Step.END_OF_DATA, "550 5.7.1 rejected")),
                new Row("552 after DATA", 69, "5.3.4", true, relayReply(Step.END_OF_DATA, "552 5.3.4 too big")),
                new Row(
                        "554 after DATA",
                        69,
                        "5.6.0",
                        true,
                        relayReply(Step.END_OF_DATA, "554 5.6.0 transaction failed")),
                new Row("relay slower than the timeout", 75, "4.4.2", true, new Fault() {
                    public void apply(Env e) {
                        e.config("timeout_seconds = 10", "timeout_seconds = 2");
                        e.relay.at(Step.END_OF_DATA, Action.silence());
                    }

                    public void clear(Env e) {
                        e.config("timeout_seconds = 2", "timeout_seconds = 10");
                        e.relay.clear();
                    }
                }),
                new Row(
                        "STARTTLS required but not offered",
                        75,
                        "4.7.0",
                        true,
                        new TlsFault("starttls", null, false, true)),
                new Row(
                        "certificate for another host",
                        75,
                        "4.7.0",
                        true,
                        new TlsFault("starttls", "wrong", false, false)),
                new Row(
                        "self-signed certificate without ca_file",
                        75,
                        "4.7.0",
                        true,
                        new TlsFault("tls", "none", true, false)),
                new Row("AUTH rejected (535)", 75, "4.7.0", true, new Fault() {
                    ScriptedRelay auth;

                    public void apply(Env e) throws Exception {
                        auth = new ScriptedRelay().requireAuth("forwarder", "right-password");
                        e.more.add(auth);
                        e.active = auth;
                        Path pw = Files.writeString(e.sb.dir.resolve("password"), "wrong-password\n");
                        Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
                        e.config("[relay]\n", "[relay]\nusername = \"forwarder\"\npassword_file = \"" + pw + "\"\n");
                        e.relayPort(auth.port());
                    }

                    public void clear(Env e) throws Exception {
                        Files.writeString(e.sb.dir.resolve("password"), "right-password\n");
                    }
                }),
                new Row("disk full on the local copy", 75, "4.3.1", false, new MountFault("size=256k", true)),
                new Row(
                        "mailbox not writable (read-only file system)",
                        75,
                        "4.",
                        false,
                        new MountFault("ro,size=64k", false)),
                new Row("state_dir missing", 75, "4.3.5", false, new Fault() {
                    public void apply(Env e) throws Exception {
                        Files.move(e.sb.state, e.sb.dir.resolve("state.away"));
                    }

                    public void clear(Env e) throws Exception {
                        Files.move(e.sb.dir.resolve("state.away"), e.sb.state);
                    }
                }),
                new Row("configuration missing", 75, "4.3.5", false, new Fault() {
                    public void apply(Env e) throws Exception {
                        Files.move(e.sb.config, e.sb.dir.resolve("config.away"));
                    }

                    public void clear(Env e) throws Exception {
                        Files.move(e.sb.dir.resolve("config.away"), e.sb.config);
                    }
                }),
                new Row(
                        "configuration invalid",
                        75,
                        "4.3.5",
                        false,
                        configChange("[relay]\n", "[relay]\nport = \"smtp\"\n")),
                new Row("configuration unreadable", 75, "4.3.5", false, new Fault() {
                    public void apply(Env e) throws Exception {
                        Files.setPosixFilePermissions(e.sb.config, PosixFilePermissions.fromString("---------"));
                        e.launcherEnv = Map.of("CRYPTFORWARD_RUN_AS_NOBODY", "yes");
                    }

                    public void clear(Env e) throws Exception {
                        Files.setPosixFilePermissions(e.sb.config, PosixFilePermissions.fromString("rw-r--r--"));
                        e.launcherEnv = Map.of();
                    }
                }),
                new Row("keyring empty", 0, null, true, new Fault() {
                    public void apply(Env e) throws Exception {
                        try (var files = Files.list(e.sb.keyring)) {
                            for (Path f : files.toList()) {
                                Files.move(f, e.sb.dir.resolve(f.getFileName() + ".away"));
                            }
                        }
                    }

                    public void clear(Env e) {
                        // the notice has been sent and the message acknowledged: nothing is retried
                    }
                }));
        return rows.stream().flatMap(r -> Stream.of(Arguments.of(r, false), Arguments.of(r, true)));
    }

    /** TLS towards the relay: a relay with or without TLS, trusted or not. */
    static final class TlsFault implements Fault {
        final String security;
        final String certificate;
        final boolean implicit;
        final boolean plainRelay;

        TlsFault(String security, String certificate, boolean implicit, boolean plainRelay) {
            this.security = security;
            this.certificate = certificate;
            this.implicit = implicit;
            this.plainRelay = plainRelay;
        }

        public void apply(Env e) {
            ScriptedRelay r = plainRelay
                    ? e.relay
                    : new ScriptedRelay(
                            ("wrong".equals(certificate) ? wrongHost : localhost).serverContext(), implicit);
            if (r != e.relay) {
                e.more.add(r);
            }
            e.active = r;
            String ca = "wrong".equals(certificate)
                    ? "ca_file = \"" + wrongHost.certificatePem() + "\"\n"
                    : "none".equals(certificate) ? "" : "ca_file = \"" + localhost.certificatePem() + "\"\n";
            e.config("host = \"127.0.0.1\"", "host = \"localhost\"");
            e.config("[relay]\n", "[relay]\nsecurity = \"" + security + "\"\n" + ca);
            e.relayPort(r.port());
        }

        public void clear(Env e) {
            // a relay with TLS and a certificate the configuration trusts
            ScriptedRelay good = new ScriptedRelay(localhost.serverContext(), implicit);
            e.more.add(good);
            e.active = good;
            try {
                String cfg = Files.readString(e.sb.config).replaceAll("ca_file = \"[^\"]*\"\n", "");
                e.sb.writeConfig(
                        cfg.replace("[relay]\n", "[relay]\nca_file = \"" + localhost.certificatePem() + "\"\n"));
            } catch (IOException x) {
                throw new UncheckedIOException(x);
            }
            e.relayPort(good.port());
        }
    }

    /** A small tmpfs (root only) mounted over the Maildir: full, or read-only. */
    static final class MountFault implements Fault {
        final String options;
        final boolean fill;

        MountFault(String options, boolean fill) {
            this.options = options;
            this.fill = fill;
        }

        public void apply(Env e) throws Exception {
            assumeTrue("root".equals(System.getProperty("user.name")), "needs root to mount a tmpfs");
            Files.createDirectories(e.sb.mailbox);
            Tools.Result m = Tools.run(
                    tmp,
                    null,
                    "mount",
                    "-t",
                    "tmpfs",
                    "-o",
                    options.replace("ro,", ""),
                    "tmpfs",
                    e.sb.mailbox.toString());
            assumeTrue(m.exit() == 0, "mount not permitted here: " + m.err());
            for (String sub : new String[] {"tmp", "new", "cur"}) {
                Files.createDirectories(e.sb.mailbox.resolve(sub));
            }
            if (fill) {
                Tools.run(
                        tmp,
                        null,
                        "dd",
                        "if=/dev/zero",
                        "of=" + e.sb.mailbox.resolve("filler"),
                        "bs=4096",
                        "count=1000");
            }
            if (options.startsWith("ro,")) {
                assertEquals(
                        0,
                        Tools.run(tmp, null, "mount", "-o", "remount,ro", e.sb.mailbox.toString())
                                .exit());
            }
        }

        public void clear(Env e) {
            assertEquals(
                    0, Tools.run(tmp, null, "umount", e.sb.mailbox.toString()).exit(), "umount");
        }
    }

    static final byte[] MESSAGE =
            ("From: cron@host.example (Cron Daemon)\nTo: root@host.example\nSubject: Cron <root@host> backup\n"
                            + "Message-ID: <fault-matrix@host.example>\n\n" + CANARY + "\nsecond line of the body\n")
                    .getBytes(StandardCharsets.US_ASCII);

    private static Launcher.Run deliver(Env e) {
        List<String> args =
                new ArrayList<>(List.of("deliver", "--config", e.sb.config.toString(), "--recipient", "root"));
        if (e.launcherEnv.containsKey("CRYPTFORWARD_RUN_AS_NOBODY")) {
            // as the unprivileged user Postfix runs /etc/aliases pipes as, from a directory it can read
            Nobody.assumeAvailable();
            List<String> cmd = new ArrayList<>(List.of(
                    "/usr/bin/setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "--",
                    Launcher.path().toAbsolutePath().toString()));
            cmd.addAll(args);
            try {
                Process p = new ProcessBuilder(cmd)
                        .directory(Path.of("/").toFile())
                        .redirectErrorStream(true)
                        .start();
                try (var in = p.getOutputStream()) {
                    in.write(MESSAGE);
                }
                byte[] out = p.getInputStream().readAllBytes();
                return new Launcher.Run(p.waitFor(), new String(out, StandardCharsets.UTF_8));
            } catch (IOException | InterruptedException x) {
                throw new AssertionError(x);
            }
        }
        return Launcher.run(new ByteArrayInputStream(MESSAGE), e.launcherEnv, 120, args.toArray(new String[0]));
    }

    @ParameterizedTest(name = "{0}, through the service: {1}")
    @MethodSource("rows")
    void faultThenRetry(Row row, boolean viaService) throws Exception {
        try (Env e = new Env(tmp.resolve("row" + n++), viaService)) {
            row.fault().apply(e);
            Launcher.Run during;
            try {
                during = deliver(e);
            } finally {
                if (row.fault() instanceof MountFault) {
                    // look at the mailbox before the tmpfs goes
                    Path box = e.sb.mailbox;
                    try (var s = Files.walk(box)) {
                        assertFalse(
                                s.anyMatch(p -> p.toString().contains("/new/")
                                        || p.toString().contains("/cur/")),
                                "nothing delivered into the broken mailbox");
                    }
                }
            }
            assertEquals(row.exit(), during.exit(), during.output());
            if (row.status() != null) {
                String line = during.output().strip();
                assertEquals(1, line.lines().count(), "one status line: " + line);
                assertTrue(line.startsWith(row.status()) && line.contains(" cryptforward: "), line);
                assertEquals(row.exit() == 75 ? '4' : '5', line.charAt(0), "status class agrees with the exit code");
            } else {
                assertEquals("", during.output(), "nothing printed on success");
            }
            if (!(row.fault() instanceof MountFault)) {
                assertEquals(row.localCopyKept() ? 1 : 0, e.sb.maildirMessages().size(), "local copy during the fault");
            }
            List<byte[]> relayedDuring = new ArrayList<>(e.active.accepted());
            assertCanaryOnlyInTheLocalCopy(e, during.output(), relayedDuring);
            if (row.exit() == 75) {
                assertEquals(0, relayedDuring.size(), "nothing relayed under a temporary failure");
            }

            row.fault().clear(e);
            if (row.exit() == 75) {
                Launcher.Run retry = deliver(e);
                assertEquals(0, retry.exit(), retry.output());
                assertEquals("", retry.output());
                List<byte[]> relayed = e.active.accepted();
                assertEquals(1, relayed.size(), "forwarded exactly once after the fault cleared");
                assertTrue(Messages.isOriginalWithMark(
                        MESSAGE, TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(relayed.get(0))))));
                assertCanaryOnlyInTheLocalCopy(e, retry.output(), relayed);
            } else if (row.exit() == 69) {
                assertEquals(0, relayedDuring.size(), "the rejected forward was not accepted");
            } else {
                assertEquals(1, relayedDuring.size(), "the notice went out");
                String notice = new String(relayedDuring.get(0), StandardCharsets.ISO_8859_1);
                assertTrue(notice.contains("could not be encrypted"), notice);
            }
            List<Path> local = e.sb.maildirMessages();
            assertEquals(1, local.size(), "exactly one local copy in the end");
            assertEquals(new String(MESSAGE, StandardCharsets.US_ASCII), Files.readString(local.get(0)));
            if (viaService) {
                // the delivery that succeeded (the retry, or the only run) was the service's
                assertEquals(1, e.service.ended(row.exit() == 69 ? 69 : 0), e.service.log());
                assertTrue(e.service.process.isAlive(), "a failed request does not harm the service");
            }
        }
    }

    /** The canary is in the local copy and nowhere else: output, log, state directory, relayed bytes. */
    private static void assertCanaryOnlyInTheLocalCopy(Env e, String output, List<byte[]> relayed) throws IOException {
        byte[] canary = CANARY.getBytes(StandardCharsets.US_ASCII);
        assertFalse(output.contains(CANARY), "not in the output");
        for (byte[] m : relayed) {
            assertFalse(Messages.contains(m, canary), "not in anything relayed");
        }
        try (var files = Files.walk(e.sb.dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                boolean localCopy = f.startsWith(e.sb.mailbox)
                        && (f.getParent().endsWith("new") || f.getParent().endsWith("cur"));
                if (!localCopy && Files.size(f) < 10 << 20 && Files.isReadable(f)) {
                    assertFalse(Messages.contains(Files.readAllBytes(f), canary), "canary in " + f);
                }
            }
        }
    }
}
