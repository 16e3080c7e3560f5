package org.cryptforward.message;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import org.cryptforward.core.Limits;

/**
 * One message as the MTA handed it over on standard input.
 *
 * <p>The input is read as bytes, never decoded. A leading mbox {@code From } line (Postfix writes
 * {@code From sender  date}, Exim {@code From sender date}) is the envelope, not part of the
 * message: it is split off, and the sender in it kept — but only a real one, a sender and a
 * date ({@code From : x} is a header field and stays). The SHA-256 digest of the message without
 * that line identifies the message across MTA retries, where only the line's time stamp changes.
 * Exim's pipe transport appends one {@code \n} after the message; {@link #read} removes it when
 * asked to.
 */
public final class InputMessage implements Closeable {
    /** An envelope line longer than this is not one. */
    private static final int MAX_ENVELOPE_LINE = Limits.DEFAULT.envelopeLineBytes();
    /**
     * A real envelope line: {@code From }, a sender without white space, then a date — ctime(3)
     * as Postfix and Exim write it ({@code From a@b  Tue Dec  1 08:29:51 2026}) or RFC 5322 style
     * as Thunderbird does ({@code From - Thu, 24 Nov 2022 19:06:16 GMT}): a month name, a time and
     * a year, and nothing but the words of a date. Anything else starting with {@code From } —
     * {@code From : x} is a header field — is part of the message.
     */
    static final java.util.regex.Pattern ENVELOPE_LINE = java.util.regex.Pattern.compile(
            "From [^\\s]+[ \\t]+(?=.*\\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\\b)(?=.*\\b\\d{1,2}:\\d{2}\\b)(?=.*\\b\\d{4}\\b)"
                    + "(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|\\d{1,4},?|\\d{1,2}:\\d{2}(?::\\d{2})?"
                    + "|[+-]\\d{4}|\\(?[A-Z]{1,5}\\)?)(?: +(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
                    + "|\\d{1,4},?|\\d{1,2}:\\d{2}(?::\\d{2})?|[+-]\\d{4}|\\(?[A-Z]{1,5}\\)?))*");

    private final Spool spool;
    private final String envelopeLine;
    private final long start;
    private final long end;
    private final byte[] digest;

    private InputMessage(Spool spool, String envelopeLine, long start, long end, byte[] digest) {
        this.spool = spool;
        this.envelopeLine = envelopeLine;
        this.start = start;
        this.end = end;
        this.digest = digest;
    }

    /**
     * Reads all of {@code in}.
     *
     * @param tempDir where a large message is spooled (encrypted, unlinked)
     * @param memoryLimit bytes kept in memory before spooling to disk
     * @param dropTrailingNewline remove the one {@code \n} that Exim's pipe transport appends
     */
    public static InputMessage read(InputStream in, Path tempDir, long memoryLimit, boolean dropTrailingNewline)
            throws IOException {
        Spool spool = Spool.create(tempDir, memoryLimit);
        try {
            MessageDigest sha = sha256();
            byte[] buf = new byte[Limits.DEFAULT.ioBufferBytes()];
            // The first line decides whether there is an envelope line; read until it ends.
            int head = 0;
            int eol = -1;
            while (head < buf.length) {
                int n = in.read(buf, head, buf.length - head);
                if (n < 0) {
                    break;
                }
                int scanFrom = head;
                head += n;
                eol = indexOf(buf, (byte) '\n', scanFrom, head);
                if (eol >= 0 || head > MAX_ENVELOPE_LINE) {
                    break;
                }
            }
            String envelope = null;
            int messageStart = 0;
            if (eol >= 0 && startsWith(buf, head, "From ")) {
                String line = new String(buf, 0, eol, StandardCharsets.ISO_8859_1).stripTrailing();
                if (ENVELOPE_LINE.matcher(line).matches()) {
                    envelope = line;
                    messageStart = eol + 1;
                }
            }
            spool.write(buf, 0, head);
            sha.update(buf, messageStart, head - messageStart);
            long lastByte = head > 0 ? buf[head - 1] : -1;
            int n;
            while ((n = in.read(buf)) > 0) {
                spool.write(buf, 0, n);
                sha.update(buf, 0, n);
                lastByte = buf[n - 1];
            }
            spool.finish();
            long end = spool.size();
            if (dropTrailingNewline && lastByte == '\n' && end > messageStart) {
                end--;
            }
            return new InputMessage(spool, envelope, messageStart, end, sha.digest());
        } catch (IOException | RuntimeException e) {
            spool.close();
            throw e;
        }
    }

    /** A message held in memory, as from a file; mainly for tests and the {@code test} command. */
    public static InputMessage of(byte[] bytes) {
        try {
            return read(new java.io.ByteArrayInputStream(bytes), null, Long.MAX_VALUE, false);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The whole message, without the envelope line. */
    public InputStream open() {
        return spool.open(start, end);
    }

    /** Bytes {@code [from, to)} of the message (offsets relative to its start). */
    public InputStream open(long from, long to) {
        return spool.open(start + from, start + to);
    }

    /** Up to {@code len} bytes from {@code offset} of the message. */
    public byte[] read(long offset, int len) throws IOException {
        long to = Math.min(length(), offset + len);
        try (InputStream in = open(offset, to)) {
            return in.readAllBytes();
        }
    }

    public long length() {
        return end - start;
    }

    /** The envelope {@code From } line, without its line end, if the input had one. */
    public Optional<String> envelopeLine() {
        return Optional.ofNullable(envelopeLine);
    }

    /**
     * The envelope sender named by the {@code From } line: empty for none, {@code ""} for the null
     * sender ({@code MAILER-DAEMON}, as Postfix writes it).
     */
    public Optional<String> envelopeLineSender() {
        if (envelopeLine == null || envelopeLine.length() <= 5) {
            return Optional.empty(); // "From " alone (fuzzing found it): no sender named
        }
        String rest = envelopeLine.substring(5).stripLeading();
        int sp = 0;
        while (sp < rest.length() && rest.charAt(sp) > ' ') {
            sp++;
        }
        // the line's bytes were kept as ISO-8859-1: the sender is read as UTF-8 (bytes that are
        // not become U+FFFD, which no valid address contains)
        String sender = new String(rest.substring(0, sp).getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
        if (sender.equalsIgnoreCase("MAILER-DAEMON") || sender.equals("<>")) {
            return Optional.of("");
        }
        return sender.isEmpty() ? Optional.empty() : Optional.of(sender);
    }

    /** SHA-256 of the message without the envelope line (and before any suffix removal). */
    public byte[] digest() {
        return digest.clone();
    }

    public String digestHex() {
        return HexFormat.of().formatHex(digest);
    }

    @Override
    public void close() throws IOException {
        spool.close();
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int indexOf(byte[] b, byte v, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == v) {
                return i;
            }
        }
        return -1;
    }

    private static boolean startsWith(byte[] b, int len, String prefix) {
        if (len < prefix.length()) {
            return false;
        }
        for (int i = 0; i < prefix.length(); i++) {
            if (b[i] != prefix.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
