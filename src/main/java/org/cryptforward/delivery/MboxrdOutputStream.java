package org.cryptforward.delivery;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;

/**
 * mboxrd quoting of a message on its way into an mbox: a line that starts with {@code From }
 * after any number (zero included) of {@code >} gets one more {@code >}, so that a reader that
 * removes one {@code >} from every such line gets the original back, and no line of a message
 * can pass for the {@code From } line that starts the next one.
 *
 * <p>Streams in constant memory: the {@code >} run at the start of a line is passed on as it
 * comes, and the added {@code >} goes after it (quoting {@code >>From } as {@code >>>From } is the
 * same whether the new {@code >} stands first or last); only up to four bytes of a possible
 * {@code From } are held back. A message that does not end with a line end gets one, since the
 * mbox format cannot keep that distinction. {@link #close()} flushes but does not close the
 * underlying stream. {@link #count()} says how many bytes were written to it.
 */
final class MboxrdOutputStream extends FilterOutputStream {
    private static final byte[] FROM = {'F', 'r', 'o', 'm', ' '};
    private static final byte[] QUOTE = {'>'};
    private static final byte[] NEWLINE = {'\n'};

    /** Whether the current line so far is a (possibly empty) run of {@code >} plus {@link #held} bytes of "From ". */
    private boolean atLineStart = true;
    /** How many bytes of "From " have been seen (and held back) after the {@code >} run. */
    private int held;

    private int last = '\n';
    private long count;

    MboxrdOutputStream(OutputStream out) {
        super(out);
    }

    /** Bytes written to the underlying stream so far. */
    long count() {
        return count;
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        int end = off + len;
        int i = off;
        while (i < end) {
            if (atLineStart) {
                byte c = b[i++];
                if (held == 0 && c == '>') {
                    emit(QUOTE, 0, 1);
                } else if (c == FROM[held]) {
                    if (++held == FROM.length) {
                        emit(QUOTE, 0, 1);
                        emit(FROM, 0, FROM.length);
                        held = 0;
                        atLineStart = false;
                    }
                } else {
                    releaseHeld();
                    emit(b, i - 1, 1);
                    atLineStart = c == '\n';
                }
                continue;
            }
            int nl = i;
            while (nl < end && b[nl] != '\n') {
                nl++;
            }
            if (nl < end) {
                emit(b, i, nl + 1 - i);
                i = nl + 1;
                atLineStart = true;
            } else {
                emit(b, i, end - i);
                i = end;
            }
        }
    }

    private void releaseHeld() throws IOException {
        if (held > 0) {
            emit(FROM, 0, held);
            held = 0;
        }
    }

    private void emit(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
        count += len;
        last = b[off + len - 1];
    }

    /** Writes what is held back and, if the message did not end with one, a line end; flushes. */
    @Override
    public void close() throws IOException {
        releaseHeld();
        atLineStart = false;
        if (last != '\n') {
            emit(NEWLINE, 0, 1);
        }
        out.flush();
    }
}
