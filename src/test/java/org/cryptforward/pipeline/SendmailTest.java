package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
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
 * {@code cryptforward sendmail} end to end in-process, against the scripted relay: what cron,
 * mail(1) and {@code sendmail -t} hand over is kept locally once, queued encrypted, and sent;
 * with the relay down it is queued (exit 0), holds no plaintext, and one later run delivers it
 * exactly once; at the end of its lifetime a notice without content goes into the mailbox and the
 * entry is kept aside.
 */
class SendmailTest {
    static final String CANARY = "CANARY-7f3a9c-do-not-leak";

    @TempDir
    Path tmp;

    static byte[] cronMail(String token) {
        return ("From: root (Cron Daemon)\n"
                        + "To: root\n"
                        + "Subject: Cron <root@host> /usr/local/sbin/backup (failed) " + token + "\n"
                        + "MIME-Version: 1.0\n"
                        + "Content-Type: text/plain; charset=UTF-8\n"
                        + "Content-Transfer-Encoding: 8bit\n"
                        + "X-Cron-Env: <SHELL=/bin/sh>\n"
                        + "\n"
                        + "pg_dump: error: connection failed\n"
                        + "Sicherung fehlgeschlagen \u2014 " + CANARY + "\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static List<Path> filesUnder(Path dir) {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void assertNoPlaintext(Path state) throws IOException {
        for (Path f : filesUnder(state)) {
            byte[] b = Files.readAllBytes(f);
            assertFalse(Messages.contains(b, CANARY.getBytes(StandardCharsets.UTF_8)), "plaintext canary in " + f);
            assertFalse(Messages.contains(b, "pg_dump".getBytes(StandardCharsets.UTF_8)), "plaintext body in " + f);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)), f.toString());
        }
    }

    static byte[] decrypt(byte[] forward) {
        return TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(forward)));
    }

    @Test
    void cronMailIsKeptOnceAndForwardedEncrypted() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), smtp.port(), "", true);
            byte[] mail = cronMail("T1");
            Sandbox.Run run = sb.run(mail, "sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root");
            assertEquals(0, run.exit(), run.combined());
            assertEquals("", run.combined(), "sendmail prints nothing when all is well");

            List<Path> copies = sb.maildirMessages();
            assertEquals(1, copies.size());
            byte[] local = Files.readAllBytes(copies.get(0));
            assertTrue(Messages.contains(local, mail), "the message is kept as it came, after the fields an MTA adds");
            assertTrue(
                    Messages.headerValue(local, "Date") != null && Messages.headerValue(local, "Message-ID") != null,
                    "Date and Message-ID added, as an MTA adds them");

            List<byte[]> accepted = smtp.accepted();
            assertEquals(1, accepted.size());
            assertEquals(
                    "admin@example.org",
                    Messages.headerValue(accepted.get(0), "To").strip());
            assertFalse(
                    Messages.contains(accepted.get(0), CANARY.getBytes(StandardCharsets.UTF_8)),
                    "the body is not visible outside");
            assertTrue(
                    Messages.isOriginalWithMark(local, decrypt(accepted.get(0))),
                    "the forward decrypts to the local copy");
            assertTrue(
                    smtp.commands().stream().anyMatch(c -> c.equalsIgnoreCase("MAIL FROM:<cryptforward@cf.test>")),
                    smtp.commands().toString());

            assertEquals(
                    "Mail queue is empty\n",
                    sb.run(new byte[0], "queue", "list").out());
            assertTrue(sb.logText().contains("status=queued"), sb.logText());
            assertTrue(sb.logText().contains("status=sent"), sb.logText());
            assertTrue(sb.logText().contains("ignored sendmail options: -B8BITMIME -oem"), sb.logText());
            assertNoPlaintext(sb.state);
        }
    }

    @Test
    void resentBccIsRemovedLikeBcc() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), smtp.port(), "", true);
            byte[] mail = ("From: root@host.example\n"
                            + "To: root\n"
                            + "Resent-Bcc: hidden-resent@example.com\n"
                            + "Subject: resent\n"
                            + "Bcc: hidden-bcc@example.com\n"
                            + "resent-bcc:\thidden-lower@example.com\n"
                            + "\n"
                            + "body " + CANARY + "\n")
                    .getBytes(StandardCharsets.US_ASCII);
            Sandbox.Run run = sb.run(mail, "sendmail", "-i", "-t");
            assertEquals(0, run.exit(), run.combined());
            byte[] local = Files.readAllBytes(sb.maildirMessages().get(0));
            assertEquals(1, smtp.accepted().size());
            byte[] payload = decrypt(smtp.accepted().get(0));
            for (byte[] b : List.of(local, payload, smtp.accepted().get(0))) {
                assertFalse(
                        Messages.contains(b, "hidden-".getBytes(StandardCharsets.US_ASCII)),
                        "no Bcc nor Resent-Bcc left");
            }
            assertTrue(Messages.isOriginalWithMark(local, payload));
            assertTrue(
                    Messages.contains(local, "Subject: resent\n".getBytes(StandardCharsets.US_ASCII)),
                    "every other field kept");
        }
    }

    @Test
    void dashTTakesToCcAndBccAndRemovesBcc() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), smtp.port(), """
                    [[rule]]
                    name = "ops"
                    recipient = ["ops@example.org"]
                    forward_to = ["ops-encrypted@example.org"]
                    keys = ["%s"]
                    """.formatted(TestKeys.ED.email), true);
            byte[] mail = ("From: smartd <smartd@host.example>\n"
                            + "To: nobody-matches@example.net\n"
                            + "Cc: Ops Team <ops@example.org>\n"
                            + "Bcc: hidden-watcher@example.com\n"
                            + "Subject: SMART error T2\n"
                            + "\n"
                            + "Device /dev/sda: " + CANARY + "\n")
                    .getBytes(StandardCharsets.US_ASCII);
            Sandbox.Run run = sb.run(mail, "sendmail", "-oi", "-t", "root");
            assertEquals(0, run.exit(), run.combined());

            List<Path> copies = sb.maildirMessages();
            assertEquals(1, copies.size(), "one local copy for all recipients");
            byte[] local = Files.readAllBytes(copies.get(0));
            assertFalse(
                    Messages.contains(local, "hidden-watcher".getBytes(StandardCharsets.US_ASCII)),
                    "Bcc removed from the copy");
            assertTrue(
                    Messages.contains(local, "Cc: Ops Team <ops@example.org>\n".getBytes(StandardCharsets.US_ASCII)));

            List<byte[]> accepted = smtp.accepted();
            List<String> to = new ArrayList<>();
            for (byte[] a : accepted) {
                to.add(Messages.headerValue(a, "To").strip());
                byte[] payload = decrypt(a);
                assertTrue(Messages.isOriginalWithMark(local, payload), "each forward decrypts to the local copy");
                assertFalse(Messages.contains(a, "hidden-watcher".getBytes(StandardCharsets.US_ASCII)));
                assertFalse(
                        Messages.contains(payload, "hidden-watcher".getBytes(StandardCharsets.US_ASCII)),
                        "Bcc gone inside too");
            }
            // root (named) goes by root-to-admin; the three from the header by rule ops, whose
            // glob matches the Cc address (rules match To and Cc, as for deliver); each rule
            // forwards once, however many recipients chose it
            assertEquals(
                    List.of("admin@example.org", "ops-encrypted@example.org"),
                    to.stream().sorted().toList());
            String log = sb.logText();
            assertTrue(log.contains("to=<root> rule=root-to-admin"), log);
            assertTrue(
                    log.contains("to=<nobody-matches@example.net,ops@example.org,hidden-watcher@example.com> rule=ops"),
                    log);
            assertFalse(log.contains("rule=(none)"), log);
        }
    }

    @Test
    void withoutDashIALoneDotEndsTheMessage() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), smtp.port(), "", true);
            byte[] input = "To: root\nSubject: dots T3\n\nfirst\n..not the end\n.\nafter the end\n"
                    .getBytes(StandardCharsets.US_ASCII);
            assertEquals(0, sb.run(input, "sendmail", "root").exit());
            byte[] local = Files.readAllBytes(sb.maildirMessages().get(0));
            String text = new String(local, StandardCharsets.US_ASCII);
            assertTrue(text.endsWith("\n\nfirst\n..not the end\n"), text);

            assertEquals(0, sb.run(input, "sendmail", "-i", "root").exit());
            long withRest = sb.maildirMessages().stream()
                    .filter(p -> {
                        try {
                            return Files.readString(p).contains("after the end");
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    })
                    .count();
            assertEquals(1, withRest, "with -i the whole input is the message");
        }
    }

    @Test
    void relayDownQueuesWithoutPlaintextAndOneRunDeliversExactlyOnce() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            smtp.at(Step.GREETING, Action.reply("421 4.3.2 service not available"));
            Sandbox sb = new Sandbox(tmp.resolve("sb"), smtp.port(), "", true);
            byte[] mail = cronMail("T4");
            Sandbox.Run run = sb.run(mail, "sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root");
            assertEquals(0, run.exit(), "the message is safe in the queue: " + run.combined());
            assertEquals("", run.combined());
            assertEquals(0, smtp.accepted().size());
            assertEquals(1, sb.maildirMessages().size(), "the local copy is kept");
            assertNoPlaintext(sb.state);

            String list = sb.run(new byte[0], "queue", "list").out();
            assertTrue(list.contains("admin@example.org") && list.contains("421") && list.contains("1 Request."), list);
            assertEquals(list, sb.run(new byte[0], "sendmail", "-bp").out(), "mailq is queue list");

            smtp.clear();
            Sandbox.Run flush = sb.run(new byte[0], "queue", "run");
            assertEquals(0, flush.exit(), flush.combined());
            assertTrue(flush.out().contains("1 sent"), flush.out());
            assertEquals(1, smtp.accepted().size());
            assertTrue(Messages.isOriginalWithMark(
                    Files.readAllBytes(sb.maildirMessages().get(0)),
                    decrypt(smtp.accepted().get(0))));

            assertTrue(sb.run(new byte[0], "queue", "run").out().contains("0 sent"));
            assertEquals(1, smtp.accepted().size(), "never sent twice");
            assertEquals(1, sb.maildirMessages().size(), "one local copy");
            assertEquals(
                    "Mail queue is empty\n",
                    sb.run(new byte[0], "queue", "list").out());
            assertTrue(
                    filesUnder(sb.state.resolve("queue")).isEmpty(),
                    "nothing left in the queue: " + filesUnder(sb.state.resolve("queue")));
        }
    }

    @Test
    void theScheduleGrowsAndTheLifetimeEndsInANoticeAndAnEntryKeptAside() throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve("sb"), closedPort(), "[queue]\nlifetime_days = 2\n", true);
        byte[] mail = cronMail("T5");
        assertEquals(0, sb.run(mail, "sendmail", "-t").exit());
        String list = sb.run(new byte[0], "queue", "list").out();
        assertTrue(list.contains("4.4.1 cryptforward: relay 127.0.0.1:") && list.contains("refused connection"), list);
        String id = list.lines().skip(1).findFirst().orElseThrow().split(" ")[0].strip();

        // not due yet 30 s later: nothing tried
        sb.clock(Clock.offset(Clock.systemDefaultZone(), Duration.ofSeconds(30)));
        assertEquals(0, sb.run(new byte[0], "queue", "run", "--due").exit());
        assertTrue(sb.logText().lines().filter(l -> l.contains("queue=" + id)).count() == 1, sb.logText());
        // due after a minute
        sb.clock(Clock.offset(Clock.systemDefaultZone(), Duration.ofSeconds(61)));
        assertEquals("", sb.run(new byte[0], "queue", "run", "--due").out(), "--due is silent");
        assertEquals(
                2,
                sb.logText()
                        .lines()
                        .filter(l -> l.contains("queue=" + id) && l.contains("status=deferred"))
                        .count(),
                sb.logText());
        assertTrue(sb.run(new byte[0], "queue", "list").out().contains(id));
        assertTrue(sb.run(new byte[0], "check")
                .out()
                .contains("ok: queue: 1 forward waiting for the relay, the oldest (" + id + ")"));
        sb.clock(Clock.offset(Clock.systemDefaultZone(), Duration.ofHours(3)));
        String check = sb.run(new byte[0], "check").out();
        assertTrue(
                check.contains("warning: queue: 1 forward waiting for the relay, the oldest (" + id + ") for 3 h")
                        && check.contains("refused connection"),
                check);

        sb.clock(Clock.offset(Clock.systemDefaultZone(), Duration.ofDays(2).plusMinutes(1)));
        assertEquals(0, sb.run(new byte[0], "queue", "run", "--due").exit());
        List<Path> box = sb.maildirMessages();
        assertEquals(2, box.size(), "the local copy and the notice");
        byte[] notice = null;
        for (Path p : box) {
            byte[] b = Files.readAllBytes(p);
            if (!Messages.contains(b, "T5".getBytes(StandardCharsets.US_ASCII))) {
                notice = b;
            }
        }
        assertTrue(notice != null, "a notice without the Subject of the message");
        String n = new String(notice, StandardCharsets.US_ASCII);
        assertTrue(n.contains(id) && n.contains("admin@example.org") && n.contains("lifetime of 2 days"), n);
        assertFalse(
                n.contains(CANARY) || n.contains("pg_dump") || n.contains("backup"), "no content in the notice: " + n);
        assertTrue(Files.isDirectory(sb.state.resolve("queue/aside/" + id)), "kept aside, not dropped");
        String after = sb.run(new byte[0], "queue", "list").out();
        assertTrue(after.contains(id + "!"), after);
        assertTrue(sb.logText().contains("status=expired"), sb.logText());
        Sandbox.Run checked = sb.run(new byte[0], "check");
        assertEquals(78, checked.exit(), checked.out());
        assertTrue(
                checked.out().contains("error: queue: 1 forward was given up and kept aside (the oldest " + id),
                checked.out());

        // a later run leaves it alone; remove deletes it
        assertEquals(0, sb.run(new byte[0], "queue", "run").exit());
        assertEquals(2, sb.maildirMessages().size(), "one notice only");
        assertEquals(0, sb.run(new byte[0], "queue", "remove", id.toLowerCase()).exit());
        assertEquals(
                "Mail queue is empty\n", sb.run(new byte[0], "queue", "list").out());
        assertEquals(64, sb.run(new byte[0], "queue", "remove", id).exit(), "gone");
    }

    @Test
    void aRecipientNoRuleMatchesIsKeptLocallyOnly() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), smtp.port(), "", true);
            byte[] mail = "To: bob\nSubject: for bob\n\nhello bob\n".getBytes(StandardCharsets.US_ASCII);
            assertEquals(0, sb.run(mail, "sendmail", "bob").exit());
            assertEquals(1, sb.maildirMessages().size());
            assertEquals(0, smtp.accepted().size());
            assertEquals(0, smtp.sessions(), "the relay is not even contacted");
            assertEquals(
                    "Mail queue is empty\n",
                    sb.run(new byte[0], "queue", "list").out());
            assertTrue(
                    sb.logText().contains("to=<bob> rule=(none)")
                            && sb.logText().contains("kept locally only"),
                    sb.logText());
        }
    }

    @Test
    void queueOnlyDoesNotTryTheRelayAndTheNextRunSends() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), smtp.port(), "", true);
            assertEquals(0, sb.run(cronMail("T6"), "sendmail", "-odq", "root").exit());
            assertEquals(0, smtp.sessions());
            assertEquals(0, sb.run(new byte[0], "queue", "run", "--due").exit(), "due at once");
            assertEquals(1, smtp.accepted().size());
        }
    }

    @Test
    void badUsageIs64WithOneLineAndReadsNothing() throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve("sb"), closedPort(), "", true);
        for (String[] args : List.of(
                new String[] {"sendmail"}, new String[] {"sendmail", "-bs"}, new String[] {"sendmail", "-z", "root"})) {
            Sandbox.Run run = sb.run("To: root\n\nx\n".getBytes(StandardCharsets.US_ASCII), args);
            assertEquals(64, run.exit(), String.join(" ", args));
            assertEquals(1, run.err().lines().count(), run.err());
            assertTrue(run.err().startsWith("cryptforward: sendmail: "), run.err());
        }
        Sandbox.Run none = sb.run("Subject: no one\n\nx\n".getBytes(StandardCharsets.US_ASCII), "sendmail", "-t");
        assertEquals(64, none.exit(), "-t and no recipient anywhere");
        assertTrue(sb.maildirMessages().isEmpty());
        assertEquals(0, sb.run(new byte[0], "sendmail", "-bi").exit(), "newaliases has nothing to do");
    }

    @Test
    void aBrokenConfigurationIs75AndKeepsNothingHalfDone() throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve("sb"), closedPort(), "[queue]\nlifetime_days = 0\n", true);
        Sandbox.Run run = sb.run(cronMail("T7"), "sendmail", "root");
        assertEquals(75, run.exit());
        assertTrue(run.err().contains("queue.lifetime_days"), run.err());
        assertTrue(sb.maildirMessages().isEmpty());
    }

    @Test
    void aKeyThatCannotBeUsedQueuesANoticeWithoutContent() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Sandbox sb =
                    new Sandbox(tmp.resolve("sb"), smtp.port(), "", true, List.of("nobody-has-this-key@example.org"));
            assertEquals(0, sb.run(cronMail("T8"), "sendmail", "-i", "root").exit());
            assertEquals(1, sb.maildirMessages().size());
            assertEquals(1, smtp.accepted().size());
            byte[] notice = smtp.accepted().get(0);
            assertFalse(Messages.contains(notice, CANARY.getBytes(StandardCharsets.UTF_8)), "no content in the notice");
            assertFalse(Messages.contains(notice, "backup".getBytes(StandardCharsets.UTF_8)), "not even the Subject");
            assertTrue(Messages.contains(notice, "could not be encrypted".getBytes(StandardCharsets.US_ASCII)));
            assertNoPlaintext(sb.state);
            assertTrue(sb.logText().contains("warning=("), sb.logText());
        }
    }

    @Test
    void theQueueTableIsValidatedLikeEveryOther() throws Exception {
        for (String bad : List.of(
                "[queue]\nlifetime_days = \"5\"\n",
                "[queue]\nlifetime = 5\n",
                "[queue]\nlifetime_days = 400\n",
                "queue = 5\n")) {
            Sandbox sb = new Sandbox(tmp.resolve("sb" + bad.hashCode()), closedPort(), "", true);
            String toml = Files.readString(sb.config);
            sb.writeConfig(
                    bad.startsWith("[") ? toml + bad : bad + toml); // a table at the end, a top-level key at the top
            Sandbox.Run run = sb.run(new byte[0], "check");
            assertEquals(78, run.exit(), bad);
            assertTrue(
                    run.out().contains("queue.lifetime")
                            || run.out().contains(": queue:")
                            || run.out().contains("queue: must be a table"),
                    bad + ": " + run.out());
            assertTrue(run.out().contains(sb.config.toString()), "names the file: " + run.out());
        }
    }

    @Test
    void theMessageIsKeptByteForByte() throws Exception {
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), smtp.port(), "", true);
            byte[] mail =
                    ("From: a@b.example\nDate: Tue, 1 Dec 2026 08:00:00 +0000\nMessage-ID: <x@b.example>\nTo: root\nSubject: \u00fcber\n\n"
                                    + "raw \u00ff bytes \r\n.\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1);
            assertEquals(0, sb.run(mail, "sendmail", "-i", "root").exit());
            assertArrayEquals(mail, Files.readAllBytes(sb.maildirMessages().get(0)), "nothing added, nothing changed");
        }
    }
}
