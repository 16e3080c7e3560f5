package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import org.cryptforward.support.Ciphertexts;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The already-encrypted path forwards only verified ciphertext, and nothing beside it: a label
 * (multipart/encrypted, smime-type, .p7m, armor lines, the mangled mixed forms) with plaintext
 * behind it is encrypted like any other message; a genuine one goes out in a fresh structure of
 * our own, so its preamble, epilogue, MIME fields, armor headers and other header fields stay
 * behind. Every byte the relay receives is checked for the canaries planted in the original.
 */
class CiphertextPassThroughTest {
    static final String CANARY = "Canary7Plaintext";
    static ScriptedRelay relay;

    @TempDir
    static Path shared;

    static Ciphertexts.Smime smime;

    @TempDir
    Path tmp;

    Sandbox sb;

    @BeforeAll
    static void start() {
        relay = new ScriptedRelay();
        smime = new Ciphertexts.Smime(shared.resolve("smime"));
    }

    @AfterAll
    static void stop() {
        relay.close();
    }

    @BeforeEach
    void sandbox() {
        relay.clear();
        sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", true);
    }

    static String header(String subject) {
        return "From: a@b.example\nTo: root\nSubject: " + subject + "\nMessage-ID: <" + subject.replace(' ', '-')
                + "@b>\n" + "X-Secret: " + CANARY + "-header\nMIME-Version: 1.0\n";
    }

    /** Delivers, expects one forward, and that no canary is anywhere in what the relay got. */
    byte[] deliver(String message) {
        relay.clear();
        int before = relay.accepted().size();
        Sandbox.Run run = sb.deliver(message.getBytes(StandardCharsets.ISO_8859_1), "--recipient", "root");
        assertEquals(0, run.exit(), run.combined());
        List<byte[]> got = relay.accepted();
        assertEquals(before + 1, got.size(), "one forward");
        byte[] wire = got.get(got.size() - 1);
        String all = new String(wire, StandardCharsets.ISO_8859_1) + String.join("\n", relay.commands());
        assertFalse(all.contains(CANARY), () -> "plaintext on the wire:\n" + all);
        return wire;
    }

    static String pgp(String plain) {
        return new String(
                Ciphertexts.pgp(TestKeys.RSA, plain.getBytes(StandardCharsets.UTF_8)), StandardCharsets.US_ASCII);
    }

    /** The armor with a header of the sender's that carries text. */
    static String withArmorHeader(String armor) {
        return armor.replace(
                "-----BEGIN PGP MESSAGE-----\n", "-----BEGIN PGP MESSAGE-----\nComment: " + CANARY + "-armor\n");
    }

    void assertEncryptedAgain(byte[] wire, String original) {
        byte[] plain = TestKeys.RSA.decrypt(PgpMime.encryptedPart(PgpMime.parse(wire)));
        assertTrue(
                Messages.isOriginalWithMark(original.getBytes(StandardCharsets.ISO_8859_1), plain),
                "encrypted like any other message");
        assertFalse(lastLogLine().contains("already encrypted"), sb.logText());
    }

    String lastLogLine() {
        List<String> lines = sb.logText().lines().toList();
        return lines.get(lines.size() - 1);
    }

    void assertPassedThrough(byte[] wire, String armorInOriginal, String plain) {
        MimeMessage m = PgpMime.parse(wire);
        byte[] armor = PgpMime.encryptedPart(m);
        assertArrayEquals(
                PgpMime.packets(armorInOriginal.getBytes(StandardCharsets.US_ASCII)),
                PgpMime.packets(armor),
                "the same ciphertext");
        assertEquals(plain, new String(TestKeys.RSA.decrypt(armor), StandardCharsets.UTF_8));
        assertTrue(lastLogLine().contains("already encrypted"), sb.logText());
    }

    @Test
    void genuinePgpMimeGoesOutWithoutPreambleEpilogueOrParameters() {
        String armor = withArmorHeader(pgp("the real secret"));
        String msg = header("pgpmime")
                + "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\";\n"
                + " x-note=\"" + CANARY + "-param\"\n\n"
                + CANARY + "-preamble\n--b\nContent-Type: application/pgp-encrypted\nContent-Description: " + CANARY
                + "-desc\n\nVersion: 1\n"
                + "--b\nContent-Type: application/octet-stream; name=\"" + CANARY + ".asc\"\n\n" + armor + "\n--b--\n"
                + CANARY + "-epilogue\n";
        byte[] wire = deliver(msg);
        assertPassedThrough(wire, armor, "the real secret");
    }

    @Test
    void multipartEncryptedWithPlaintextInsideIsEncrypted() {
        String msg = header("fake pgpmime")
                + "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\n\n"
                + "--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
                + "--b\nContent-Type: application/octet-stream\n\n" + CANARY + " body in the clear\n--b--\n";
        assertEncryptedAgain(deliver(msg), msg);
    }

    @Test
    void armorAroundSignedOnlyOrGarbageIsEncrypted() {
        String literal = new String(
                Ciphertexts.pgpLiteral((CANARY + " literal").getBytes(StandardCharsets.US_ASCII)),
                StandardCharsets.US_ASCII);
        for (String body : List.of(
                literal,
                "-----BEGIN PGP MESSAGE-----\n\n" + CANARY + "\n-----END PGP MESSAGE-----\n",
                "-----BEGIN PGP MESSAGE-----\n\nhQEMA5Z2lH2R0Bq6AQf/abc\n=abcd\n-----END PGP MESSAGE-----\n")) {
            String msg = header("inline fake") + "Content-Type: text/plain\n\n" + body;
            String m2 = msg.replace("hQEMA5", CANARY + "\nhQEMA5");
            assertEncryptedAgain(deliver(m2), m2);
        }
    }

    @Test
    void ciphertextFollowedByMorePacketsIsEncrypted() {
        byte[] a = PgpMime.packets(pgp("x").getBytes(StandardCharsets.US_ASCII));
        byte[] b = PgpMime.packets(Ciphertexts.pgpLiteral((CANARY + " trailing").getBytes(StandardCharsets.US_ASCII)));
        byte[] both = new byte[a.length + b.length];
        System.arraycopy(a, 0, both, 0, a.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        String msg = header("two messages")
                + "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\n\n"
                + "--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
                + "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
                + Base64.getMimeEncoder().encodeToString(both) + "\n--b--\n";
        assertEncryptedAgain(deliver(msg), msg);
    }

    @Test
    void genuineInlinePgpStaysInlineWithoutTheSendersArmorHeaders() throws Exception {
        String armor = withArmorHeader(pgp("inline secret"));
        String msg = header("inline") + "Content-Type: text/plain; charset=us-ascii; x=\"" + CANARY + "\"\n\n\n" + armor
                + "\n\n";
        byte[] wire = deliver(msg);
        MimeMessage m = PgpMime.parse(wire);
        String text = new String(wire, StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("Content-Type: text/plain; charset=us-ascii"), text);
        int body = Messages.bodyStart(wire);
        assertTrue(text.substring(body).strip().startsWith("-----BEGIN PGP MESSAGE-----"), "nothing before the armor");
        assertArrayEquals(
                PgpMime.packets(armor.getBytes(StandardCharsets.US_ASCII)),
                PgpMime.packets(wire),
                "the same ciphertext");
        assertEquals("inline secret", new String(TestKeys.RSA.decrypt(PgpMime.packets(wire)), StandardCharsets.UTF_8));
        assertEquals("admin@example.org", m.getHeader("To", null));
        assertTrue(sb.logText().contains("already encrypted (inline PGP)"), sb.logText());
    }

    @Test
    void inlinePgpWithTextAroundItIsEncrypted() {
        String armor = pgp("s");
        for (String body : List.of(CANARY + " before\n" + armor, armor + CANARY + " after\n", armor + "\n" + armor)) {
            String msg = header("inline plus") + "Content-Type: text/plain\n\n" + body;
            assertEncryptedAgain(deliver(msg), msg);
        }
    }

    @Test
    void genuineSmimeEnvelopedAndAuthEnvelopedPassThroughRebuilt() {
        for (boolean auth : List.of(false, true)) {
            byte[] der = smime.encrypt("smime secret".getBytes(StandardCharsets.US_ASCII), auth);
            String msg = header("smime " + auth) + "Content-Type: application/pkcs7-mime; name=\"" + CANARY + ".p7m\"\n"
                    + "Content-Transfer-Encoding: base64\nContent-Description: " + CANARY + "\n\n"
                    + Base64.getMimeEncoder().encodeToString(der) + "\n";
            byte[] wire = deliver(msg);
            String text = new String(wire, StandardCharsets.ISO_8859_1);
            assertTrue(text.contains("smime-type=" + (auth ? "authEnveloped-data" : "enveloped-data")), text);
            byte[] relayed = Base64.getMimeDecoder()
                    .decode(text.substring(Messages.bodyStart(wire)).strip());
            assertArrayEquals(der, relayed, "the same CMS structure");
            assertEquals("smime secret", new String(smime.decrypt(relayed), StandardCharsets.US_ASCII));
        }
    }

    @Test
    void smimeLabelsWithoutEnvelopedDataAreEncrypted() {
        byte[] signed = smime.sign((CANARY + " signed only").getBytes(StandardCharsets.US_ASCII));
        byte[] der = smime.encrypt("x".getBytes(StandardCharsets.US_ASCII), false);
        byte[] trailing = java.util.Arrays.copyOf(der, der.length + CANARY.length());
        System.arraycopy(CANARY.getBytes(StandardCharsets.US_ASCII), 0, trailing, der.length, CANARY.length());
        for (byte[] body : List.of(signed, trailing, (CANARY + " just text").getBytes(StandardCharsets.US_ASCII))) {
            String msg = header("smime fake")
                    + "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
                    + "Content-Transfer-Encoding: base64\n\n"
                    + Base64.getMimeEncoder().encodeToString(body) + "\n";
            assertEncryptedAgain(deliver(msg), msg);
        }
    }

    @Test
    void mangledFormsPassOnlyWhenEverythingElseIsEmpty() {
        String armor = pgp("mangled secret");
        String google = header("google") + "Content-Type: multipart/mixed; boundary=\"o\"\n\n" + CANARY + "-preamble\n"
                + "--o\nContent-Type: text/plain\n\n\n--o\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"i\"\n\n"
                + "--i\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--i\nContent-Type: application/octet-stream\n\n"
                + armor
                + "\n--i--\n--o--\n";
        assertPassedThrough(deliver(google), armor, "mangled secret");
        String exchange = header("exchange") + "Content-Type: multipart/mixed; boundary=\"o\"\n\n"
                + "--o\nContent-Type: text/plain\n\n \n--o\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
                + "--o\nContent-Type: application/octet-stream\n\n" + armor + "\n--o--\n" + CANARY + "-epilogue\n";
        assertPassedThrough(deliver(exchange), armor, "mangled secret");
        // a real text part beside the ciphertext: all of it is encrypted
        String beside = google.replace(
                "--o\nContent-Type: text/plain\n\n\n", "--o\nContent-Type: text/plain\n\n" + CANARY + " text part\n");
        assertEncryptedAgain(deliver(beside), beside);
        // the plaintext under the label, nested
        String nestedFake = google.replace(armor, CANARY + " nested\n");
        assertEncryptedAgain(deliver(nestedFake), nestedFake);
    }
}
