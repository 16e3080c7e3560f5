package org.cryptforward.message;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.util.Optional;

/**
 * The body of a text/plain message as the inline format encrypts it: decoded from its transfer
 * encoding (base64, quoted-printable; 7bit/8bit/binary as they are) by mime4j, left in its
 * charset. With a hidden Subject, a {@code Subject:} line and an empty line come first, so the
 * reader still learns it.
 */
public final class InlineBody {
    private InlineBody() {}

    /** Whether the message can go inline: a single text/plain body in a known transfer encoding. */
    public static boolean fits(HeaderSection header) throws IOException {
        String cte = header.transferEncoding();
        return header.contentType().type().equals("text/plain")
                && (cte.equals("7bit")
                        || cte.equals("8bit")
                        || cte.equals("binary")
                        || cte.equals("quoted-printable")
                        || cte.equals("base64"));
    }

    public static InputStream open(HeaderSection header, Optional<String> hiddenSubject) throws IOException {
        InputStream body = header.decodedBody();
        if (hiddenSubject.isEmpty()) {
            return body;
        }
        byte[] line = ProtectedPayload.encode(
                "Subject: " + hiddenSubject.get() + "\n\n", header.contentType().charset());
        return new SequenceInputStream(new ByteArrayInputStream(line), body);
    }
}
