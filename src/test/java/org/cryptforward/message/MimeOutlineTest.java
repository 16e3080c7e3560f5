package org.cryptforward.message;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The outline is bounded in parts, and a part opened by its path is the part the outline saw. */
class MimeOutlineTest {
    static InputStream in(String s) {
        return new ByteArrayInputStream(s.getBytes(StandardCharsets.US_ASCII));
    }

    @Test
    void aMillionEmptyPartsAreNotOutlined() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < 1_000_000; i++) {
            out.writeBytes("--p\n\n".getBytes(StandardCharsets.US_ASCII));
        }
        out.writeBytes("--p--\n".getBytes(StandardCharsets.US_ASCII));
        IOException e = assertThrows(
                IOException.class,
                () -> MimeOutline.parse(
                        new ByteArrayInputStream(out.toByteArray()), "multipart/mixed; boundary=\"p\"", 3, 16));
        assertTrue(e.getMessage().contains("more than " + MimeOutline.MAX_PARTS + " parts"), e.getMessage());
    }

    @Test
    void pathsNameTheSamePartsForOutlineAndOpen() throws IOException {
        String body =
                "pre\n--o\nContent-Type: text/plain\n\nfirst\n--o\nContent-Type: multipart/encrypted; boundary=\"i\"\n\n"
                        + "--i\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--i\nContent-Type: application/octet-stream\n"
                        + "Content-Transfer-Encoding: base64\n\naW5uZXI=\n--i--\n--o--\nepi\n";
        MimeOutline.Part root = MimeOutline.parse(in(body), "multipart/mixed; boundary=\"o\"", 3, 64);
        MimeOutline.Part data = root.children().get(1).children().get(1);
        assertEquals(List.of(1, 1), data.path());
        assertEquals("application/octet-stream", data.type());
        try (InputStream part = MimeOutline.openBody(in(body), "multipart/mixed; boundary=\"o\"", 3, data.path())) {
            assertEquals("inner", new String(part.readAllBytes(), StandardCharsets.US_ASCII), "decoded from base64");
        }
        assertThrows(
                IOException.class,
                () -> MimeOutline.openBody(in(body), "multipart/mixed; boundary=\"o\"", 3, List.of(7)));
    }
}
