package org.cryptforward.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The service's units and supervisor scripts in examples/ agree with the configuration's defaults
 * and the installed layout: systemd's socket is {@code [service] socket}'s default, private to the
 * cryptforward user; the service runs as that user with the hardening the README promises and may
 * write exactly where the example configuration keeps keys, state and mail; the launcher runs
 * {@code serve} with the optimising compiler.
 */
class ServiceUnitsTest {
    static Map<String, List<String>> unit(String file) throws Exception {
        Map<String, List<String>> keys = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of("examples/systemd", file))) {
            line = line.strip();
            if (line.isEmpty() || line.startsWith("#") || line.startsWith("[")) {
                continue;
            }
            int eq = line.indexOf('=');
            keys.computeIfAbsent(line.substring(0, eq), k -> new ArrayList<>()).add(line.substring(eq + 1));
        }
        return keys;
    }

    @Test
    void theSocketIsTheDefaultSocketPrivateToTheServiceUser() throws Exception {
        Map<String, List<String>> s = unit("cryptforward.socket");
        assertEquals(List.of(ServiceConfig.DEFAULT_SOCKET.toString()), s.get("ListenStream"));
        assertEquals(List.of("0600"), s.get("SocketMode"));
        assertEquals(List.of("cryptforward"), s.get("SocketUser"));
        assertEquals(List.of("no"), s.get("Accept"), "one service for all connections");
        assertEquals(List.of("sockets.target"), s.get("WantedBy"));
    }

    @Test
    void theServiceRunsAsItsUserHardenedWritingOnlyWhereTheConfigurationKeepsThings() throws Exception {
        Map<String, List<String>> s = unit("cryptforward.service");
        assertEquals(List.of("/usr/local/bin/cryptforward serve"), s.get("ExecStart"));
        assertEquals(
                List.of("socket"), s.get("StandardInput"), "the listening socket as fd 0: System.inheritedChannel()");
        assertEquals(List.of("cryptforward"), s.get("User"));
        for (String k :
                List.of("NoNewPrivileges", "PrivateTmp", "ProtectHome", "ProtectKernelTunables", "RestrictSUIDSGID")) {
            assertEquals(List.of("yes"), s.get(k), k);
        }
        assertEquals(List.of("strict"), s.get("ProtectSystem"));
        List<Path> writable = new ArrayList<>();
        for (String v : s.get("ReadWritePaths")) {
            for (String p : v.split("\\s+")) {
                writable.add(Path.of(p.startsWith("-") ? p.substring(1) : p));
            }
        }
        Config c = ConfigLoader.load(Path.of("examples/cryptforward.toml"));
        for (Path p : List.of(c.keyring(), c.stateDir(), c.local().mailbox())) {
            assertTrue(writable.stream().anyMatch(p::startsWith), p + " is writable for the service: " + writable);
        }
        assertTrue(s.get("ExecReload").get(0).contains("-HUP"), "reload is SIGHUP");
        assertEquals(List.of("cryptforward.socket"), s.get("Requires"));
        assertFalse(s.containsKey("MemoryDenyWriteExecute"), "the JIT writes code");
    }

    @Test
    void supervisorsWithoutSystemdRunServeAsTheServiceUser() throws Exception {
        String runit = Files.readString(Path.of("examples/runit/cryptforward/run"));
        assertTrue(runit.contains("exec chpst -u cryptforward:cryptforward /usr/local/bin/cryptforward serve"), runit);
        assertTrue(
                runit.contains("-o cryptforward -g cryptforward -m 0755 " + ServiceConfig.DEFAULT_SOCKET.getParent()),
                "the socket's directory");
        String openrc = Files.readString(Path.of("examples/openrc/cryptforward"));
        assertTrue(
                openrc.contains("command=/usr/local/bin/cryptforward") && openrc.contains("command_args=\"serve\""),
                openrc);
        assertTrue(openrc.contains("command_user=\"cryptforward:cryptforward\""), openrc);
        assertTrue(
                openrc.contains(
                        "--owner cryptforward:cryptforward --mode 0755 " + ServiceConfig.DEFAULT_SOCKET.getParent()),
                openrc);
        assertTrue(Files.isExecutable(Path.of("examples/runit/cryptforward/run"))
                && Files.isExecutable(Path.of("examples/openrc/cryptforward")));
    }

    @Test
    void theLauncherRunsServeWithTheOptimisingCompiler() throws Exception {
        String launcher = Files.readString(Path.of("src/main/sh/cryptforward"));
        int serve = launcher.indexOf("if [ \"$is_serve\" = yes ]; then");
        int end = launcher.indexOf("\nfi\n", serve);
        assertTrue(serve > 0 && end > serve, "a serve branch in the launcher");
        String branch = launcher.substring(serve, end);
        assertTrue(branch.contains("exec \"$java\""), "the JVM in the script's place: signals reach it");
        assertFalse(branch.contains("TieredStopAtLevel"), branch);
        assertTrue(branch.contains("-XX:+ExitOnOutOfMemoryError"), branch);
    }
}
