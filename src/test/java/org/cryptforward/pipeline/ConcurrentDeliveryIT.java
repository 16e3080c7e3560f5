package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.cryptforward.support.ConfigToml;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.MboxReader;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Relay;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.SyntheticMail;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Concurrency with real processes, as an MTA creates it: 50 {@code cryptforward deliver} JVMs
 * started at once, each with its own message, into one mailbox — every message is there once and
 * intact (no interleaving: each is compared byte for byte), and every forward reached the relay
 * and decrypts to its original. And two runs of the same message at once (Postfix may start
 * two): one keeps and forwards it, the other waits for it and finds the work done.
 */
class ConcurrentDeliveryIT {
    static final int PROCESSES = 50;

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "maildir={0}")
    @ValueSource(booleans = {false, true})
    void fiftyProcessesAtOnceDeliverFiftyIntactMessages(boolean maildir) throws Exception {
        try (Relay relay = new Relay()) {
            Sandbox sb = new ConfigToml(new Sandbox(tmp.resolve("sb"), relay.port(), "", maildir))
                    .relayPort(relay.port())
                    .mailbox(tmp.resolve(maildir ? "Maildir" : "mbox"), maildir)
                    .lockTimeoutSeconds(240)
                    .deadlineSeconds(300)
                    .rootRule(true, "admin@example.org")
                    .write();
            Path mailbox = tmp.resolve(maildir ? "Maildir" : "mbox");
            Map<String, byte[]> messages = new HashMap<>();
            List<Process> processes = new ArrayList<>();
            List<Path> outputs = new ArrayList<>();
            for (int i = 0; i < PROCESSES; i++) {
                String id = "concurrent-" + (maildir ? "md-" : "mb-") + i;
                byte[] m = SyntheticMail.cron(id, 70_000 + 2_000 * i, i);
                messages.put(id, m);
                outputs.add(tmp.resolve(id + ".out"));
                processes.add(Launcher.startDeliver(
                        sb.config,
                        Launcher.postfixInput(tmp, id + ".in", "root@host.example", m),
                        outputs.get(i),
                        Launcher.postfixEnv("root@cf.test", "root@host.example")));
            }
            long t0 = System.nanoTime();
            for (int i = 0; i < PROCESSES; i++) {
                Launcher.Run r = Launcher.finish(processes.get(i), outputs.get(i), 300);
                assertEquals(0, r.exit(), "process " + i + ": " + r.output());
                assertEquals("", r.output());
            }
            System.out.printf(
                    "%d processes into one %s: all done %.1f s after the last one started%n",
                    PROCESSES, maildir ? "Maildir" : "mbox", (System.nanoTime() - t0) / 1e9);

            List<byte[]> stored = new ArrayList<>();
            if (maildir) {
                try (var s = Files.list(mailbox.resolve("new"))) {
                    for (Path p : s.toList()) {
                        stored.add(Files.readAllBytes(p));
                    }
                }
                try (var s = Files.list(mailbox.resolve("tmp"))) {
                    assertEquals(0, s.count(), "nothing left in tmp/");
                }
            } else {
                for (MboxReader.Entry e : MboxReader.read(mailbox)) {
                    stored.add(e.message());
                }
            }
            assertEquals(PROCESSES, stored.size(), "one copy per message");
            Set<String> seen = new HashSet<>();
            for (byte[] s : stored) {
                String id = idOf(s);
                assertArrayEquals(MboxReader.expectedReadBack(messages.get(id)), s, "message " + id + " intact");
                assertTrue(seen.add(id), "message " + id + " twice");
            }

            MimeMessage[] received = relay.received();
            assertEquals(PROCESSES, received.length, "one forward per message");
            Set<String> forwarded = new HashSet<>();
            for (MimeMessage f : received) {
                byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(f));
                String id = idOf(payload);
                assertTrue(
                        Messages.isOriginalWithMark(messages.get(id), payload), "forward of " + id + " decrypts to it");
                forwarded.add(id);
            }
            assertEquals(messages.keySet(), forwarded);
        }
    }

    @Test
    void twoRunsOfTheSameMessageAtOnceDeliverItOnce() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            // the relay takes its time: the two runs certainly overlap
            smtp.pause(ScriptedRelay.Step.END_OF_DATA, Duration.ofSeconds(2));
            Sandbox sb = new ConfigToml(new Sandbox(tmp.resolve("pair"), smtp.port(), "", false))
                    .relayPort(smtp.port())
                    .rootRule(true, "admin@example.org")
                    .write();
            byte[] m = SyntheticMail.cron("twice", 50_000, 7);
            Map<String, String> env = Launcher.postfixEnv("root@cf.test", "root@host.example");
            Process a = Launcher.startDeliver(
                    sb.config, Launcher.postfixInput(tmp, "a.in", "root@host.example", m), tmp.resolve("a.out"), env);
            Process b = Launcher.startDeliver(
                    sb.config, Launcher.postfixInput(tmp, "b.in", "root@host.example", m), tmp.resolve("b.out"), env);
            Launcher.Run ra = Launcher.finish(a, tmp.resolve("a.out"), 120);
            Launcher.Run rb = Launcher.finish(b, tmp.resolve("b.out"), 120);
            assertEquals(0, ra.exit(), ra.output());
            assertEquals(0, rb.exit(), rb.output());

            List<MboxReader.Entry> entries = MboxReader.read(sb.mailbox);
            assertEquals(1, entries.size(), "kept once");
            assertArrayEquals(m, entries.get(0).message());
            assertEquals(1, smtp.accepted().size(), "forwarded once");
            assertEquals(
                    1,
                    smtp.commands().stream()
                            .filter(c -> c.equalsIgnoreCase("DATA"))
                            .count(),
                    "and sent once");
            byte[] payload = TestKeys.RSA.decrypt(
                    PgpMime.encryptedPart(PgpMime.parse(smtp.accepted().get(0))));
            assertTrue(Messages.isOriginalWithMark(m, payload));
            String log = sb.logText();
            assertEquals(2, log.lines().count(), log);
            assertTrue(log.contains("already delivered by an earlier run"), log);
        }
    }

    /** The id in the Subject ("job ID") of a message or decrypted payload. */
    static String idOf(byte[] message) {
        String s = Messages.headerValue(message, "Subject");
        return s.substring(s.indexOf("job ") + 4).strip();
    }
}
