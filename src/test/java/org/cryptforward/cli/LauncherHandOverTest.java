package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's hand-over between the thin client's JVM and the in-process one, with a stand-in
 * for java ({@code CRYPTFORWARD_JAVA}) that plays each JVM's part: the client's ends with 120 when
 * the service does not take the request; the launcher must then run the full JVM on the whole,
 * untouched input, and never let 120 reach the MTA; a SIGTERM that came during the client's JVM
 * ends the delivery with 75 instead of starting the second; no socket, no client JVM at all.
 */
class LauncherHandOverTest {
    @TempDir
    Path tmp;

    Path launcher;
    Path config;
    Path socket;
    Path calls;

    @BeforeEach
    void layout() throws IOException {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path lib = Files.createDirectories(tmp.resolve("lib"));
        launcher = bin.resolve("cryptforward");
        Files.copy(Path.of("src/main/sh/cryptforward"), launcher);
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(lib.resolve("cryptforward.jar"), "");
        Files.writeString(lib.resolve("client.jsa"), "");
        socket = tmp.resolve("run/s.sock");
        Files.createDirectories(socket.getParent());
        config = tmp.resolve("cryptforward.toml");
        Files.writeString(config, "keyring = \"k\"\n[service]  # the service\nsocket = '" + socket + "'\n[relay]\n");
        calls = tmp.resolve("calls");
    }

    /** A stand-in for java: logs which JVM it plays, then acts as {@code clientPart} says or reads its input. */
    Path fakeJava(String clientPart) throws IOException {
        Path java = tmp.resolve("java");
        Files.writeString(
                java,
                "#!/bin/sh\n"
                        + "case \"$*\" in\n"
                        + "  *-Dcryptforward.launch=client*) echo client >>'" + calls + "'; " + clientPart + " ;;\n"
                        + "  *) echo full >>'" + calls + "'; echo \"full read: $(cat)\"; exit 0 ;;\n"
                        + "esac\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        return java;
    }

    record Result(int exit, String output, List<String> calls) {}

    Result deliver(Path java) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(
                        "/bin/sh", launcher.toString(), "deliver", "--config", config.toString(), "--recipient", "root")
                .redirectErrorStream(true);
        pb.environment().put("CRYPTFORWARD_JAVA", java.toString());
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            in.write("Subject: hand-over\n\nthe whole message\n".getBytes(StandardCharsets.US_ASCII));
        }
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.exitValue(), out, Files.exists(calls) ? Files.readAllLines(calls) : List.of());
    }

    @Test
    void whatTheServiceDoesNotTakeRunsInProcessOnTheWholeInput() throws Exception {
        try (ServerSocketChannel listening = listen()) {
            Result r = deliver(fakeJava("exit 120"));
            assertEquals(List.of("client", "full"), r.calls());
            assertEquals(0, r.exit(), r.output());
            assertEquals(
                    "full read: Subject: hand-over\n\nthe whole message",
                    r.output().strip());
        }
    }

    @Test
    void theClientsOwnEndIsTheDeliverysEnd() throws Exception {
        try (ServerSocketChannel listening = listen()) {
            Result r = deliver(fakeJava("echo '4.4.1 cryptforward: relay refused connection'; exit 75"));
            assertEquals(List.of("client"), r.calls(), "no second JVM after the service's answer");
            assertEquals(75, r.exit());
            assertEquals(
                    "4.4.1 cryptforward: relay refused connection", r.output().strip());
        }
    }

    @Test
    void aSignalDuringTheClientsJvmEndsTheDeliveryWith75() throws Exception {
        try (ServerSocketChannel listening = listen()) {
            // the client's JVM has decided on 120 (so the SIGTERM passed on to it changes nothing)
            // when the MTA's SIGTERM reaches the launcher, its parent
            Result r = deliver(fakeJava("trap '' TERM; kill -TERM $PPID; sleep 0.3; exit 120"));
            assertEquals(List.of("client"), r.calls(), "the in-process JVM is not started: " + r.output());
            assertEquals(75, r.exit(), r.output());
            assertTrue(r.output().startsWith("4.3.0 cryptforward: terminated by a signal"), r.output());
        }
    }

    @Test
    void withoutTheSocketThereIsNoClientJvm() throws Exception {
        Result r = deliver(fakeJava("exit 120"));
        assertEquals(List.of("full"), r.calls());
        assertEquals(0, r.exit());
        assertFalse(r.output().contains("120"), r.output());
    }

    @Test
    void theMtaNeverSees120() throws Exception {
        // a JVM started in full that ended with 120 (which it never does) is a failed runtime: 75
        Path java = tmp.resolve("java120");
        Files.writeString(java, "#!/bin/sh\nexit 120\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        Result r = deliver(java);
        assertEquals(75, r.exit(), r.output());
        assertTrue(r.output().startsWith("4.3.0 cryptforward: the Java runtime failed (exit status 120)"), r.output());
    }

    ServerSocketChannel listen() throws IOException {
        ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        s.bind(UnixDomainSocketAddress.of(socket));
        return s;
    }
}
