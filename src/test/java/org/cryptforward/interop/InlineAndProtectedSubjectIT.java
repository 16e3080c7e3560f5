package org.cryptforward.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.cryptforward.support.Corpus;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Relay;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.cryptforward.support.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The inline format and the protected Subject, read with the real GnuPG: an inline forward
 * decrypts to the original body text, decoded from its transfer encoding, in its charset, which
 * the armor names; a forward with {@code protect_subject} shows {@code [...]} outside and the real
 * Subject inside, in the protected header and in the Legacy Display Element.
 */
class InlineAndProtectedSubjectIT {
    @TempDir
    static Path tmp;

    static Relay relay;
    static Map<String, String> gpgEnv;

    @BeforeAll
    static void setUp() throws Exception {
        relay = new Relay();
        Path home = Files.createDirectories(tmp.resolve("gnupg"));
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx------"));
        gpgEnv = Map.of("GNUPGHOME", home.toString());
        Tools.Result r = Tools.run(tmp, TestKeys.ED.secretKey(), List.of("gpg", "--batch", "--import"), gpgEnv);
        assertEquals(0, r.exit(), r.err());
    }

    @AfterAll
    static void stop() {
        relay.close();
    }

    private static byte[] gpgDecrypt(byte[] armor) {
        Tools.Result r = Tools.run(tmp, armor, List.of("gpg", "--batch", "--quiet", "--decrypt"), gpgEnv);
        assertEquals(0, r.exit(), r.err());
        return r.out();
    }

    private static Sandbox sandbox(String name, String ruleLines) throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve(name), relay.port(), "", true, List.of(TestKeys.ED.email));
        sb.writeConfig(Files.readString(sb.config)
                .replace(
                        "forward_to = [\"admin@example.org\"]\n",
                        "forward_to = [\"admin@example.org\"]\n" + ruleLines));
        return sb;
    }

    @Test
    void inlineDecryptsToTheDecodedBodyInItsCharset() throws Exception {
        for (String file : List.of(
                "system/09-unattended-upgrades-success-reboot-qp.eml",
                "system/01-cron-debian-run-parts-daily.eml",
                "system/03-cron-busybox-8bit-latin1-no-mime.eml")) {
            relay.reset();
            Sandbox sb = sandbox("inline" + file.hashCode(), "format = \"inline\"\n");
            byte[] input = Corpus.read(Corpus.dir().resolve(file));
            Sandbox.Run run = sb.deliver(input, "--recipient", "root");
            assertEquals(0, run.exit(), run.combined());

            MimeMessage forward = relay.received()[0];
            assertTrue(forward.isMimeType("text/plain"), forward.getContentType());
            String body = new String(PgpMime.bytes(forward), StandardCharsets.US_ASCII);
            String armor = body.substring(body.indexOf("-----BEGIN PGP MESSAGE-----"));
            MimeMessage original = PgpMime.parse(Messages.withoutEnvelopeLine(input));
            String charset = new jakarta.mail.internet.ContentType(
                            original.getContentType() == null
                                    ? "text/plain; charset=us-ascii"
                                    : original.getContentType())
                    .getParameter("charset");
            assertTrue(
                    armor.contains("Charset: " + (charset == null ? "us-ascii" : charset)),
                    file + ": " + armor.substring(0, 120));

            byte[] expected;
            try (InputStream in = original.getInputStream()) { // decoded from the transfer encoding by Jakarta Mail
                expected = in.readAllBytes();
            }
            assertArrayEquals(
                    Messages.lf(expected), Messages.lf(gpgDecrypt(armor.getBytes(StandardCharsets.US_ASCII))), file);
        }
    }

    @Test
    void protectedSubjectIsHiddenOutsideAndShownInside() throws Exception {
        relay.reset();
        Sandbox sb = sandbox("protect", "protect_subject = true\n");
        byte[] input = Corpus.read(Corpus.dir().resolve("system/01-cron-debian-run-parts-daily.eml"));
        String subject =
                "Cron <root@web01> test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }";
        assertEquals(0, sb.deliver(input, "--recipient", "root").exit());

        MimeMessage forward = relay.received()[0];
        assertEquals("[...]", forward.getHeader("Subject", null));
        assertTrue(
                !new String(PgpMime.bytes(forward), StandardCharsets.ISO_8859_1).contains("anacron"),
                "the Subject is nowhere outside");

        String inner = new String(gpgDecrypt(PgpMime.encryptedPart(forward)), StandardCharsets.UTF_8);
        assertTrue(inner.contains("\nSubject: " + subject + "\n"), "protected header field");
        assertTrue(
                inner.contains(
                        "Content-Type: text/plain; charset=UTF-8; hp=\"cipher\"; protected-headers=\"v1\"; hp-legacy-display=\"1\"\n"),
                inner);
        int body = inner.indexOf("\n\n") + 2;
        assertTrue(
                inner.startsWith("Subject: " + subject + "\n\n/etc/cron.daily/logrotate:", body),
                "legacy display element: " + inner.substring(body, Math.min(inner.length(), body + 200)));
    }

    @Test
    void protectedSubjectOnInlineKeepsTheSubjectInTheEncryptedText() throws Exception {
        relay.reset();
        Sandbox sb = sandbox("protect-inline", "format = \"inline\"\nprotect_subject = true\n");
        byte[] input = Corpus.read(Corpus.dir().resolve("system/14-smartd-pending-sectors.eml"));
        assertEquals(0, sb.deliver(input, "--recipient", "root").exit());
        MimeMessage forward = relay.received()[0];
        assertEquals("[...]", forward.getHeader("Subject", null));
        String body = new String(PgpMime.bytes(forward), StandardCharsets.US_ASCII);
        String text = new String(
                gpgDecrypt(body.substring(body.indexOf("-----BEGIN")).getBytes(StandardCharsets.US_ASCII)),
                StandardCharsets.UTF_8);
        String realSubject =
                Messages.normalizeSpace(Messages.headerValue(Messages.withoutEnvelopeLine(input), "Subject"));
        assertTrue(
                text.startsWith("Subject: " + realSubject + "\n\n"), text.substring(0, Math.min(200, text.length())));
    }
}
