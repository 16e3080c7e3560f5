package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.ScriptedRelay.Action;
import org.cryptforward.support.ScriptedRelay.Step;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code deliver} answers the MTA when the relay fails: 75 with one 4.x.x status line for
 * anything that may work later, 69 with one 5.x.x line for a permanent rejection, and in every
 * case the local copy kept and no plaintext in the output.
 */
class RelayFailureTest {
    static final String CANARY = "canary-7f3a9c-body-text-that-must-never-leave";
    static final byte[] MESSAGE = ("From: cron@host.example (Cron Daemon)\n"
                    + "To: root@host.example\n"
                    + "Subject: Cron <root@host> backup\n"
                    + "Message-ID: <relay-failure-" + System.nanoTime() + "@host.example>\n"
                    + "\n"
                    + CANARY + "\n")
            .getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path tmp;

    ScriptedRelay relay;

    @BeforeEach
    void start() {
        relay = new ScriptedRelay();
    }

    @AfterEach
    void stop() {
        relay.close();
    }

    private Sandbox sandbox(int port, String extra) {
        return new Sandbox(tmp.resolve("sb"), port, extra, true);
    }

    private static void assertStatusLine(Sandbox.Run run, int exit, String statusPrefix, String text) {
        assertEquals(exit, run.exit(), run.combined());
        String all = run.combined();
        String[] lines = all.strip().split("\n");
        assertEquals(1, lines.length, () -> "exactly one line: " + all);
        assertTrue(lines[0].matches("[45]\\.\\d{1,3}\\.\\d{1,3} cryptforward: .*"), lines[0]);
        assertEquals(exit == 75 ? '4' : '5', lines[0].charAt(0), "status class agrees with the exit code");
        assertTrue(lines[0].startsWith(statusPrefix), () -> lines[0] + " should start with " + statusPrefix);
        assertTrue(lines[0].contains(text), () -> lines[0] + " should mention " + text);
        assertFalse(all.contains(CANARY), "no message content in the output");
        assertFalse(all.contains("Exception") || all.contains("\tat "), "no stack trace");
    }

    private static void assertKeptLocally(Sandbox sb) throws Exception {
        List<Path> local = sb.maildirMessages();
        assertEquals(1, local.size(), "local copy kept");
        assertEquals(new String(MESSAGE, StandardCharsets.US_ASCII), Files.readString(local.get(0)));
    }

    @Test
    void relayNotListeningDefers() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Sandbox sb = sandbox(port, "");
        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root");
        assertStatusLine(run, 75, "4.4.1", "refused connection");
        assertKeptLocally(sb);
        assertTrue(sb.logText().contains("status=deferred"), sb.logText());
    }

    @Test
    void greeting421Defers() throws Exception {
        relay.at(Step.GREETING, Action.reply("421 4.3.2 service not available"));
        Sandbox sb = sandbox(relay.port(), "");
        assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 75, "4.", "relay 127.0.0.1:" + relay.port());
        assertKeptLocally(sb);
    }

    @Test
    void tempfailAfterDataDefersAndRetrySendsOnce() throws Exception {
        relay.at(Step.END_OF_DATA, Action.reply("451 4.3.0 try again later"));
        Sandbox sb = sandbox(relay.port(), "");
        assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 75, "4.3.0", "451");
        assertEquals(0, relay.accepted().size());

        relay.clear();
        Sandbox.Run retry = sb.deliver(MESSAGE, "--recipient", "root");
        assertEquals(0, retry.exit(), retry.combined());
        assertKeptLocally(sb);
        assertEquals(1, relay.accepted().size(), "forward sent once");
        byte[] plain = TestKeys.ED.decrypt(
                PgpMime.encryptedPart(PgpMime.parse(relay.accepted().get(0))));
        assertTrue(Messages.isOriginalWithMark(MESSAGE, plain));

        Sandbox.Run again = sb.deliver(MESSAGE, "--recipient", "root");
        assertEquals(0, again.exit(), again.combined());
        assertEquals(1, relay.accepted().size(), "a third run sends nothing");
        assertKeptLocally(sb);
    }

    @Test
    void tempfailAtRcptDefers() throws Exception {
        relay.at(Step.RCPT, Action.reply("452 4.2.2 mailbox full"));
        Sandbox sb = sandbox(relay.port(), "");
        assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 75, "4.2.2", "admin@example.org");
        assertKeptLocally(sb);
    }

    @Test
    void permanentRejectionAfterDataBounces() throws Exception {
        for (String reply :
                List.of("550 5.7.1 content rejected", "552 5.3.4 message too big", "554 5.6.0 transaction failed")) {
            relay.clear().at(Step.END_OF_DATA, Action.reply(reply));
            Sandbox sb = new Sandbox(tmp.resolve("sb" + reply.substring(0, 3)), relay.port(), "", true);
            Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root");
            assertStatusLine(run, 69, reply.substring(4, 9), reply.substring(0, 3));
            assertKeptLocally(sb);
            assertTrue(sb.logText().contains("status=bounced"), sb.logText());
        }
    }

    @Test
    void unknownRecipientBounces() throws Exception {
        relay.at(Step.RCPT, Action.reply("550 5.1.1 no such user"));
        Sandbox sb = sandbox(relay.port(), "");
        assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 69, "5.1.1", "admin@example.org");
        assertKeptLocally(sb);
    }

    @Test
    void aRefusedSenderOrTooManyRecipientsIsNotABounce() throws Exception {
        // the sender is envelope_from or the relay's policy, the same for every message; 552 to
        // RCPT is "too many recipients", to be taken as 452 (RFC 5321 4.5.3.1.10)
        for (Step step : List.of(Step.MAIL, Step.RCPT)) {
            relay.clear();
            relay.at(
                    step,
                    Action.reply(step == Step.MAIL ? "550 5.7.1 sender refused" : "552 5.5.3 too many recipients"));
            Sandbox sb = new Sandbox(tmp.resolve("sb" + step), relay.port(), "", true);
            assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 75, "4.", "relay");
        }
    }

    @Test
    void aPermanentRejectionWithoutALocalCopyStaysQueued() throws Exception {
        relay.at(Step.RCPT, Action.reply("550 5.1.1 no such user"));
        Sandbox sb = sandbox(relay.port(), "local_copy = false\n");
        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root");
        assertStatusLine(run, 75, "4.1.1", "keeps no local copy");
        assertTrue(sb.maildirMessages().isEmpty(), "no local copy, as the rule says");
        assertTrue(sb.logText().contains("status=deferred"), sb.logText());
    }

    @Test
    void authenticationRequiredIsNotABounce() throws Exception {
        relay.at(Step.MAIL, Action.reply("530 5.7.0 authentication required"));
        Sandbox sb = sandbox(relay.port(), "");
        assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 75, "4.", "530");
        assertKeptLocally(sb);
    }

    @Test
    void silentRelayTimesOut() throws Exception {
        relay.at(Step.END_OF_DATA, Action.silence());
        Sandbox sb = sandbox(relay.port(), "");
        sb.writeConfig(Files.readString(sb.config).replace("timeout_seconds = 10", "timeout_seconds = 1"));
        long start = System.nanoTime();
        assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 75, "4.4.2", "timed out");
        assertTrue(System.nanoTime() - start < 20_000_000_000L, "gave up within the timeout");
        assertKeptLocally(sb);
        assertEquals(0, relay.accepted().size());
    }

    @Test
    void droppedConnectionDuringDataDefers() throws Exception {
        relay.at(Step.END_OF_DATA, Action.disconnect());
        Sandbox sb = sandbox(relay.port(), "");
        assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 75, "4.4.2", "closed the connection");
        assertKeptLocally(sb);
    }

    @Test
    void starttlsNotOfferedIsNeverPlaintext() throws Exception {
        Sandbox sb = sandbox(relay.port(), "");
        sb.writeConfig(Files.readString(sb.config).replace("[relay]\n", "[relay]\nsecurity = \"starttls\"\n"));
        assertStatusLine(sb.deliver(MESSAGE, "--recipient", "root"), 75, "4.7.0", "STARTTLS");
        assertKeptLocally(sb);
        assertFalse(relay.commands().stream().anyMatch(c -> c.startsWith("MAIL")), "nothing sent in the clear");
    }

    @Test
    void brokenConfigDefersWithFileAndLine() {
        Sandbox sb = sandbox(relay.port(), "");
        sb.writeConfig("keyring = \"/tmp\"\n[relay]\nport = \"twenty-five\"\n");
        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root");
        assertStatusLine(run, 75, "4.3.5", sb.config + ":3: relay.port: must be an integer");
        assertTrue(sb.maildirMessages().isEmpty(), "nothing written before the config is valid");
    }

    @Test
    void missingConfigDefers() throws Exception {
        Sandbox sb = sandbox(relay.port(), "");
        Files.delete(sb.config);
        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root");
        assertStatusLine(run, 75, "4.3.5", "configuration error: " + sb.config + ": no such file");
    }

    @Test
    void unexpectedExceptionDefers() throws Exception {
        Sandbox sb = sandbox(relay.port(), "");
        // a fault injected through the clock: the third reading of the time throws
        sb.clock(new Clock() {
            int calls;

            @Override
            public ZoneId getZone() {
                return ZoneId.of("UTC");
            }

            @Override
            public Clock withZone(ZoneId zone) {
                return this;
            }

            @Override
            public Instant instant() {
                if (++calls == 3) {
                    throw new IllegalStateException("injected fault");
                }
                return Instant.now();
            }
        });
        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root");
        assertEquals(75, run.exit(), run.combined());
        assertTrue(
                run.err().startsWith("4.3.0 cryptforward: internal error (java.lang.IllegalStateException"), run.err());
        assertEquals(1, run.err().strip().split("\n").length, "one line, no stack trace");
        assertFalse(run.combined().contains(CANARY));
    }

    @Test
    void debugShowsTheStackTrace() {
        Sandbox sb = sandbox(relay.port(), "");
        sb.writeConfig("nonsense = true\n");
        Sandbox.Run run = sb.run(MESSAGE, "--debug", "deliver");
        assertEquals(75, run.exit());
        assertTrue(run.err().contains("org.cryptforward"), "stack trace with --debug: " + run.err());
    }
}
