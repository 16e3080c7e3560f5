package org.cryptforward.delivery;

import java.io.OutputStream;

/**
 * The last step of the bytes of a local copy on their way into a file: the file's own stream.
 * Tests put a stream in between that fails like a full disk would, to prove that a failed write
 * leaves nothing behind.
 */
@FunctionalInterface
interface FileSink {
    FileSink DIRECT = file -> file;

    OutputStream wrap(OutputStream file);
}
