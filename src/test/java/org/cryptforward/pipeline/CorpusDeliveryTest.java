package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.cryptforward.support.Corpus;
import org.cryptforward.support.InJvmService;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every corpus message through {@code deliver}, with GreenMail as the relay: exit 0, one relayed
 * RFC 3156 message that decrypts to the original (byte for byte up to line endings, apart from
 * the header protection parameters hp="cipher"; protected-headers="v1"), From and Subject outside equal to the original's, no other
 * original header outside, no body line of the original outside the encryption, and a Maildir
 * copy identical to the input. Every message twice: in-process, and handed by the thin client to
 * the resident service ({@code cryptforward serve}), which must then have run the delivery.
 */
class CorpusDeliveryTest {
    /** Lines the forward itself writes; they may also stand in an original (e.g. a Thunderbird PGP/MIME mail). */
    private static final Set<String> TEMPLATE = Set.of(
            "Content-Type: application/pgp-encrypted",
            "Content-Description: PGP/MIME version identification",
            "Content-Description: OpenPGP encrypted message",
            "Content-Disposition: inline; filename=\"encrypted.asc\"",
            "Content-Type: application/octet-stream; name=\"encrypted.asc\"",
            "-----BEGIN PGP MESSAGE-----",
            "-----END PGP MESSAGE-----",
            "This is an OpenPGP/MIME encrypted message (RFC 4880, RFC 3156).");

    private static final Set<String> OUTER_FIELDS = Set.of(
            "from",
            "subject",
            "to",
            "date",
            "message-id",
            "in-reply-to",
            "references",
            "mime-version",
            "content-type",
            "x-cryptforward-loop",
            "return-path",
            "received",
            "content-transfer-encoding");

    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    private static final AtomicInteger counter = new AtomicInteger();

    @TempDir
    static Path tmp;

    /** The corpus messages that are already encrypted (reviewed by hand), from a test resource. */
    static final Set<String> ENCRYPTED = encryptedList();

    static Set<String> encryptedList() {
        try (var in = CorpusDeliveryTest.class.getResourceAsStream("/encrypted-corpus.txt")) {
            Set<String> out = new java.util.HashSet<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    out.add(line.strip());
                }
            }
            return out;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static Stream<Arguments> messages() {
        return Corpus.all().stream()
                .flatMap(p -> Stream.of(Arguments.of(Corpus.name(p), p, false), Arguments.of(Corpus.name(p), p, true)));
    }

    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("messages")
    void deliverKeepsAndForwardsEncrypted(String name, Path file, boolean viaService) throws Exception {
        byte[] input = Corpus.read(file);
        int n = counter.incrementAndGet();
        Path dir = tmp.resolve("m" + n);
        Sandbox sb = new Sandbox(dir, relay.port(), viaService ? InJvmService.toml(dir, "") : "", true);
        relay.reset();

        Sandbox.Run run;
        if (viaService) {
            try (InJvmService service = new InJvmService(sb.config)) {
                run = sb.deliver(input, "--recipient", "root@cf.test");
                assertEquals(1, service.service.served(), "delivered by the service: " + service.log());
            }
        } else {
            run = sb.deliver(input, "--recipient", "root@cf.test");
        }

        assertEquals(0, run.exit(), () -> "exit code; output: " + run.combined());
        assertEquals("", run.out(), "nothing on stdout on success");
        assertEquals("", run.err(), "nothing on stderr on success");
        byte[] original = Messages.withoutEnvelopeLine(input);

        List<Path> local = sb.maildirMessages();
        assertEquals(1, local.size(), "one local copy");
        assertArrayEquals(original, Files.readAllBytes(local.get(0)), "local copy identical to the input");

        MimeMessage[] received = relay.received();
        assertEquals(1, received.length, "one forward relayed");
        MimeMessage forward = received[0];
        byte[] relayed = PgpMime.bytes(forward);
        if (ENCRYPTED.contains(name)) {
            assertPassedThrough(original, relayed, forward);
            assertTrue(sb.logText().contains("already encrypted"), sb.logText());
            return;
        }
        assertFalse(sb.logText().contains("already encrypted"), () -> "misdetected as encrypted: " + sb.logText());
        byte[] armor = PgpMime.encryptedPart(forward);
        TestKeys key = n % 2 == 0 ? TestKeys.ED : TestKeys.RSA;
        byte[] payload = key.decrypt(armor);
        assertTrue(
                Messages.isOriginalWithMark(original, payload),
                () -> "decrypted payload is the original plus hp=\"cipher\"; protected-headers=\"v1\":\n"
                        + new String(payload, 0, Math.min(payload.length, 600), StandardCharsets.ISO_8859_1));

        assertOuterHeader(original, relayed, forward);
        assertNoBodyLineOutside(original, relayed);
        assertTrue(sb.logText().contains("status=sent"), sb.logText());
    }

    /** A message ID as the outer header keeps it (ForwardComposer's rule). */
    private static final java.util.regex.Pattern MESSAGE_ID =
            java.util.regex.Pattern.compile("<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>");

    private static void assertOuterHeader(byte[] original, byte[] relayed, MimeMessage forward) throws Exception {
        for (String name : List.of("From", "Subject", "In-Reply-To", "References")) {
            // a byte-order mark before the first field does not hide the header (feedback-report.txt has one)
            String want = Messages.headerValue(Messages.withoutByteOrderMark(original), name);
            String got = Messages.headerValue(relayed, name);
            if (want == null) {
                if (name.equals("From")) {
                    assertNotNull(got, "a From outside even when the original has none");
                } else {
                    assertEquals(null, got, "no " + name + " outside when the original has none");
                }
                continue;
            }
            if (name.startsWith("In-Reply-To") || name.equals("References")) {
                java.util.regex.Matcher ids = MESSAGE_ID.matcher(want);
                if (!ids.replaceAll("").isBlank()) {
                    // free text beside the message IDs stays inside: outside, the IDs alone
                    List<String> expected = MESSAGE_ID
                            .matcher(want)
                            .results()
                            .map(java.util.regex.MatchResult::group)
                            .toList();
                    if (expected.isEmpty()) {
                        assertEquals(null, got, name + ": no message ID, so nothing outside");
                    } else {
                        assertNotNull(got, name + " outside");
                        assertEquals(
                                String.join(" ", expected),
                                Messages.normalizeSpace(got).strip(),
                                name + ": the message IDs alone");
                    }
                    continue;
                }
            }
            assertNotNull(got, name + " outside");
            // GreenMail stores what it received as UTF-8 text: compare as such (invalid bytes become U+FFFD on both
            // sides)
            String w = utf8(want);
            String g = utf8(got);
            if (want.length() > 16 * 1024) {
                // a field longer than 16 KB is cut outside; the whole of it is inside the encryption
                String gn = Messages.normalizeSpace(g);
                assertTrue(
                        gn.length() > 8 * 1024
                                && Messages.normalizeSpace(w).startsWith(gn.substring(0, gn.length() - 4)),
                        name + " outside is the start of the original");
            } else if (!w.contains("\r") && !w.contains("\0") && want.length() < 900) {
                assertEquals(w, g, name + " byte for byte");
            } else {
                assertEquals(Messages.normalizeSpace(w), Messages.normalizeSpace(g), name + " (sanitised)");
            }
        }
        assertEquals("admin@example.org", forward.getHeader("To", null));
        assertEquals("cf.test", forward.getHeader("X-Cryptforward-Loop", null));
        String ownId = forward.getHeader("Message-ID", null);
        assertTrue(ownId != null && ownId.endsWith("@cf.test>"), "fresh Message-ID: " + ownId);
        assertNotNull(forward.getHeader("Date", null), "Date");
        for (Enumeration<jakarta.mail.Header> e = forward.getAllHeaders(); e.hasMoreElements(); ) {
            String field = e.nextElement().getName().toLowerCase();
            assertTrue(OUTER_FIELDS.contains(field), "unexpected field outside: " + field);
        }
    }

    /**
     * An already encrypted message goes out as it is: the same OpenPGP packets, in a fresh
     * PGP/MIME structure of our own (no preamble, epilogue, MIME field or armor header of the
     * original), under our outer header.
     */
    private static void assertPassedThrough(byte[] original, byte[] relayed, MimeMessage forward) throws Exception {
        assertOuterHeader(original, relayed, forward);
        byte[] armor = PgpMime.encryptedPart(forward);
        org.junit.jupiter.api.Assertions.assertArrayEquals(
                PgpMime.packets(original), PgpMime.packets(armor), "the same ciphertext");
        assertNoBodyLineOutside(original, relayed);
    }

    private static String utf8(String latin1) {
        return new String(latin1.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
    }

    /**
     * Outside the encryption there is only the outer header (checked field by field above) and the
     * MIME structure; no body line of the original may stand in that structure, and the armor
     * holds nothing but base64.
     */
    private static void assertNoBodyLineOutside(byte[] original, byte[] relayed) {
        String text = new String(relayed, StandardCharsets.ISO_8859_1);
        int bodyStart = Messages.bodyStart(relayed);
        int armorStart = text.indexOf("-----BEGIN PGP MESSAGE-----");
        int armorEnd = text.indexOf("-----END PGP MESSAGE-----");
        assertTrue(armorStart > bodyStart && armorEnd > armorStart, "armor in the body");
        String structure = text.substring(bodyStart, armorStart) + text.substring(armorEnd);
        String armor = text.substring(armorStart, armorEnd);
        for (String line : armor.split("\r?\n")) {
            assertTrue(
                    line.isEmpty()
                            || line.equals("-----BEGIN PGP MESSAGE-----")
                            || line.matches("=?[A-Za-z0-9+/]+={0,2}"),
                    () -> "non-base64 line in the armor: " + line);
        }
        List<String> ownLines = new ArrayList<>();
        for (String line : structure.split("\r?\n")) {
            if (!TEMPLATE.contains(line.strip()) && !line.isBlank()) {
                ownLines.add(line); // boundaries and "Version: 1"
            }
        }
        List<String> leaks = new ArrayList<>();
        for (String line : Messages.bodyLines(original, 12)) {
            if (ownLines.stream().anyMatch(l -> l.contains(line))) {
                leaks.add(line);
            }
        }
        assertTrue(leaks.isEmpty(), () -> "body lines outside the encryption: " + leaks);
    }
}
