package org.cryptforward.faults;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Generated hostile input: each is kept locally byte for byte, forwarded encrypted so that it
 * decrypts to itself, exits 0, and never lets a header be injected outside or a body line leak.
 */
class HostileInputTest {
    static final String CANARY = "CANARY-5e1d-plaintext-that-must-stay-inside";

    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    @TempDir
    static Path tmp;

    static int n;

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static byte[] repeat(String s, int times) {
        return ascii(s.repeat(times));
    }

    static Stream<Arguments> hostile() {
        List<Arguments> list = List.of(
                Arguments.of("NUL bytes everywhere", (Supplier<byte[]>)
                        () -> ascii("From: a\0b@example.org\nSubject: nul\0here\nTo: root\n\n" + CANARY + "\0\0\0\n")),
                Arguments.of("a 1 MB header line", (Supplier<byte[]>) () -> concat(
                        ascii("From: a@b.example\nTo: root\nX-Long: "),
                        repeat("x", 1 << 20),
                        ascii("\nSubject: long\n\n" + CANARY + "\n"))),
                Arguments.of("a 1 MB Subject", (Supplier<byte[]>) () -> concat(
                        ascii("From: a@b.example\nTo: root\nSubject: "),
                        repeat("word ", 200_000),
                        ascii("\n\n" + CANARY + "\n"))),
                Arguments.of("100 000 header fields", (Supplier<byte[]>) () -> concat(
                        ascii("From: a@b.example\nTo: root\n"),
                        repeat("X-Field: value\n", 100_000),
                        ascii("Subject: many\n\n" + CANARY + "\n"))),
                Arguments.of("10 000-deep multipart nesting", (Supplier<byte[]>) HostileInputTest::deepNesting),
                Arguments.of("boundary that never closes", (Supplier<byte[]>)
                        () -> ascii("From: a@b.example\nTo: root\nSubject: open\n"
                                + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"never\"\n\n--never\nContent-Type: text/plain\n\n"
                                + CANARY
                                + "\n--never\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n--inner\n\n"
                                + CANARY + "\n")),
                Arguments.of("invalid charsets", (Supplier<byte[]>) () -> concat(
                        ascii(
                                "From: =?x-no-such?B?////?= <a@b.example>\nTo: root\n"
                                        + "Subject: =?utf-8?q?=FF=FE?= =?bogus?Q?x?=\nContent-Type: text/plain; charset=\"x-klingon\"\n\n"),
                        new byte[] {(byte) 0xff, (byte) 0xfe, (byte) 0xc3, 0x28, '\n'},
                        ascii(CANARY + "\n"))),
                Arguments.of("CR and LF injection in Subject and From", (Supplier<byte[]>) () -> ascii(
                        "From: a@b.example\rBcc: victim@evil.example\nTo: root\nSubject: hi\rBcc: victim@evil.example\r\rX-Injected: 1\n\n"
                                + CANARY + "\n")),
                Arguments.of("bare LF and CRLF mixed with lone CR", (Supplier<byte[]>) () ->
                        ascii("From: a@b.example\r\nTo: root\nSubject: mixed\r\n\r\n" + CANARY + "\rline\r\nline\n")),
                Arguments.of(
                        "only a From_ line", (Supplier<byte[]>) () -> ascii("From root  Mon Mar  3 06:25:04 2025\n")),
                Arguments.of("a From_ line without a sender", (Supplier<byte[]>)
                        () -> ascii("From \nTo: root\nSubject: x\n\n" + CANARY + "\n")),
                Arguments.of("From with a space before the colon", (Supplier<byte[]>)
                        () -> ascii("From : x@y.example\nTo: root\nSubject: x\n\n" + CANARY + "\n")),
                Arguments.of("CR-only line ends", (Supplier<byte[]>) () -> ascii(
                        "From: a@b.example\rTo: root\rSubject: cr\r\r" + CANARY + "\r" + "z".repeat(20000) + "\r")),
                Arguments.of("empty input", (Supplier<byte[]>) () -> new byte[0]),
                Arguments.of("a 209 KB Subject of encoded words, adjacent and folded", (Supplier<byte[]>) () -> concat(
                        ascii("From: a@b.example\nTo: root\nSubject: "),
                        repeat("=?utf-8?q?=C3=A4=E2=82=AC?==?utf-8?b?8J2Eng==?=\n ", 4_500),
                        ascii("end\n\n" + CANARY + "\n"))),
                Arguments.of("a byte-order mark before the header", (Supplier<byte[]>) () -> concat(
                        new byte[] {(byte) 0xef, (byte) 0xbb, (byte) 0xbf},
                        ascii("From: a@b.example\nTo: root\nSubject: bom\nBcc: hidden@example.org\n\n" + CANARY
                                + "\n"))),
                Arguments.of("a body line of 5 MB without a line end", (Supplier<byte[]>)
                        () -> concat(ascii("To: root\nSubject: one line\n\n"), repeat("y", 5 << 20))));
        return list.stream();
    }

    static byte[] deepNesting() {
        StringBuilder sb = new StringBuilder("From: a@b.example\nTo: root\nSubject: deep\nMIME-Version: 1.0\n");
        int depth = 10_000;
        for (int i = 0; i < depth; i++) {
            sb.append("Content-Type: multipart/mixed; boundary=\"b")
                    .append(i)
                    .append("\"\n\n--b")
                    .append(i)
                    .append('\n');
        }
        sb.append("Content-Type: text/plain\n\n").append(CANARY).append('\n');
        for (int i = depth - 1; i >= 0; i--) {
            sb.append("--b").append(i).append("--\n");
        }
        return ascii(sb.toString());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostile")
    void keptAndForwardedIntact(String name, Supplier<byte[]> input) throws Exception {
        byte[] message = input.get();
        relay.reset();
        Sandbox sb = new Sandbox(tmp.resolve("h" + n++), relay.port(), "", true);
        Sandbox.Run run = sb.deliver(message, "--recipient", "root@cf.test");
        assertEquals(0, run.exit(), run.combined());
        List<Path> local = sb.maildirMessages();
        assertEquals(1, local.size());
        assertArrayEquals(
                Messages.withoutEnvelopeLine(message), Files.readAllBytes(local.get(0)), "local copy identical");
        MimeMessage[] got = relay.received();
        assertEquals(1, got.length);
        byte[] relayed = PgpMime.bytes(got[0]);
        assertFalse(Messages.contains(relayed, ascii(CANARY)), "no plaintext outside");
        assertEquals(null, got[0].getHeader("Bcc"), "no injected header");
        assertEquals(null, got[0].getHeader("X-Injected"), "no injected header");
        byte[] plain = TestKeys.ED.decrypt(PgpMime.encryptedPart(got[0]));
        assertTrue(
                Messages.isOriginalWithMark(Messages.withoutEnvelopeLine(message), plain), "decrypts to the original");
    }

    @Test
    void headerInjectionStaysOneField() throws Exception {
        relay.reset();
        Sandbox sb = new Sandbox(tmp.resolve("inj"), relay.port(), "", true);
        byte[] message = ascii("From: a@b.example\nTo: root\nSubject: hello\rBcc: victim@evil.example\n\nbody\n");
        assertEquals(0, sb.deliver(message, "--recipient", "root").exit());
        String raw = new String(PgpMime.bytes(relay.received()[0]), StandardCharsets.ISO_8859_1);
        // a bare CR ends a line like LF does: "Bcc:" is a field of the original, and stays inside
        assertTrue(raw.contains("Subject: hello\r\n"), "the Subject alone outside");
        assertFalse(raw.contains("Bcc:"), "no Bcc field outside");
    }
}
