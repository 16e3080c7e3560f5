package org.cryptforward.faults;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.ScriptedRelay.Action;
import org.cryptforward.support.ScriptedRelay.Step;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults only a real process can show: SIGTERM while the relay stalls becomes 75 (a plain JVM
 * would exit 143, which Postfix bounces), the deadline ends a stalled run with 75, a JVM that
 * cannot even start is mapped to 75 by the launcher; in each case the local copy is kept, nothing
 * reached the relay, the output is one status line without message content, and the retry
 * delivers exactly once.
 */
class ProcessFaultsIT {
    static final String CANARY = "canary-process-faults-0d7c";
    static final byte[] MESSAGE =
            ("From: cron@host.example\nTo: root@host.example\nSubject: job\nMessage-ID: <pf@host.example>\n\n" + CANARY
                            + "\n")
                    .getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path tmp;

    private Sandbox sandbox(ScriptedRelay relay, String name) {
        return new Sandbox(tmp.resolve(name), relay.port(), "", true, List.of(TestKeys.ED.email));
    }

    private static void assertStatusLine(String output, String prefix) {
        String[] lines = output.strip().split("\n");
        assertEquals(1, lines.length, output);
        assertTrue(lines[0].startsWith(prefix), output);
        assertFalse(output.contains(CANARY), "no message content in the output");
    }

    private static void assertRetryDeliversOnce(Sandbox sb, ScriptedRelay relay) throws Exception {
        relay.clear();
        Launcher.Run retry = Launcher.run(
                new java.io.ByteArrayInputStream(MESSAGE),
                Map.of(),
                120,
                "deliver",
                "--config",
                sb.config.toString(),
                "--recipient",
                "root");
        assertEquals(0, retry.exit(), retry.output());
        assertEquals(1, relay.accepted().size(), "forwarded once");
        assertTrue(Messages.isOriginalWithMark(
                MESSAGE,
                TestKeys.ED.decrypt(
                        PgpMime.encryptedPart(PgpMime.parse(relay.accepted().get(0))))));
        assertEquals(1, sb.maildirMessages().size(), "one local copy");
        assertEquals(
                new String(MESSAGE, StandardCharsets.US_ASCII),
                Files.readString(sb.maildirMessages().get(0)));
    }

    /** A delivery whose relay went silent after the message: the launcher, its JVM, the sandbox. */
    record Stalled(Process launcher, ProcessHandle jvm, Sandbox sb) {
        /** Waits for the launcher's end; returns its output, checking exit status 75. */
        String deferred() throws Exception {
            assertTrue(launcher.waitFor(30, TimeUnit.SECONDS));
            String out = new String(launcher.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(75, launcher.exitValue(), out);
            return out;
        }
    }

    private Stalled stallAtEndOfData(ScriptedRelay relay, String name) throws Exception {
        relay.at(Step.END_OF_DATA, Action.silence());
        Sandbox sb = sandbox(relay, name);
        Process p =
                Launcher.start(MESSAGE, Map.of(), "deliver", "--config", sb.config.toString(), "--recipient", "root");
        ProcessHandle jvm = Launcher.jvmOf(p);
        long until = System.nanoTime() + 30_000_000_000L;
        while (!relay.commands().contains("DATA") && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertTrue(relay.commands().contains("DATA"), "the delivery reached DATA");
        return new Stalled(p, jvm, sb);
    }

    @Test
    void sigtermWhileTheRelayStallsDefers() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay()) {
            Stalled s = stallAtEndOfData(relay, "term");
            assertTrue(s.jvm().destroy(), "SIGTERM sent"); // destroy() sends SIGTERM
            assertStatusLine(s.deferred(), "4.3.0 cryptforward: terminated by a signal");
            assertEquals(0, relay.accepted().size());
            assertEquals(1, s.sb().maildirMessages().size(), "local copy kept before the forward");
            assertRetryDeliversOnce(s.sb(), relay);
        }
    }

    @Test
    void sigtermToTheLauncherIsPassedOnAndDefers() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay()) {
            Stalled s = stallAtEndOfData(relay, "term-launcher");
            assertTrue(s.launcher().toHandle().destroy(), "SIGTERM to the launcher script, not to the JVM");
            assertStatusLine(s.deferred(), "4.3.0 cryptforward: terminated by a signal");
            assertRetryDeliversOnce(s.sb(), relay);
        }
    }

    @Test
    void aJvmKilledOutrightDefersWithJustTheStatusLine() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay()) {
            Stalled s = stallAtEndOfData(relay, "kill");
            assertTrue(s.jvm().destroyForcibly(), "SIGKILL sent");
            assertStatusLine(s.deferred(), "4.3.0 cryptforward: the Java runtime failed (exit status 137)");
            assertRetryDeliversOnce(s.sb(), relay);
        }
    }

    @Test
    void theDeadlineEndsAStalledRun() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay()) {
            relay.at(Step.END_OF_DATA, Action.silence());
            Sandbox sb = sandbox(relay, "deadline");
            sb.writeConfig(Files.readString(sb.config)
                    .replace("deadline_seconds = 60", "deadline_seconds = 10")
                    .replace("timeout_seconds = 10", "timeout_seconds = 300"));
            long start = System.nanoTime();
            Launcher.Run run = Launcher.run(
                    new java.io.ByteArrayInputStream(MESSAGE),
                    Map.of(),
                    120,
                    "deliver",
                    "--config",
                    sb.config.toString(),
                    "--recipient",
                    "root");
            long seconds = (System.nanoTime() - start) / 1_000_000_000L;
            assertEquals(75, run.exit(), run.output());
            assertStatusLine(run.output(), "4.4.7 cryptforward: deadline of 10 s reached");
            assertTrue(seconds < 60, "ended by the deadline, not the relay timeout: " + seconds + " s");
            assertEquals(1, sb.maildirMessages().size());
            assertRetryDeliversOnce(sb, relay);
        }
    }

    @Test
    void aJvmThatCannotStartIsMappedToTempfail() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay()) {
            Sandbox sb = sandbox(relay, "jvm");
            Launcher.Run run = Launcher.run(
                    new java.io.ByteArrayInputStream(MESSAGE),
                    Map.of("CRYPTFORWARD_JAVA_OPTS", "-Xmx1k"),
                    60,
                    "deliver",
                    "--config",
                    sb.config.toString(),
                    "--recipient",
                    "root");
            assertEquals(75, run.exit(), run.output());
            assertTrue(
                    run.output().strip().endsWith("4.3.0 cryptforward: the Java runtime failed (exit status 1)"),
                    run.output());
            assertTrue(sb.maildirMessages().isEmpty(), "nothing done");
            assertEquals(0, relay.sessions());
            assertRetryDeliversOnce(sb, relay);
        }
    }
}
