package org.cryptforward.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.cryptforward.support.MboxReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * mboxrd quoting: exactly the lines matching {@code ^>*From } get one more {@code >}, whatever
 * the line ends, the position in the stream or how the bytes are split into writes; and the
 * test's own reader, written independently, gets every message back.
 */
class MboxrdOutputStreamTest {
    private static byte[] quote(byte[] in, int chunk) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        MboxrdOutputStream q = new MboxrdOutputStream(out);
        for (int i = 0; i < in.length; i += chunk) {
            int n = Math.min(chunk, in.length - i);
            if (n == 1) {
                q.write(in[i]);
            } else {
                q.write(in, i, n);
            }
        }
        q.close();
        assertEquals(out.size(), q.count(), "count() is the number of bytes written");
        return out.toByteArray();
    }

    private static String quote(String in) throws IOException {
        return new String(
                quote(in.getBytes(StandardCharsets.ISO_8859_1), Integer.MAX_VALUE), StandardCharsets.ISO_8859_1);
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiterString = "=>",
            value = {
                "'From me\n' => '>From me\n'",
                "'>From me\n' => '>>From me\n'",
                "'>>>From me\n' => '>>>>From me\n'",
                "'a\nFrom x\nb\n' => 'a\n>From x\nb\n'",
                "'From \n' => '>From \n'",
                "'From\n' => 'From\n'",
                "'Fromage\n' => 'Fromage\n'",
                "'from me\n' => 'from me\n'",
                "' From me\n' => ' From me\n'",
                "'x From me\n' => 'x From me\n'",
                "'>> From me\n' => '>> From me\n'",
                "'>Fr>From me\n' => '>Fr>From me\n'",
                "'Fro\nFrom \n' => 'Fro\n>From \n'",
                "'From me\r\nFrom you\r\n' => '>From me\r\n>From you\r\n'",
                "'\rFrom me\n' => '\rFrom me\n'",
                "'>>>>\n' => '>>>>\n'",
                "'Fro' => 'Fro\n'",
                "'From' => 'From\n'",
                "'>From' => '>From\n'",
                "'From ' => '>From \n'",
                "'no final line end' => 'no final line end\n'",
                "'\n\nFrom x\n\n' => '\n\n>From x\n\n'",
            })
    void quotesExactlyTheFromLines(String in, String want) throws IOException {
        assertEquals(want, quote(in));
    }

    @Test
    void emptyMessageStaysEmpty() throws IOException {
        assertEquals("", quote(""));
    }

    @Test
    void aLongRunOfQuotesBeforeFromIsStillQuoted() throws IOException {
        String run = ">".repeat(10_000);
        assertEquals(">" + run + "From x\n", quote(run + "From x\n"));
        assertEquals(run + "Frog\n", quote(run + "Frog\n"));
    }

    @Test
    void sameResultForEverySplitIntoWrites() throws IOException {
        byte[] msg = ("From a\n>From b\n>>From c\nFro\nFrom\nx From y\n>>>>>\n\nFrom end")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] whole = quote(msg, Integer.MAX_VALUE);
        for (int chunk = 1; chunk <= 9; chunk++) {
            assertArrayEquals(whole, quote(msg, chunk), "chunk size " + chunk);
        }
    }

    /** Random messages built from the tricky pieces: quoting then unquoting gives the original back. */
    @Test
    void unquotingRestoresRandomMessages() throws IOException {
        String[] pieces = {"From ", ">", "From", "Fr", "\n", "\r\n", "x", " ", ">From ", "om ", "\0", "\u00ff"};
        Random random = new Random(20260101);
        for (int n = 0; n < 3000; n++) {
            StringBuilder sb = new StringBuilder();
            int len = random.nextInt(40);
            for (int i = 0; i < len; i++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
            }
            byte[] msg = sb.toString().getBytes(StandardCharsets.ISO_8859_1);
            byte[] quoted = quote(msg, 1 + random.nextInt(7));
            assertArrayEquals(MboxReader.expectedReadBack(msg), MboxReader.unquote(quoted), () -> "message: " + sb);
            for (String line : new String(quoted, StandardCharsets.ISO_8859_1).split("\n")) {
                assertEquals(false, line.startsWith("From "), () -> "a quoted line starts with From: " + sb);
            }
        }
    }
}
