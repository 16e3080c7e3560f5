package org.cryptforward.fuzz;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.cryptforward.core.Addresses;
import org.cryptforward.message.ForwardComposer;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InlineBody;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.OutboundMessage;
import org.cryptforward.rules.EncryptedInput;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.EnvelopeResolver;
import org.cryptforward.support.Ciphertexts;
import org.cryptforward.support.TestKeys;

/**
 * Coverage-guided fuzzing of "never leak": a message is built from fuzzed pieces — an envelope
 * line, header fields with fuzzed names, values and line ends (LF, CRLF, bare CR), and a body that
 * is plain text, inline PGP, PGP/MIME, the mangled mixed forms or S/MIME, with genuine ciphertext
 * or look-alikes, preambles, epilogues, armor headers and extra parts — and a canary is planted in
 * every place that is not a From or Subject value (and not the sender or In-Reply-To/References,
 * which the outer header carries by design). The message is then composed exactly as a delivery
 * composes it (EnvelopeResolver, EncryptedInput, ForwardComposer), and every byte that would be
 * given to the relay, less the ciphertext (the armor's base64, or the S/MIME base64 body), must
 * be free of the canary; the outer header holds only the fields of a forward, one field each;
 * the envelope sender is a valid address or {@code <>}.
 *
 * <p>In a normal test run this replays the seeds in {@code src/test/resources/.../LeakFuzzTestInputs};
 * {@code JAZZER_FUZZ=1 mvn test -Dtest=LeakFuzzTest} fuzzes (see README).
 */
class LeakFuzzTest {
    static final String CANARY = "Cnry7";
    static final Set<String> WANTED = Set.of(
            "from",
            "subject",
            "to",
            "cc",
            "date",
            "message-id",
            "in-reply-to",
            "references",
            "content-type",
            "content-transfer-encoding",
            "mime-version",
            "delivered-to",
            "x-original-to",
            "return-path",
            "x-cryptforward-loop");
    /** Fields whose values the outer header carries (or the envelope uses): no canary in them. */
    static final Set<String> CARRIED = Set.of("from", "subject", "in-reply-to", "references", "return-path");

    static final List<String> NAMES = List.of(
            "From",
            "Subject",
            "To",
            "Cc",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
            "X-Secret",
            "Return-Path",
            "In-Reply-To",
            "Message-ID",
            "Bcc",
            "Received",
            "From ",
            "Content-type ");
    static final Set<String> OUTER = Set.of(
            "from",
            "subject",
            "to",
            "date",
            "message-id",
            "in-reply-to",
            "references",
            "x-cryptforward-loop",
            "mime-version",
            "content-type",
            "content-transfer-encoding",
            "content-disposition");

    static final List<PGPPublicKey> KEYS = Ciphertexts.encryptionKeys(TestKeys.ED);
    static final String ARMOR = new String(
            Ciphertexts.pgp(TestKeys.ED, "inner".getBytes(StandardCharsets.US_ASCII)), StandardCharsets.US_ASCII);
    static final byte[] ENVELOPED;
    static final byte[] AUTH_ENVELOPED;
    static final byte[] SIGNED;

    static {
        byte[] e = new byte[0];
        byte[] a = new byte[0];
        byte[] s = new byte[0];
        try {
            Path dir = Files.createTempDirectory("leakfuzz");
            Ciphertexts.Smime smime = new Ciphertexts.Smime(dir);
            e = smime.encrypt("inner".getBytes(StandardCharsets.US_ASCII), false);
            a = smime.encrypt("inner".getBytes(StandardCharsets.US_ASCII), true);
            s = smime.sign((CANARY + " signed").getBytes(StandardCharsets.US_ASCII));
        } catch (java.io.IOException | AssertionError x) {
            // without openssl the S/MIME bodies are look-alikes only
        }
        ENVELOPED = e;
        AUTH_ENVELOPED = a;
        SIGNED = s;
    }

    static final ForwardComposer COMPOSER = new ForwardComposer(
            "cf.test", Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC), new SecureRandom());

    @FuzzTest(maxDuration = "10m")
    void nothingButFromAndSubjectLeaves(FuzzedDataProvider d) throws Exception {
        StringBuilder m = new StringBuilder();
        StringBuilder trace = new StringBuilder();
        if (d.consumeBoolean()) {
            m.append("From ").append(carried(d.consumeString(40)));
            if (d.consumeBoolean()) {
                m.append("  Tue Dec  1 08:29:51 2026");
            }
            m.append(eol(d));
        }
        int fields = d.consumeInt(0, 10);
        for (int i = 0; i < fields; i++) {
            // a fuzzed name never starts with white space: that would make the line a continuation
            // of the field before (a From or Subject, carrying what follows by design)
            String name = d.consumeBoolean()
                    ? NAMES.get(d.consumeInt(0, NAMES.size() - 1))
                    : noBreaks(d.consumeString(12)).replaceFirst("^[ \t]+", "");
            boolean carried = CARRIED.contains(name.strip().toLowerCase(Locale.ROOT));
            trace.append("[field ").append(name).append(carried ? " carried]" : "]");
            m.append(name).append(':').append(value(d, carried));
            int folds = d.consumeInt(0, 2);
            for (int f = 0; f < folds; f++) {
                m.append(eol(d)).append(d.consumeBoolean() ? ' ' : '\t').append(value(d, carried));
            }
            m.append(eol(d));
        }
        boolean separated = d.consumeBoolean();
        if (separated) {
            // a CR ending the last field and an LF would read as one CRLF, not as an empty line
            String sep = eol(d);
            m.append(m.length() > 0 && m.charAt(m.length() - 1) == '\r' && sep.equals("\n") ? "\r\n" : sep);
        }
        int kind = d.consumeInt(0, 6);
        trace.append("[separated ")
                .append(separated)
                .append(", body ")
                .append(kind)
                .append(']');
        String body = body(d, kind);
        if (!separated) {
            // without the empty line, a body starting with white space would continue the last
            // field, and free text could go on with fields of its own (a Subject: line is then a
            // Subject): a line that is no field ends the header first
            body = kind == 0 || kind == 6 ? "no field here\n" + body : body.replaceFirst("^[ \t]+", "");
        }
        m.append(body);
        boolean protect = d.consumeBoolean();
        boolean inline = d.consumeBoolean();
        byte[] message = m.toString().getBytes(StandardCharsets.ISO_8859_1);

        try (InputMessage in = InputMessage.of(message)) {
            HeaderSection header = HeaderSection.parse(in, WANTED);
            Envelope envelope = EnvelopeResolver.resolve(null, null, Map.of(), header, in);
            String sender = envelope.sender();
            assertTrue(sender.isEmpty() || Addresses.isValid(sender, true), "sender valid or <>: " + sender);
            Optional<EncryptedInput.Ciphertext> c = EncryptedInput.detect(header);
            OutboundMessage out;
            if (c.isPresent()) {
                out = COMPOSER.passThrough(
                        header,
                        "admin@example.org",
                        sender,
                        protect,
                        c.get().wrapping(),
                        () -> EncryptedInput.open(header, c.get()));
            } else if (inline && InlineBody.fits(header)) {
                out = COMPOSER.inline(header, "admin@example.org", KEYS, sender, protect);
            } else {
                out = COMPOSER.pgpMime(header, "admin@example.org", KEYS, sender, protect);
            }
            ByteArrayOutputStream wire = new ByteArrayOutputStream();
            out.writeTo(wire);
            String outside = outsideCiphertext(wire.toString(StandardCharsets.ISO_8859_1));
            assertFalse(
                    outside.contains(CANARY),
                    () -> "plaintext outside the ciphertext:\n" + outside + "\n--- input:\n"
                            + new String(message, StandardCharsets.ISO_8859_1) + "\n--- hex:\n"
                            + java.util.HexFormat.of().formatHex(message) + "\n--- built: " + trace);
            assertOuterHeader(outside);
        }
    }

    /** The composed message with the ciphertext taken out, after checking it is nothing but ciphertext. */
    static String outsideCiphertext(String wire) {
        // the armor is in the body: an outer From or Subject may quote an armor line
        int begin = wire.indexOf("\n-----BEGIN PGP MESSAGE-----\n", wire.indexOf("\n\n")) + 1;
        if (begin > 0) {
            int end = wire.indexOf("\n-----END PGP MESSAGE-----", begin) + 1;
            assertTrue(end > begin, "armor complete");
            assertTrue(wire.indexOf("-----BEGIN PGP MESSAGE-----", begin + 1) < 0, "one armor");
            for (String line : wire.substring(begin + 28, end).split("\n")) {
                assertTrue(
                        line.matches("[A-Za-z0-9+/=]*") || isKnownCharsetHeader(line),
                        "armor holds base64: " + line + "\n--- wire:\n" + wire);
            }
            return wire.substring(0, begin) + wire.substring(end);
        }
        int body = wire.indexOf("\n\n");
        assertTrue(body > 0 && wire.contains("Content-Type: application/pkcs7-mime"), "armor or S/MIME");
        String b64 = wire.substring(body + 2).strip();
        Base64.getMimeDecoder().decode(b64);
        assertTrue(b64.replace("\n", "").matches("[A-Za-z0-9+/=]*"), "base64 only");
        return wire.substring(0, body + 2);
    }

    /** The inline armor's Charset header, naming a charset the JDK knows (no free text of the original). */
    static boolean isKnownCharsetHeader(String line) {
        if (!line.startsWith("Charset: ")) {
            return false;
        }
        String name = line.substring(9);
        return java.nio.charset.Charset.isSupported(name);
    }

    static void assertOuterHeader(String outside) {
        int end = outside.indexOf("\n\n");
        assertTrue(end > 0, "a header section");
        String header = outside.substring(0, end + 1);
        assertFalse(header.contains("\r") || header.contains("\0"), "no CR or NUL in the outer header");
        for (String line : header.split("\n")) {
            assertTrue(line.length() <= 998, "a line within SMTP's limit");
            if (!line.startsWith(" ") && !line.startsWith("\t")) {
                String name = line.substring(0, Math.max(0, line.indexOf(':')))
                        .strip()
                        .toLowerCase(Locale.ROOT);
                assertTrue(OUTER.contains(name), "only the fields of a forward outside: " + line);
            }
        }
    }

    static String eol(FuzzedDataProvider d) {
        return switch (d.consumeInt(0, 2)) {
            case 0 -> "\n";
            case 1 -> "\r\n";
            default -> "\r";
        };
    }

    /** A value the outer header may carry: no canary, no line break of its own. */
    static String carried(String s) {
        String v = noBreaks(s);
        while (v.contains(CANARY)) {
            v = v.replace(CANARY, "");
        }
        return v;
    }

    static String noBreaks(String s) {
        return s.replace('\r', ' ').replace('\n', ' ');
    }

    static String value(FuzzedDataProvider d, boolean carried) {
        String v = noBreaks(d.consumeString(60));
        return carried ? carried(v) : v + CANARY + noBreaks(d.consumeString(8));
    }

    static String text(FuzzedDataProvider d) {
        return d.consumeString(40) + CANARY + d.consumeString(20);
    }

    static String armor(FuzzedDataProvider d) {
        String a = ARMOR;
        if (d.consumeBoolean()) {
            a = a.replace("-----BEGIN PGP MESSAGE-----\n", "-----BEGIN PGP MESSAGE-----\nComment: " + CANARY + "\n");
        }
        switch (d.consumeInt(0, 4)) {
            case 0 -> a = text(d) + "\n" + a; // text before
            case 1 -> a = a + text(d) + "\n"; // text after
            case 2 -> a = a.replace("\n\n", "\n\n" + CANARY + "\n"); // inside the armor
            default -> {
                // as it is
            }
        }
        return a;
    }

    static String smime(FuzzedDataProvider d) {
        byte[] der = switch (d.consumeInt(0, 3)) {
            case 0 -> ENVELOPED;
            case 1 -> AUTH_ENVELOPED;
            case 2 -> SIGNED;
            default -> d.consumeBytes(64);
        };
        if (d.consumeBoolean()) {
            byte[] tail = (CANARY + d.consumeString(8)).getBytes(StandardCharsets.ISO_8859_1);
            byte[] both = java.util.Arrays.copyOf(der, der.length + tail.length);
            System.arraycopy(tail, 0, both, der.length, tail.length);
            der = both;
        }
        String b64 = Base64.getMimeEncoder(76, "\n".getBytes(StandardCharsets.US_ASCII))
                .encodeToString(der);
        return d.consumeBoolean() ? b64 + "\n" : text(d) + "\n" + b64 + "\n";
    }

    static String pgpMimeParts(FuzzedDataProvider d, String boundary) {
        StringBuilder sb = new StringBuilder();
        if (d.consumeBoolean()) {
            sb.append(text(d)).append('\n');
        }
        sb.append("--").append(boundary).append("\nContent-Type: application/pgp-encrypted\n");
        if (d.consumeBoolean()) {
            sb.append("Content-Description: ").append(CANARY).append('\n');
        }
        sb.append("\nVersion: 1\n--").append(boundary).append("\nContent-Type: application/octet-stream");
        if (d.consumeBoolean()) {
            sb.append("; name=\"").append(CANARY).append(".asc\"");
        }
        sb.append("\n\n")
                .append(d.consumeBoolean() ? armor(d) : text(d))
                .append("\n--")
                .append(boundary)
                .append("--\n");
        if (d.consumeBoolean()) {
            sb.append(text(d)).append('\n');
        }
        return sb.toString();
    }

    /** The rest of the message after the header: its MIME fields come first where it has them. */
    static String body(FuzzedDataProvider d, int kind) {
        return switch (kind) {
            case 0 -> text(d);
            case 1 -> "Content-Type: text/plain\n\n" + armor(d);
            case 2 ->
                "MIME-Version: 1.0\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\n\n"
                        + pgpMimeParts(d, "b");
            case 3 ->
                "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"o\"\n\n--o\nContent-Type: text/plain\n\n"
                        + (d.consumeBoolean() ? "\n" : text(d) + "\n")
                        + "--o\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"i\"\n\n"
                        + pgpMimeParts(d, "i") + "--o--\n" + (d.consumeBoolean() ? text(d) : "");
            case 4 ->
                "MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
                        + "Content-Transfer-Encoding: base64\n\n" + smime(d);
            case 5 ->
                "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"o\"\n\n--o\nContent-Type: text/plain\n\n \n"
                        + "--o\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--o\nContent-Type: application/octet-stream\n\n"
                        + (d.consumeBoolean() ? armor(d) : text(d)) + "\n--o--\n";
            default -> d.consumeRemainingAsString() + CANARY;
        };
    }
}
