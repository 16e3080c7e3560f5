package org.cryptforward.message;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import jakarta.mail.internet.MimeUtility;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.Base64;
import java.util.Date;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bouncycastle.openpgp.api.OpenPGPKeyReader;
import org.cryptforward.keys.KeyUsability;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;

/**
 * The outer copy of a long From or Subject: cut at the 16 KiB bound and folded at 998 octets, never
 * inside an RFC 2047 encoded word and never inside a UTF-8 sequence, so a reader shows the start of
 * the original text and no garbage. Checked against Jakarta Mail's decoder and a strict UTF-8
 * decoder, not against the code's own idea of a word.
 */
class OuterFieldsTest {
    /** A complete encoded word, for checking the output (written apart from the production pattern). */
    private static final Pattern WORD = Pattern.compile("=\\?([A-Za-z0-9_-]+)\\?([BbQq])\\?([^? \t\n]*)\\?=");

    /** A text of many languages, long enough to need many encoded words. */
    static String sample(int chars) {
        String[] parts = {
            "Sicherung fehlgeschlagen — ",
            "ältere Kopie bleibt ✓ ",
            "резервная копия ",
            "バックアップ失敗 ",
            "𝄞 music ",
            "plain ascii words "
        };
        StringBuilder sb = new StringBuilder();
        for (int i = 0; sb.length() < chars; i++) {
            sb.append(parts[i % parts.length]).append(i).append(' ');
        }
        return sb.toString();
    }

    /** The text as encoded words of at most 75 octets, whole characters in each, joined by {@code sep}. */
    static String encodedWords(String text, String sep, boolean qEncoding) {
        int perWord = qEncoding ? 5 : 10; // code points: at most 4 octets each, 3 characters each in Q
        StringBuilder out = new StringBuilder();
        int[] cps = text.codePoints().toArray();
        for (int i = 0; i < cps.length; i += perWord) {
            if (i > 0) {
                out.append(sep);
            }
            String word = encode(new String(cps, i, Math.min(perWord, cps.length - i)), qEncoding);
            assertTrue(word.length() <= 75, word);
            out.append(word);
        }
        return out.toString();
    }

    static String encode(String s, boolean q) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (!q) {
            return "=?UTF-8?B?" + Base64.getEncoder().encodeToString(b) + "?=";
        }
        StringBuilder sb = new StringBuilder("=?utf-8?q?");
        for (byte x : b) {
            int c = x & 0xff;
            if (c == ' ') {
                sb.append('_');
            } else if (c > 32 && c < 127 && c != '=' && c != '?' && c != '_') {
                sb.append((char) c);
            } else {
                sb.append('=')
                        .append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            }
        }
        return sb.append("?=").toString();
    }

    static byte[] field(String name, String value, String eol) {
        return (name + ": " + value + eol).getBytes(StandardCharsets.UTF_8);
    }

    static String strictUtf8(byte[] b) {
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new AssertionError("not valid UTF-8: " + e);
        }
    }

    /** One field, every line break a fold, no line over 998 octets, no white-space-only line, LF at the end. */
    static void assertWellFormed(byte[] out) {
        assertTrue(out.length <= OuterFields.MAX_FIELD + 64, "cut near the bound: " + out.length);
        assertEquals('\n', out[out.length - 1]);
        String s = new String(out, StandardCharsets.ISO_8859_1);
        String[] lines = s.substring(0, s.length() - 1).split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            assertTrue(lines[i].length() <= 998, "line " + i + " is " + lines[i].length() + " octets");
            assertFalse(lines[i].isBlank(), "line " + i + " is empty");
            if (i > 0) {
                assertTrue(lines[i].startsWith(" ") || lines[i].startsWith("\t"), "line " + i + " is a fold");
            }
            assertFalse(lines[i].contains("\r") || lines[i].contains("\0"));
        }
    }

    /** The value's tokens: each a complete encoded word (adjacent ones may stand without space). */
    static void assertOnlyWholeEncodedWords(String value) {
        for (String token : value.strip().split("[ \t\n]+")) {
            Matcher m = WORD.matcher(token);
            int at = 0;
            while (at < token.length()) {
                assertTrue(
                        m.find(at) && m.start() == at,
                        () -> "a broken encoded word: ..." + token.substring(Math.max(0, token.length() - 80)));
                at = m.end();
            }
        }
    }

    static String value(byte[] out) {
        String s = new String(out, StandardCharsets.UTF_8);
        return s.substring(s.indexOf(':') + 1, s.length() - 1);
    }

    /** The words' text, decoded one by one (the test builds values of encoded words only). */
    static String decodeWords(String value) throws Exception {
        StringBuilder sb = new StringBuilder();
        Matcher m = WORD.matcher(value);
        while (m.find()) {
            sb.append(MimeUtility.decodeWord(m.group()));
        }
        return sb.toString();
    }

    @Test
    void a209KilobyteSubjectOfEncodedWordsIsCutBetweenWords() throws Exception {
        String text = sample(100_000);
        for (String sep : new String[] {"\r\n ", "\n\t", " "}) {
            for (boolean q : new boolean[] {false, true}) {
                String words = encodedWords(text, sep, q);
                byte[] raw = field("Subject", words, "\r\n");
                assertTrue(raw.length > 209_000, "a 209 KB field: " + raw.length);
                byte[] out = OuterFields.copy(raw);
                assertWellFormed(out);
                String v = value(out);
                assertOnlyWholeEncodedWords(v);
                String decoded = decodeWords(v);
                assertTrue(
                        decoded.equals(MimeUtility.decodeText(MimeUtility.unfold(v.strip()))),
                        "as Jakarta Mail decodes it");
                int differs = 0;
                while (differs < decoded.length()
                        && differs < text.length()
                        && decoded.charAt(differs) == text.charAt(differs)) {
                    differs++;
                }
                int d = differs;
                assertTrue(
                        decoded.length() > 2000 && d == decoded.length(),
                        () -> (q ? "Q" : "B") + " words, separated by "
                                + sep.replace("\r", "CR").replace("\n", "LF").replace("\t", "TAB") + ": decoded "
                                + decoded.length()
                                + " characters, differing from the text at " + d + ": "
                                + decoded.substring(Math.max(0, d - 20), Math.min(decoded.length(), d + 20)));
            }
        }
    }

    @Test
    void adjacentEncodedWordsWithoutSpaceAreFoldedAndCutOnlyBetweenThem() throws Exception {
        String text = sample(100_000);
        String words = encodedWords(text, "", false); // one 200 KB token: some mailers write them so
        byte[] out = OuterFields.copy(field("Subject", words, "\n"));
        assertWellFormed(out);
        String v = value(out);
        assertTrue(v.split("\n").length > 10, "folded at 998 octets");
        assertOnlyWholeEncodedWords(v);
        String decoded = decodeWords(v);
        assertTrue(decoded.length() > 4000 && text.startsWith(decoded), "the start of the text");
    }

    @Test
    void raw8BitUtf8IsNeverCutInsideACharacter() throws Exception {
        String withSpaces = sample(200_000);
        String noSpaces = "ä€𝄞резерв".repeat(15_000); // 2-, 3- and 4-octet characters, no place to fold
        for (String text : new String[] {withSpaces, noSpaces}) {
            for (int shift = 0; shift < 4; shift++) {
                // every alignment of the characters against the bounds
                String t = "x".repeat(shift) + text;
                byte[] raw = field("Subject", t, "\n");
                assertTrue(raw.length > 209_000, "a 209 KB field: " + raw.length);
                byte[] out = OuterFields.copy(raw);
                assertWellFormed(out);
                String v = strictUtf8(out);
                String shown = v.substring(v.indexOf(':') + 1, v.length() - 1);
                // a fold at a space keeps the space; one inserted where there was none adds it
                String unfolded =
                        (text == withSpaces ? shown.replace("\n", "") : shown.replace("\n ", "")).stripLeading();
                assertTrue(unfolded.length() > 3000 && t.startsWith(unfolded), "the start of the text");
                if (text == withSpaces) {
                    assertEquals(' ', t.charAt(unfolded.length()), "cut at a space: whole words");
                }
            }
        }
    }

    @Test
    void aFromWithManyAddressesIsCutAtWhiteSpaceOrBeforeAWord() throws Exception {
        StringBuilder v = new StringBuilder();
        for (int i = 0; v.length() < 40_000; i++) {
            v.append(i == 0 ? "" : ",\r\n ")
                    .append(encode("Ünïcödé Ñame " + i, i % 2 == 0))
                    .append(" <user")
                    .append(i)
                    .append("@example.org>");
        }
        byte[] out = OuterFields.copy(field("From", v.toString(), "\r\n"));
        assertWellFormed(out);
        String s = value(out);
        Matcher m = Pattern.compile("=\\?").matcher(s);
        int words = 0;
        while (m.find()) {
            words++;
            assertTrue(
                    WORD.matcher(s).find(m.start()) && s.indexOf("?=", m.start() + 2) > 0,
                    "each encoded word complete");
        }
        assertTrue(words > 100);
        assertTrue(
                s.endsWith(">,") || s.endsWith("?="),
                () -> "cut at white space, after an address or a name: ..." + s.substring(s.length() - 40));
        String decoded = MimeUtility.decodeText(MimeUtility.unfold(s.strip()));
        assertFalse(decoded.contains("=?"), "every word decoded: " + decoded.substring(decoded.length() - 100));
    }

    @Test
    void fieldsUnderTheBoundAreCopiedAsTheyCame() {
        String folded = "Subject: =?UTF-8?B?w6TDtsO8?=\r\n =?UTF-8?Q?_und_mehr?= plain\r\n";
        assertArrayEquals(
                folded.replace("\r\n", "\n").getBytes(StandardCharsets.US_ASCII),
                OuterFields.copy(folded.getBytes(StandardCharsets.US_ASCII)));
        assertArrayEquals(
                "Subject: a\n b c\n".getBytes(StandardCharsets.US_ASCII),
                OuterFields.copy("Subject: a\r b\rc\r".getBytes(StandardCharsets.US_ASCII)),
                "a bare CR ending a line is a fold or the end; one inside a line is a space, never a line break");
        byte[] eight = "Subject: Prüfung ✓ \n".getBytes(StandardCharsets.UTF_8);
        assertArrayEquals(eight, OuterFields.copy(eight), "8-bit and trailing space kept");
        byte[] exactly = field("Subject", "y".repeat(OuterFields.MAX_FIELD - 10), "\n");
        assertEquals(OuterFields.MAX_FIELD, exactly.length);
        String s = new String(OuterFields.copy(exactly), StandardCharsets.US_ASCII);
        assertEquals(
                OuterFields.MAX_FIELD - 10, s.chars().filter(c -> c == 'y').count(), "nothing cut at the bound itself");
    }

    @Test
    void aLongLineWithoutSpaceIsFoldedBetweenCharactersOfRawUtf8() {
        byte[] raw = field("Subject", "ä".repeat(2000), "\n"); // 4000 octets, no space
        byte[] out = OuterFields.copy(raw);
        assertWellFormed(out);
        assertEquals(
                "ä".repeat(2000),
                strictUtf8(out).substring(9).replace("\n ", "").strip());
    }

    @Test
    void theForwardsSubjectAsAReaderDecodesItIsTheStartOfTheOriginal() throws Exception {
        String text = sample(100_000);
        String message = "From: =?utf-8?q?Cron_D=C3=A4mon?= <root@host.example>\nTo: root\nSubject: "
                + encodedWords(text, "\n ", false) + "\nContent-Type: text/plain; charset=utf-8\n\nbody\n";
        ForwardComposer composer = new ForwardComposer("cf.test", Clock.systemUTC(), new SecureRandom());
        try (InputMessage m = InputMessage.of(message.getBytes(StandardCharsets.UTF_8))) {
            HeaderSection h = HeaderSection.parse(m, Set.of("from", "subject", "content-type"));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            composer.pgpMime(
                            h,
                            "admin@example.org",
                            KeyUsability.evaluate(
                                            new OpenPGPKeyReader().parseCertificate(TestKeys.ED.publicKey()),
                                            new Date())
                                    .encryptionKeys(),
                            "",
                            false)
                    .writeTo(out);
            MimeMessage forward = PgpMime.parse(out.toByteArray());
            String subject = forward.getSubject();
            assertFalse(subject.contains("=?") || subject.contains("\uFFFD"), "no undecoded word, no broken character");
            assertTrue(subject.length() > 4000 && text.startsWith(subject), subject.substring(subject.length() - 80));
            assertEquals(
                    "=?utf-8?q?Cron_D=C3=A4mon?= <root@host.example>",
                    forward.getHeader("From", null),
                    "From byte for byte");
        }
    }
}
