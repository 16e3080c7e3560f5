package org.cryptforward.support;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/**
 * An mboxrd reader written for the tests, independently of the production writer: splits an mbox
 * at its {@code From } lines, checks the frame (every message is followed by exactly one empty
 * line, nothing stands before the first {@code From } line) and removes one {@code >} from every
 * line matching {@code ^>+From }.
 */
public final class MboxReader {
    /** The {@code From } line Postfix and procmail write: sender, then an asctime date. */
    public static final Pattern FROM_LINE = Pattern.compile(
            "From \\S+ (Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}");

    /** One message: its {@code From } line (without line end), its bytes as stored, and unquoted. */
    public record Entry(String fromLine, byte[] stored, byte[] message) {}

    private MboxReader() {}

    public static List<Entry> read(Path mbox) {
        try {
            return parse(Files.exists(mbox) ? Files.readAllBytes(mbox) : new byte[0]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Splits and checks an mbox; fails the test if it is not well framed. */
    public static List<Entry> parse(byte[] mbox) {
        List<int[]> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < mbox.length; i++) {
            if (mbox[i] == '\n') {
                lines.add(new int[] {start, i + 1});
                start = i + 1;
            }
        }
        if (start < mbox.length) {
            fail("the mbox does not end with a line end");
        }
        List<Entry> entries = new ArrayList<>();
        int i = 0;
        while (i < lines.size()) {
            int[] from = lines.get(i);
            String fromLine = new String(mbox, from[0], from[1] - from[0] - 1, StandardCharsets.UTF_8);
            assertTrue(fromLine.startsWith("From "), () -> "a message must start with a From line, not: " + fromLine);
            int j = i + 1;
            while (j < lines.size() && !startsWith(mbox, lines.get(j)[0], "From ")) {
                j++;
            }
            // lines i+1 .. j-1: the message, then one empty line
            assertTrue(
                    j - 1 > i && isEmptyLine(mbox, lines.get(j - 1)),
                    () -> "a message must be followed by an empty line: " + fromLine);
            int bodyStart = from[1];
            int bodyEnd = lines.get(j - 1)[0];
            byte[] stored = Arrays.copyOfRange(mbox, bodyStart, bodyEnd);
            entries.add(new Entry(fromLine, stored, unquote(stored)));
            i = j;
        }
        return entries;
    }

    /** Removes one {@code >} from each line that matches {@code ^>+From }. */
    public static byte[] unquote(byte[] stored) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(stored.length);
        int lineStart = 0;
        for (int i = 0; i <= stored.length; i++) {
            if (i == stored.length || stored[i] == '\n') {
                int end = i == stored.length ? i : i + 1;
                int q = lineStart;
                while (q < end && stored[q] == '>') {
                    q++;
                }
                boolean quoted = q > lineStart && startsWith(stored, q, "From ");
                int from = quoted ? lineStart + 1 : lineStart;
                out.write(stored, from, end - from);
                lineStart = end;
            }
        }
        return out.toByteArray();
    }

    /** mboxrd quoting, done line by line here independently of the production code. */
    public static byte[] quote(byte[] message) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(message.length + 64);
        int lineStart = 0;
        for (int i = 0; i <= message.length; i++) {
            if (i == message.length || message[i] == '\n') {
                int end = i == message.length ? i : i + 1;
                int q = lineStart;
                while (q < end && message[q] == '>') {
                    q++;
                }
                if (startsWith(message, q, "From ")) {
                    out.write('>');
                }
                out.write(message, lineStart, end - lineStart);
                lineStart = end;
            }
        }
        return expectedReadBack(out.toByteArray());
    }

    /** What a message looks like once stored and read back: the same, with a line end added if it had none. */
    public static byte[] expectedReadBack(byte[] message) {
        if (message.length == 0 || message[message.length - 1] == '\n') {
            return message;
        }
        byte[] b = Arrays.copyOf(message, message.length + 1);
        b[message.length] = '\n';
        return b;
    }

    private static boolean isEmptyLine(byte[] b, int[] line) {
        return line[1] - line[0] == 1;
    }

    static boolean startsWith(byte[] b, int off, String s) {
        if (b.length - off < s.length()) {
            return false;
        }
        for (int k = 0; k < s.length(); k++) {
            if (b[off + k] != s.charAt(k)) {
                return false;
            }
        }
        return true;
    }
}
