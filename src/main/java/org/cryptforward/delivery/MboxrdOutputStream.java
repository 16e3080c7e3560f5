package org.cryptforward.delivery;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;

/**
 * mboxrd quoting: a line that starts with {@code From } after any number of {@code >} gets one
 * more {@code >}, so that a reader removes exactly one and gets the original back. Ensures the
 * message ends with a line end; {@link #close()} does not close the underlying stream.
 */
final class MboxrdOutputStream extends FilterOutputStream {
    private static final byte[] FROM = {'F', 'r', 'o', 'm', ' '};
    /** A prefix of this many {@code >} is written out without waiting for "From ". */
    private static final int MAX_PENDING = 64;

    private final byte[] pending = new byte[MAX_PENDING + FROM.length];
    private int pendingLength;
    /** At the start of a line, deciding whether it needs a quote. */
    private boolean deciding = true;
    private int last = '\n';
    private long count;

    MboxrdOutputStream(OutputStream out) {
        super(out);
    }

    /** Bytes written to the underlying stream. */
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
            if (deciding) {
                i = decide(b, i, end);
                continue;
            }
            int nl = -1;
            for (int j = i; j < end; j++) {
                if (b[j] == '\n') {
                    nl = j;
                    break;
                }
            }
            int runEnd = nl < 0 ? end : nl + 1;
            emit(b, i, runEnd - i);
            i = runEnd;
            if (nl >= 0) {
                deciding = true;
            }
        }
    }

    /** Consumes bytes at a line start until it is known whether the line needs a quote. */
    private int decide(byte[] b, int i, int end) throws IOException {
        while (i < end) {
            byte c = b[i++];
            pending[pendingLength++] = c;
            int quotes = 0;
            while (quotes < pendingLength && pending[quotes] == '>') {
                quotes++;
            }
            int rest = pendingLength - quotes;
            if (rest == 0) {
                if (quotes >= MAX_PENDING) {
                    flushPending(false);
                    return i;
                }
                continue;
            }
            if (pending[pendingLength - 1] == FROM[rest - 1]) {
                if (rest == FROM.length) {
                    flushPending(true);
                    return i;
                }
                continue;
            }
            boolean endsLine = c == '\n';
            flushPending(false);
            deciding = endsLine;
            return i;
        }
        return i;
    }

    private void flushPending(boolean quote) throws IOException {
        if (quote) {
            emit(new byte[] {'>'}, 0, 1);
        }
        emit(pending, 0, pendingLength);
        pendingLength = 0;
        deciding = false;
    }

    private void emit(byte[] b, int off, int len) throws IOException {
        if (len > 0) {
            out.write(b, off, len);
            count += len;
            last = b[off + len - 1];
        }
    }

    /** Writes what is pending and, if the message did not end with one, a line end. */
    @Override
    public void close() throws IOException {
        if (pendingLength > 0) {
            boolean endsLine = pending[pendingLength - 1] == '\n';
            flushPending(false);
            deciding = endsLine;
        }
        if (last != '\n') {
            emit(new byte[] {'\n'}, 0, 1);
        }
        out.flush();
    }
}
