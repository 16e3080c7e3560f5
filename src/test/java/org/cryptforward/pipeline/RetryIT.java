package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.cryptforward.support.ConfigToml;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.MboxReader;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.ScriptedRelay.Action;
import org.cryptforward.support.ScriptedRelay.Step;
import org.cryptforward.support.SyntheticMail;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The MTA's retry after a temporary relay failure, with real processes: the first run keeps the
 * copy, gets a 4xx (or no relay at all) and exits 75 with a 4.x.x status line; the second run,
 * with a new envelope line, exits 0. The mailbox then holds exactly one copy, and the relay has
 * accepted each of the two forwards exactly once — the one accepted in the first run is not sent
 * again — and each decrypts to the original.
 */
class RetryIT {
    static final String FIRST = "admin@example.org";
    static final String SECOND = "backup@example.org";

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0}, relay fails at {1} #{2}")
    @CsvSource({
        "mbox, END_OF_DATA, 2, 451 4.3.0 queue full try again later",
        "Maildir, END_OF_DATA, 2, 451 4.3.0 queue full try again later",
        "mbox, RCPT, 1, 450 4.2.1 mailbox busy",
        "Maildir, GREETING, 1, 421 4.3.2 service not available",
    })
    void aTemporaryRelayFailureIsRetriedWithoutDuplicates(String kind, Step step, int occurrence, String reply)
            throws Exception {
        boolean maildir = kind.equals("Maildir");
        try (ScriptedRelay smtp = new ScriptedRelay()) {
            smtp.at(step, occurrence, Action.reply(reply));
            Path box = tmp.resolve(maildir ? "Maildir" : "mbox");
            Sandbox sb = new ConfigToml(new Sandbox(tmp.resolve("sb"), smtp.port(), "", maildir))
                    .relayPort(smtp.port())
                    .mailbox(box, maildir)
                    .rootRule(true, FIRST, SECOND)
                    .write();
            byte[] message = SyntheticMail.cron("retry", 40_000, 3);
            Map<String, String> env = Launcher.postfixEnv("root@cf.test", "root@host.example");

            Launcher.Run first = Launcher.deliver(
                    sb.config,
                    Launcher.postfixInput(tmp, "1.in", "root@host.example", message),
                    tmp.resolve("1.out"),
                    env);
            assertEquals(75, first.exit(), first.output());
            assertTrue(
                    first.output().matches("4\\.\\d\\.\\d cryptforward: .*\\R?"),
                    "one 4.x.x status line: " + first.output());
            assertEquals(1, copies(box, maildir).size(), "the copy is kept before the relay is tried");

            Launcher.Run second = Launcher.deliver(
                    sb.config,
                    Launcher.postfixInput(tmp, "2.in", "root@host.example", message),
                    tmp.resolve("2.out"),
                    env);
            assertEquals(0, second.exit(), second.output());
            assertEquals("", second.output());

            List<byte[]> copies = copies(box, maildir);
            assertEquals(1, copies.size(), "exactly one copy");
            assertArrayEquals(message, copies.get(0));
            List<byte[]> accepted = smtp.accepted();
            assertEquals(2, accepted.size(), "each forward accepted once");
            assertEquals(
                    java.util.Set.of(FIRST, SECOND),
                    java.util.Set.of(
                            Messages.headerValue(accepted.get(0), "To").strip(),
                            Messages.headerValue(accepted.get(1), "To").strip()),
                    "one to each forward address");
            for (byte[] forward : accepted) {
                byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(forward)));
                assertTrue(Messages.isOriginalWithMark(message, payload), "the forward decrypts to the original");
            }
            assertTrue(
                    smtp.commands().stream()
                            .filter(c -> c.toUpperCase().startsWith("MAIL FROM"))
                            .allMatch(c -> c.contains("<cryptforward@cf.test>")),
                    "the configured envelope sender");
            String log = sb.logText();
            assertTrue(log.contains("status=deferred"), log);
            assertTrue(log.lines().reduce((a, b) -> b).orElse("").contains("status=sent"), log);
        }
    }

    static List<byte[]> copies(Path box, boolean maildir) throws Exception {
        List<byte[]> out = new ArrayList<>();
        if (maildir) {
            try (Stream<Path> s = Files.list(box.resolve("new"))) {
                for (Path p : s.toList()) {
                    out.add(Files.readAllBytes(p));
                }
            }
        } else {
            MboxReader.read(box).forEach(e -> out.add(e.message()));
        }
        return out;
    }
}
