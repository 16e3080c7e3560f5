package org.cryptforward.message;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.ContentType;
import jakarta.mail.internet.MimeUtility;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.Date;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.api.OpenPGPKeyReader;
import org.cryptforward.keys.KeyUsability;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;

/**
 * The inner part of a PGP/MIME forward: the exact Content-Type parameters it carries
 * ({@code hp="cipher"} of RFC 9788 and {@code protected-headers="v1"} for Thunderbird, K-9 and
 * NeoMutt), nothing else changed, no parameter twice, the Legacy Display Element only where
 * RFC 9788 allows it; and neither parameter in an inline or pass-through forward.
 */
class ProtectedPayloadTest {
    private static final Set<String> NAMES =
            Set.of("from", "subject", "to", "content-type", "content-transfer-encoding");

    static String payload(String message, Optional<String> hiddenSubject) throws IOException {
        try (InputMessage m = InputMessage.of(message.getBytes(StandardCharsets.UTF_8));
                InputStream in = ProtectedPayload.open(HeaderSection.parse(m, NAMES), hiddenSubject)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static String payload(String message) throws IOException {
        return payload(message, Optional.empty());
    }

    /** The first Content-Type field of a payload, unfolded, as Jakarta Mail reads it. */
    static ContentType innerType(String payload) throws Exception {
        String head = payload.substring(0, Messages.bodyStart(payload.getBytes(StandardCharsets.UTF_8)));
        String value = Messages.headerValue(head.getBytes(StandardCharsets.UTF_8), "Content-Type");
        return new ContentType(MimeUtility.unfold(value.strip()));
    }

    @Test
    void theInnerContentTypeCarriesBothParametersAndNothingElseChanges() throws Exception {
        String original =
                "From: cron@host.example\nTo: root\nSubject: daily\nContent-Type: text/plain; charset=utf-8\n\nbody\n";
        String p = payload(original);
        assertEquals(
                original.replace("charset=utf-8\n", "charset=utf-8; hp=\"cipher\"; protected-headers=\"v1\"\n"), p);
        ContentType ct = innerType(p);
        assertEquals("cipher", ct.getParameter("hp"));
        assertEquals("v1", ct.getParameter("protected-headers"));
        assertEquals("utf-8", ct.getParameter("charset"));
        assertNull(ct.getParameter("hp-legacy-display"));
        assertEquals(3, ct.getParameterList().size(), "charset, hp, protected-headers and no other");
    }

    @Test
    void withoutContentTypeTheDefaultIsWrittenOutWithBoth() throws Exception {
        assertEquals(
                "From: a@b.example\nSubject: s\nContent-Type: text/plain; charset=us-ascii; hp=\"cipher\"; protected-headers=\"v1\"\n\nbody\n",
                payload("From: a@b.example\nSubject: s\n\nbody\n"));
        assertEquals(
                "From: a@b.example\r\nContent-Type: text/plain; charset=us-ascii; hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\nbody\r\n",
                payload("From: a@b.example\r\n\r\nbody\r\n"),
                "the message's own line ends");
        assertEquals(
                "Content-Type: text/plain; charset=us-ascii; hp=\"cipher\"; protected-headers=\"v1\"\n\njust a body\n",
                payload("just a body\n"),
                "no header at all: the field and an empty line before the body");
    }

    @Test
    void aFoldedMultipartTypeGetsThemAtItsEndAfterTrailingSpace() throws Exception {
        String original =
                "From: a@b.example\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"b1\"; \r\n\r\n--b1\r\n\r\nx\r\n--b1--\r\n";
        String p = payload(original);
        assertEquals(
                original.replace(
                        "boundary=\"b1\"; \r\n", "boundary=\"b1\";  hp=\"cipher\"; protected-headers=\"v1\"\r\n"),
                p);
        ContentType ct = innerType(p);
        assertEquals("b1", ct.getParameter("boundary"));
        assertEquals("cipher", ct.getParameter("hp"));
        assertEquals("v1", ct.getParameter("protected-headers"));
    }

    @Test
    void aParameterTheOriginalHasIsNotAddedTwice() throws Exception {
        // as Thunderbird writes the inner part of its own encrypted mail
        String thunderbird =
                "From: a@b.example\nContent-Type: multipart/mixed; boundary=\"b\";\n protected-headers=\"v1\"\n\n--b--\n";
        assertEquals(
                thunderbird.replace("protected-headers=\"v1\"\n", "protected-headers=\"v1\"; hp=\"cipher\"\n"),
                payload(thunderbird));
        // someone else's RFC 9788 mark: kept, its body untouched even with a hidden Subject
        String marked = "From: a@b.example\nSubject: s\nContent-Type: text/plain; hp=\"clear\"\n\nbody\n";
        assertEquals(
                marked.replace("hp=\"clear\"\n", "hp=\"clear\"; protected-headers=\"v1\"\n"),
                payload(marked, Optional.of("s")));
        String both = "From: a@b.example\nContent-Type: text/plain; PROTECTED-HEADERS=\"v1\"; HP=\"cipher\"\n\nbody\n";
        assertEquals(both, payload(both), "both there already: nothing added");
    }

    @Test
    void aParameterNameInsideAQuotedValueDoesNotCount() throws Exception {
        String original =
                "From: a@b.example\nContent-Type: multipart/mixed; boundary=\"x; hp=1; protected-headers=v1\"\n\n--x--\n";
        String p = payload(original);
        assertEquals(original.replace("v1\"\n", "v1\"; hp=\"cipher\"; protected-headers=\"v1\"\n"), p);
        assertEquals("cipher", innerType(p).getParameter("hp"));
        assertEquals("x; hp=1; protected-headers=v1", innerType(p).getParameter("boundary"));
    }

    @Test
    void aHiddenSubjectAddsTheLegacyDisplayToASinglePlainTextBodyOnly() throws Exception {
        String plain = "From: a@b.example\nSubject: disk full\nContent-Type: text/plain; charset=utf-8\n\nbody\n";
        assertEquals(
                plain.replace(
                        "charset=utf-8\n\n",
                        "charset=utf-8; hp=\"cipher\"; protected-headers=\"v1\"; hp-legacy-display=\"1\"\n\nSubject: disk full\n\n"),
                payload(plain, Optional.of("disk full")));
        String noType = "From: a@b.example\nSubject: disk full\n\nbody\n";
        assertEquals(
                "From: a@b.example\nSubject: disk full\n"
                        + "Content-Type: text/plain; charset=us-ascii; hp=\"cipher\"; protected-headers=\"v1\"; hp-legacy-display=\"1\"\n"
                        + "\nSubject: disk full\n\nbody\n",
                payload(noType, Optional.of("disk full")));
        String multipart = "From: a@b.example\nSubject: s\nContent-Type: multipart/mixed; boundary=b\n\n--b--\n";
        assertEquals(
                multipart.replace("boundary=b\n", "boundary=b; hp=\"cipher\"; protected-headers=\"v1\"\n"),
                payload(multipart, Optional.of("s")),
                "multipart: the Subject is in the protected header only");
        String base64 =
                "From: a@b.example\nSubject: s\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nYm9keQo=\n";
        assertEquals(
                base64.replace("text/plain\n", "text/plain; hp=\"cipher\"; protected-headers=\"v1\"\n"),
                payload(base64, Optional.of("s")),
                "an encoded body is not changed");
    }

    @Test
    void theTestHelperRemovesExactlyTheAddedParameters() throws Exception {
        byte[] original = "From: a@b.example\nContent-Type: text/plain\n\nbody\n".getBytes(StandardCharsets.UTF_8);
        assertTrue(Messages.isOriginalWithMark(
                original, payload(new String(original, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8)));
        assertFalse(
                Messages.isOriginalWithMark(
                        original,
                        "From: a@b.example\nContent-Type: text/plain; hp=\"cipher\"\n\nbody\n"
                                .getBytes(StandardCharsets.UTF_8)),
                "one missing");
        assertFalse(Messages.isOriginalWithMark(original, original), "none added");
        assertFalse(
                Messages.isOriginalWithMark(
                        original,
                        "From: a@b.example\nContent-Type: text/plain; hp=\"cipher\"; protected-headers=\"v1\"\n\nbody!\n"
                                .getBytes(StandardCharsets.UTF_8)),
                "the rest changed");
    }

    // --- the forward as ForwardComposer writes it, decrypted independently

    static List<PGPPublicKey> keys() throws Exception {
        return KeyUsability.evaluate(new OpenPGPKeyReader().parseCertificate(TestKeys.ED.publicKey()), new Date())
                .encryptionKeys();
    }

    static byte[] write(OutboundMessage m) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        m.writeTo(out);
        return out.toByteArray();
    }

    @Test
    void everyPgpMimeForwardCarriesBothInside() throws Exception {
        ForwardComposer composer = new ForwardComposer("cf.test", Clock.systemUTC(), new SecureRandom());
        String original =
                "From: a@b.example\nSubject: =?utf-8?q?Pr=C3=BCfung?=\nContent-Type: text/plain; charset=utf-8\n\nbody\n";
        for (boolean protect : new boolean[] {false, true}) {
            try (InputMessage m = InputMessage.of(original.getBytes(StandardCharsets.UTF_8))) {
                byte[] forward = write(
                        composer.pgpMime(HeaderSection.parse(m, NAMES), "admin@example.org", keys(), "", protect));
                String inner = new String(
                        TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(forward))), StandardCharsets.UTF_8);
                ContentType ct = innerType(inner);
                assertEquals("cipher", ct.getParameter("hp"));
                assertEquals("v1", ct.getParameter("protected-headers"));
                assertEquals(protect ? "1" : null, ct.getParameter("hp-legacy-display"));
                assertTrue(
                        inner.contains("\nSubject: =?utf-8?q?Pr=C3=BCfung?=\n"),
                        "the real Subject in the protected header");
                String outer = new String(forward, 0, Messages.bodyStart(forward), StandardCharsets.UTF_8);
                assertFalse(
                        outer.contains("hp=") || outer.contains("protected-headers"), "the outside carries neither");
            }
        }
    }

    @Test
    void inlineAndPassThroughForwardsCarryNeither() throws Exception {
        ForwardComposer composer = new ForwardComposer("cf.test", Clock.systemUTC(), new SecureRandom());
        String original = "From: a@b.example\nSubject: s\nContent-Type: text/plain; charset=utf-8\n\nbody line\n";
        try (InputMessage m = InputMessage.of(original.getBytes(StandardCharsets.UTF_8))) {
            byte[] forward =
                    write(composer.inline(HeaderSection.parse(m, NAMES), "admin@example.org", keys(), "", false));
            int body = Messages.bodyStart(forward);
            String armor = new String(forward, body, forward.length - body, StandardCharsets.US_ASCII);
            assertEquals(
                    "body line\n",
                    new String(TestKeys.ED.decrypt(armor.getBytes(StandardCharsets.US_ASCII)), StandardCharsets.UTF_8),
                    "inline: the body alone, no inner header to mark");
            assertFalse(new String(forward, StandardCharsets.US_ASCII).contains("protected-headers"));
        }
        String encrypted =
                "From: a@b.example\nSubject: s\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=x\n"
                        + "\n--x\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--x\nContent-Type: application/octet-stream\n\n"
                        + "-----BEGIN PGP MESSAGE-----\n\n-----END PGP MESSAGE-----\n\n--x--\n";
        try (InputMessage m = InputMessage.of(encrypted.getBytes(StandardCharsets.UTF_8))) {
            String forward = new String(
                    write(composer.passThrough(
                            HeaderSection.parse(m, NAMES),
                            "admin@example.org",
                            "",
                            false,
                            ForwardComposer.Wrapping.PGP_MIME,
                            () -> new java.io.ByteArrayInputStream(new byte[] {(byte) 0xc1, 0x01, 0x03}))),
                    StandardCharsets.UTF_8);
            assertTrue(
                    forward.contains("\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\n"),
                    "pass-through: a fresh multipart/encrypted around the ciphertext alone, unmarked");
            assertFalse(forward.contains("hp=") || forward.contains("protected-headers"));
        }
    }
}
