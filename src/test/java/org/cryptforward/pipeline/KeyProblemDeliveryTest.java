package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.bouncycastle.openpgp.api.OpenPGPKey;
import org.bouncycastle.openpgp.api.bc.BcOpenPGPApi;
import org.cryptforward.keys.KeyIds;
import org.cryptforward.support.BcKeys;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code deliver} does when a rule's key cannot be used — never the plaintext:
 *
 * <ul>
 *   <li>local copy kept: a notice without content (which message, from whom, when, where the copy
 *       is, why; not the Subject, not the body) goes to the forward address, exit 0, and the log
 *       line names the key and the reason — for an expired key, a missing key, and a rule of two
 *       keys one of which is revoked;
 *   <li>no local copy: exit 75 with a 4.7.5 line, nothing relayed, nothing written;
 *   <li>a keyring that cannot be read: exit 75 before anything is written (the MTA keeps the
 *       message), and the retry once it is readable keeps it and forwards it encrypted, once.
 * </ul>
 */
class KeyProblemDeliveryTest {
    static final Clock BACK_THEN = Clock.fixed(Instant.parse("2020-06-01T00:00:00Z"), ZoneOffset.UTC);
    static final byte[] MESSAGE = ("From: Cron Daemon <root@host.example>\n"
                    + "To: root@host.example\n"
                    + "Subject: Cron <root@host> confidential-subject-words\n"
                    + "Message-ID: <key-problem@host.example>\n"
                    + "Date: Mon, 3 Feb 2025 04:05:06 +0000\n"
                    + "\n"
                    + "confidential body words\n"
                    + "more confidential body words\n")
            .getBytes(StandardCharsets.US_ASCII);

    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    private static OpenPGPKey expiring;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        expiring = BcKeys.key(4, "Expiring <expiring@example.org>", BcKeys.BIRTH, Duration.ofDays(365));
    }

    private Sandbox withExpiredKey(String extraToml) {
        Sandbox sb = new Sandbox(tmp, relay.port(), extraToml, true, List.of("expiring@example.org"));
        sb.clock(BACK_THEN);
        Sandbox.Run imported = sb.run(BcKeys.publicKey(expiring), "key", "import");
        assertEquals(0, imported.exit(), imported::combined);
        sb.clock(Clock.systemUTC());
        return sb;
    }

    private static String assertNotice(Sandbox sb) throws Exception {
        MimeMessage[] received = relay.received();
        assertEquals(1, received.length, "one notice");
        String notice = new String(PgpMime.bytes(received[0]), StandardCharsets.UTF_8);
        assertEquals("admin@example.org", received[0].getHeader("To", null));
        assertEquals("cryptforward: a message could not be encrypted", received[0].getSubject());
        assertEquals("auto-generated", received[0].getHeader("Auto-Submitted", null));
        assertTrue(received[0].getContentType().startsWith("text/plain"), received[0].getContentType());
        for (String secret : List.of("confidential", "Cron <root@host>", "BEGIN PGP")) {
            assertFalse(notice.contains(secret), () -> "notice leaks \"" + secret + "\":\n" + notice);
        }
        assertTrue(notice.contains("Message-ID:       <key-problem@host.example>"), notice);
        assertTrue(notice.contains("Envelope sender:  <cron@host.example>"), notice);
        assertTrue(notice.contains("Local copy:       " + sb.maildirMessages().get(0)), notice);
        assertTrue(notice.contains("Received:         "), notice);
        assertEquals(1, sb.maildirMessages().size(), "the local copy");
        assertArrayEquals(MESSAGE, Files.readAllBytes(sb.maildirMessages().get(0)));
        return notice;
    }

    @Test
    void expiredKeyGetsANoticeAndExit0() throws Exception {
        Sandbox sb = withExpiredKey("");
        String fpr = KeyIds.fingerprint(expiring.toCertificate());
        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root@cf.test", "--sender", "cron@host.example");
        assertEquals(0, run.exit(), run::combined);
        assertEquals("", run.combined(), "nothing for the MTA to report");
        String notice = assertNotice(sb);
        String reason = "key " + fpr + " (expiring@example.org) cannot be used: the key expired on 2020-12-31";
        assertTrue(notice.contains(reason), notice);
        String log = sb.logText();
        assertTrue(log.contains("status=sent (notice without content sent to admin@example.org"), log);
        assertTrue(log.contains("warning=(" + reason + ")"), log);
        assertTrue(log.contains("keys=" + fpr), log);
        assertFalse(log.contains("confidential"), log);

        // the MTA retries nothing, but a second run of the same message must not send a second notice
        Sandbox.Run again = sb.deliver(MESSAGE, "--recipient", "root@cf.test", "--sender", "cron@host.example");
        assertEquals(0, again.exit());
        assertEquals(1, relay.received().length);
    }

    @Test
    void withoutALocalCopyAnUnusableKeyDefers() {
        Sandbox sb = withExpiredKey("local_copy = false\n");
        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root@cf.test", "--sender", "cron@host.example");
        assertEquals(75, run.exit(), run::combined);
        assertTrue(run.err().startsWith("4.7.5 cryptforward: cannot encrypt for rule root-to-admin: key "), run::err);
        assertTrue(run.err().contains("the key expired on 2020-12-31"), run::err);
        assertEquals(0, relay.received().length, "nothing relayed");
        assertTrue(sb.maildirMessages().isEmpty(), "no local copy");
        assertTrue(sb.logText().contains("status=deferred"), sb::logText);
        assertTrue(sb.logText().contains("the key expired on 2020-12-31"), sb::logText);
    }

    @Test
    void theNoticeShowsTheMessageIdentifierOnlyNotTextBesideIt() throws Exception {
        for (String field : List.of(
                "the secret password is hunter2-canary <n5@host.example>",
                "(hunter2-canary)\n <n5@host.example>",
                "hunter2-canary and no identifier at all")) {
            relay.reset();
            Path dir = Files.createDirectories(tmp.resolve("mid-" + Integer.toHexString(field.hashCode())));
            Sandbox sb = new Sandbox(dir, relay.port(), "", true, List.of("nobody@example.org"));
            byte[] m = new String(MESSAGE, StandardCharsets.US_ASCII)
                    .replace("<key-problem@host.example>", field)
                    .getBytes(StandardCharsets.US_ASCII);
            Sandbox.Run run = sb.deliver(m, "--recipient", "root@cf.test", "--sender", "cron@host.example");
            assertEquals(0, run.exit(), run::combined);
            MimeMessage[] received = relay.received();
            assertEquals(1, received.length, "one notice");
            String notice = new String(PgpMime.bytes(received[0]), StandardCharsets.UTF_8);
            assertFalse(notice.contains("hunter2-canary"), notice);
            String expected =
                    field.contains("<n5@") ? "Message-ID:       <n5@host.example>" : "Message-ID:       (none)";
            assertTrue(notice.lines().anyMatch(expected::equals), notice);
        }
    }

    @Test
    void missingKeyGetsANotice() throws Exception {
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true, List.of("nobody@example.org"));
        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root@cf.test", "--sender", "cron@host.example");
        assertEquals(0, run.exit(), run::combined);
        String notice = assertNotice(sb);
        assertTrue(notice.contains("key nobody@example.org: no key for nobody@example.org in " + sb.keyring), notice);
    }

    @Test
    void oneRevokedKeyOfTwoStopsTheForward() throws Exception {
        OpenPGPKey key = BcKeys.key(4, "Soon Revoked <revoked@example.org>");
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true, List.of(TestKeys.ED.email, "revoked@example.org"));
        assertEquals(0, sb.run(BcKeys.publicKey(key), "key", "import").exit());
        OpenPGPKey revoked = new BcOpenPGPApi().editKey(key).revokeKey().done();
        assertEquals(0, sb.run(BcKeys.publicKey(revoked), "key", "import").exit());

        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root@cf.test", "--sender", "cron@host.example");
        assertEquals(0, run.exit(), run::combined);
        String notice = assertNotice(sb);
        assertTrue(notice.contains("(revoked@example.org) cannot be used: the key is revoked"), notice);
    }

    @Test
    void unreadableKeyringDefersAndTheRetryForwardsOnce() throws Exception {
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true);
        Path aside = tmp.resolve("keyring-aside");
        Files.move(sb.keyring, aside);
        Files.writeString(sb.keyring, "not a directory\n");

        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root@cf.test", "--sender", "cron@host.example");
        assertEquals(75, run.exit(), run::combined);
        assertTrue(
                run.err().startsWith("4.3.0 cryptforward: cannot read the keyring for rule root-to-admin: "), run::err);
        assertEquals(0, relay.received().length);
        assertEquals(1, sb.maildirMessages().size(), "the local copy is kept before the keys are looked at");
        assertTrue(sb.logText().contains("status=deferred"), sb::logText);

        Files.delete(sb.keyring);
        Files.move(aside, sb.keyring);
        Sandbox.Run retry = sb.deliver(MESSAGE, "--recipient", "root@cf.test", "--sender", "cron@host.example");
        assertEquals(0, retry.exit(), retry::combined);
        assertEquals(1, relay.received().length);
        assertEquals(1, sb.maildirMessages().size(), "the copy is not written twice");
        byte[] plain = TestKeys.ED.decrypt(PgpMime.encryptedPart(relay.received()[0]));
        assertTrue(Messages.isOriginalWithMark(MESSAGE, plain));
    }
}
