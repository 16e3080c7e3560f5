package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.io.File;
import java.net.DatagramPacket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.cryptforward.support.Corpus;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXDatagramSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * The admin's tools and the odd mail: {@code test}, {@code --dry-run}, loops, already encrypted
 * input that is not in the corpus (inline PGP, S/MIME), mail that only quotes an armor line, the
 * inline format's fall-back, and the log line in a syslog socket.
 */
class OperatorFeaturesTest {
    static final String RULES = "[[rule]]\n"
            + "name = \"cron\"\n"
            + "recipient = [\"root\", \"root@*\"]\n"
            + "header = { Subject = \"^Cron <\" }\n"
            + "forward_to = [\"cron-admin@example.org\"]\n"
            + "keys = [\"" + TestKeys.ED.email + "\"]\n";

    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    @TempDir
    Path tmp;

    Sandbox sb;

    @BeforeEach
    void sandbox() throws Exception {
        relay.reset();
        sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", true);
        // the cron rule first, then the catch-all root rule of the sandbox
        String cfg = Files.readString(sb.config);
        int firstRule = cfg.indexOf("[[rule]]");
        sb.writeConfig(cfg.substring(0, firstRule) + RULES + cfg.substring(firstRule));
    }

    static byte[] corpus(String name) {
        return Corpus.read(Corpus.dir().resolve(name));
    }

    @Test
    void testCommandNamesTheRuleAndWhy() {
        Sandbox.Run cron = sb.run(corpus("system/01-cron-debian-run-parts-daily.eml"), "test");
        assertEquals(0, cron.exit(), cron.combined());
        assertTrue(cron.out().contains("rule: cron"), cron.out());
        assertTrue(cron.out().contains("header Subject matched /^Cron </"), cron.out());
        assertTrue(cron.out().contains("recipient pattern \"root@*\" matched root@web01.example.org"), cron.out());
        assertTrue(cron.out().contains(TestKeys.ED.email + ": " + TestKeys.ED.fingerprint + ": usable"), cron.out());
        assertTrue(
                cron.out().contains("action: keep locally and forward encrypted as PGP/MIME to cron-admin@example.org"),
                cron.out());

        Sandbox.Run smartd = sb.run(corpus("system/14-smartd-pending-sectors.eml"), "test");
        assertEquals(0, smartd.exit(), smartd.combined());
        assertTrue(smartd.out().contains("rule: root-to-admin"), smartd.out());

        Sandbox.Run json = sb.run(corpus("system/01-cron-debian-run-parts-daily.eml"), "test", "--json");
        assertEquals(0, json.exit(), json.combined());
        assertTrue(json.out().contains("\"rule\": \"cron\""), json.out());
        assertTrue(json.out().strip().startsWith("{") && json.out().strip().endsWith("}"), json.out());

        byte[] other = "From: a@b.example\nTo: postmaster@example.org\nSubject: Cron <x> y\n\nbody\n"
                .getBytes(StandardCharsets.US_ASCII);
        Sandbox.Run nobody = sb.run(other, "test", "--recipient", "postmaster@example.org");
        assertTrue(nobody.out().contains("no rule matched"), nobody.out());

        assertTrue(sb.maildirMessages().isEmpty(), "test writes nothing");
        assertEquals(0, relay.received().length, "test sends nothing");
        assertFalse(Files.exists(sb.state.resolve("journal")), "test leaves no journal");
    }

    @Test
    void dryRunPrintsTheForwardAndTouchesNothing() throws Exception {
        byte[] input = corpus("system/01-cron-debian-run-parts-daily.eml");
        Sandbox.Run run = sb.deliver(input, "--dry-run");
        assertEquals(0, run.exit(), run.combined());
        String firstLine = run.out().lines().findFirst().orElse("");
        assertTrue(firstLine.startsWith("msgid=<20250303052504.3F2A41C0E7@web01.example.org> "), firstLine);
        assertTrue(firstLine.contains("rule=cron") && firstLine.contains("status=sent (dry run"), firstLine);
        byte[] printed = run.out().substring(run.out().indexOf('\n') + 2).getBytes(StandardCharsets.ISO_8859_1);
        MimeMessage m = PgpMime.parse(printed);
        assertEquals("cron-admin@example.org", m.getHeader("To", null));
        assertTrue(Messages.isOriginalWithMark(
                Messages.withoutEnvelopeLine(input), TestKeys.ED.decrypt(PgpMime.encryptedPart(m))));

        assertTrue(sb.maildirMessages().isEmpty(), "no local copy");
        assertFalse(Files.exists(sb.mailbox), "mailbox not even created");
        assertFalse(Files.exists(sb.state.resolve("journal")), "no journal");
        assertEquals(0, relay.received().length, "nothing relayed");
        assertEquals("", sb.logText(), "nothing logged");

        // and the real delivery afterwards is not mistaken for a retry
        Sandbox.Run real = sb.deliver(input);
        assertEquals(0, real.exit(), real.combined());
        assertEquals(1, relay.received().length);
    }

    @Test
    void aForwardRoutedBackToRootIsNotForwardedAgain() throws Exception {
        byte[] input = corpus("system/14-smartd-pending-sectors.eml");
        assertEquals(0, sb.deliver(input).exit());
        assertEquals(1, relay.received().length);
        byte[] forward = PgpMime.bytes(relay.received()[0]);
        relay.reset();

        Sandbox.Run back = sb.deliver(forward, "--recipient", "root@cf.test");
        assertEquals(0, back.exit(), back.combined());
        assertEquals(0, relay.received().length, "not forwarded a second time");
        assertEquals(2, sb.maildirMessages().size(), "kept locally");
        assertTrue(
                sb.logText().contains("not forwarded: it carries this host's X-Cryptforward-Loop marker"),
                sb.logText());
    }

    @Test
    void deliveredToLoopIsDetected() throws Exception {
        byte[] looped = ("Delivered-To: admin@example.org\nFrom: a@b.example\nTo: root\nSubject: x\n\nloop body\n")
                .getBytes(StandardCharsets.US_ASCII);
        Sandbox.Run run = sb.deliver(looped, "--recipient", "root");
        assertEquals(0, run.exit(), run.combined());
        assertEquals(0, relay.received().length);
        assertTrue(
                sb.logText().contains("mail forwarding loop: Delivered-To already names admin@example.org"),
                sb.logText());
    }

    @Test
    void inlinePgpAndSmimeArePassedThroughButQuotedArmorIsNot() throws Exception {
        // a quoted armor that is not a real message: quoting it does not make a message encrypted
        String armor = "-----BEGIN PGP MESSAGE-----\n\nhQEMA5Z2lH2R0Bq6AQf/abc\n=abcd\n-----END PGP MESSAGE-----\n";
        String realArmor = new String(
                org.cryptforward.support.Ciphertexts.pgp(
                        TestKeys.RSA, "inline text".getBytes(StandardCharsets.US_ASCII)),
                StandardCharsets.US_ASCII);
        byte[] inline = ("From: a@b.example\nTo: root\nSubject: inline\nMessage-ID: <inline@b>\n\n" + realArmor)
                .getBytes(StandardCharsets.US_ASCII);
        org.cryptforward.support.Ciphertexts.Smime openssl =
                new org.cryptforward.support.Ciphertexts.Smime(tmp.resolve("smime"));
        byte[] der = openssl.encrypt("smime text".getBytes(StandardCharsets.US_ASCII), false);
        byte[] smime = ("From: a@b.example\nTo: root\nSubject: smime\nMessage-ID: <smime@b>\nMIME-Version: 1.0\n"
                        + "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
                        + "Content-Transfer-Encoding: base64\n\n"
                        + java.util.Base64.getMimeEncoder().encodeToString(der) + "\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] quoting = ("From: a@b.example\nTo: root\nSubject: how to\nMessage-ID: <quote@b>\n\n"
                        + "An encrypted mail starts with a line like\n" + armor + "and that is all.\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] signed = ("From: a@b.example\nTo: root\nSubject: signed\nMessage-ID: <signed@b>\nMIME-Version: 1.0\n"
                        + "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha256; boundary=\"s\"\n\n"
                        + "--s\nContent-Type: text/plain\n\nsigned text\n--s\nContent-Type: application/pgp-signature\n\n"
                        + "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n--s--\n")
                .getBytes(StandardCharsets.US_ASCII);
        relay.reset();
        assertEquals(0, sb.deliver(inline, "--recipient", "root").exit());
        byte[] out = PgpMime.bytes(relay.received()[0]);
        assertEquals(
                "inline text",
                new String(TestKeys.RSA.decrypt(PgpMime.packets(out)), StandardCharsets.US_ASCII),
                "forwarded as it is");
        relay.reset();
        assertEquals(0, sb.deliver(smime, "--recipient", "root").exit());
        out = PgpMime.bytes(relay.received()[0]);
        String body = new String(
                out, Messages.bodyStart(out), out.length - Messages.bodyStart(out), StandardCharsets.ISO_8859_1);
        org.junit.jupiter.api.Assertions.assertArrayEquals(
                der, java.util.Base64.getMimeDecoder().decode(body.strip()), "forwarded as it is");
        // opaque-signed S/MIME (signed-data, 1.2.840.113549.1.7.2) under the same name and without smime-type
        byte[] opaqueSigned =
                ("From: a@b.example\nTo: root\nSubject: opaque\nMessage-ID: <opaque@b>\nMIME-Version: 1.0\n"
                                + "Content-Type: application/pkcs7-mime; name=smime.p7m\n"
                                + "Content-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADA=\n")
                        .getBytes(StandardCharsets.US_ASCII);
        for (byte[] m : List.of(quoting, signed, opaqueSigned)) {
            relay.reset();
            assertEquals(0, sb.deliver(m, "--recipient", "root").exit());
            byte[] plain = TestKeys.RSA.decrypt(PgpMime.encryptedPart(relay.received()[0]));
            assertTrue(Messages.isOriginalWithMark(m, plain), "encrypted like any other message");
        }
        String log = sb.logText();
        assertEquals(2, log.lines().filter(l -> l.contains("already encrypted")).count(), log);
    }

    @Test
    void inlineFallsBackToPgpMimeForMultipart() throws Exception {
        sb.writeConfig(Files.readString(sb.config)
                .replace(
                        "forward_to = [\"admin@example.org\"]",
                        "forward_to = [\"admin@example.org\"]\nformat = \"inline\""));
        byte[] multipart = corpus("public/mikel-mail/attachment_emails/attachment_pdf_lf.eml");
        Sandbox.Run run = sb.deliver(multipart, "--recipient", "root");
        assertEquals(0, run.exit(), run.combined());
        byte[] plain = TestKeys.ED.decrypt(PgpMime.encryptedPart(relay.received()[0]));
        assertTrue(Messages.isOriginalWithMark(Messages.withoutEnvelopeLine(multipart), plain));
        assertTrue(
                sb.logText()
                        .contains(
                                "note=(inline needs a text/plain message, this one is multipart/mixed: sent as PGP/MIME)"),
                sb.logText());
    }

    @Test
    void logLineGoesToTheSyslogSocket() throws Exception {
        Path socketPath = tmp.resolve("log.sock");
        try (AFUNIXDatagramSocket syslog = AFUNIXDatagramSocket.newInstance()) {
            syslog.bind(AFUNIXSocketAddress.of(socketPath.toFile()));
            syslog.setSoTimeout(10_000);
            String cfg = Files.readString(sb.config)
                    .replace("log_file = \"" + sb.log + "\"\n", "syslog_socket = \"" + socketPath + "\"\n");
            sb.writeConfig(cfg);
            Sandbox.Run run = sb.deliver(corpus("system/14-smartd-pending-sectors.eml"));
            assertEquals(0, run.exit(), run.combined());
            byte[] buf = new byte[4096];
            DatagramPacket p = new DatagramPacket(buf, buf.length);
            syslog.receive(p);
            String line = new String(buf, 0, p.getLength(), StandardCharsets.UTF_8);
            assertTrue(
                    line.matches("<22>[A-Z][a-z]{2} [ 0-9]\\d \\d\\d:\\d\\d:\\d\\d cryptforward\\[\\d+\\]: msgid=<.*"),
                    line);
            assertTrue(
                    line.contains(" rule=root-to-admin ")
                            && line.contains(" status=sent (forwarded to admin@example.org as <"),
                    line);
            assertTrue(line.contains(" keys=" + TestKeys.ED.fingerprint + "," + TestKeys.RSA.fingerprint), line);
            assertFalse(Files.exists(sb.log), "no log file when syslog is used");
            assertEquals("", run.out() + run.err(), "nothing on stdout/stderr on success");
        }
        assertTrue(new File(socketPath.toString()).exists());
    }
}
