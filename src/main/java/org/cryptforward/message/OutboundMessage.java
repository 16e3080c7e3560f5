package org.cryptforward.message;

import java.io.IOException;
import java.io.OutputStream;

/**
 * A message ready to be sent: it writes itself, streaming, with LF line ends (the SMTP layer
 * turns them into CRLF and dot-stuffs). Writing may be repeated; each write produces a fresh
 * encryption.
 */
public interface OutboundMessage {
    void writeTo(OutputStream out) throws IOException;

    /** The Message-ID of this message, with angle brackets. */
    String messageId();
}
