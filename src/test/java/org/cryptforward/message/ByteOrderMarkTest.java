package org.cryptforward.message;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Relay;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A UTF-8 byte-order mark before the first header field: the header is read as if it were not
 * there, From and Subject go outside without it, and the local copy and the encrypted original
 * keep every byte.
 */
class ByteOrderMarkTest {
    private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
    private static final Set<String> NAMES = Set.of("from", "subject", "to", "content-type");

    @TempDir
    Path tmp;

    static byte[] withBom(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(BOM);
        out.writeBytes(text.getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    @Test
    void theHeaderIsReadAndTheFirstFieldStartsAfterTheMark() throws Exception {
        for (String eol : new String[] {"\n", "\r\n"}) {
            byte[] message = withBom("From: Cron Daemon <root@host.example>" + eol + "Subject: backup failed" + eol
                    + "To: root" + eol + eol + "body" + eol);
            try (InputMessage m = InputMessage.of(message)) {
                HeaderSection h = HeaderSection.parse(m, NAMES);
                assertEquals(3, h.fieldCount());
                HeaderSection.Field from = h.first("From").orElseThrow();
                assertEquals(BOM.length, from.start(), "the field starts after the mark");
                assertEquals("Cron Daemon <root@host.example>", h.value(from, 1024));
                assertEquals(Optional.of("backup failed"), h.value("Subject", 1024));
                assertArrayEquals(
                        ("From: Cron Daemon <root@host.example>\n").getBytes(StandardCharsets.US_ASCII),
                        OuterFields.copy(h.raw(from, 1024)),
                        "copied outside without the mark");
                assertEquals(eol.equals("\r\n"), h.usesCrlf());
                assertEquals(message.length - ("body" + eol).length(), h.bodyStart());
            }
        }
    }

    @Test
    void aMarkBeforeSomethingThatIsNoFieldIsBody() throws Exception {
        byte[] message = withBom("just text, no header\n");
        try (InputMessage m = InputMessage.of(message)) {
            HeaderSection h = HeaderSection.parse(m, NAMES);
            assertEquals(0, h.fieldCount());
            assertEquals(0, h.bodyStart(), "the mark and the text are the body");
        }
        byte[] alone = BOM;
        try (InputMessage m = InputMessage.of(alone)) {
            assertEquals(0, HeaderSection.parse(m, NAMES).fieldCount());
        }
    }

    @Test
    void onlyAMarkAtTheVeryStartIsSkipped() throws Exception {
        // a second mark, or one after the first field, is part of what follows: not a field name
        byte[] twice = withBom("\uFEFFFrom: a@b.example\n\nbody\n");
        try (InputMessage m = InputMessage.of(twice)) {
            HeaderSection h = HeaderSection.parse(m, NAMES);
            assertEquals(0, h.fieldCount());
        }
        byte[] later = "From: a@b.example\n\uFEFFSubject: s\n\nbody\n".getBytes(StandardCharsets.UTF_8);
        try (InputMessage m = InputMessage.of(later)) {
            HeaderSection h = HeaderSection.parse(m, NAMES);
            assertEquals(1, h.fieldCount());
            assertFalse(h.first("Subject").isPresent());
        }
    }

    @Test
    void deliveredWithFromAndSubjectOutsideAndEveryByteKept() throws Exception {
        byte[] message = withBom(
                "From: Cron Daemon <root@host.example>\nTo: root\nSubject: =?utf-8?q?Sicherung_fehlgeschlagen_=E2=80=94?=\n"
                        + "Message-ID: <bom-1@host.example>\nContent-Type: text/plain; charset=utf-8\n\nthe body stays inside\n");
        try (Relay relay = new Relay()) {
            Sandbox sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", true);
            Sandbox.Run run = sb.deliver(message, "--recipient", "root@cf.test");
            assertEquals(0, run.exit(), run::combined);
            assertArrayEquals(
                    message,
                    Files.readAllBytes(sb.maildirMessages().get(0)),
                    "local copy byte-identical, mark included");
            MimeMessage forward = relay.received()[0];
            byte[] relayed = PgpMime.bytes(forward);
            assertEquals(" Cron Daemon <root@host.example>", Messages.headerValue(relayed, "From"));
            assertEquals(" =?utf-8?q?Sicherung_fehlgeschlagen_=E2=80=94?=", Messages.headerValue(relayed, "Subject"));
            assertFalse(new String(relayed, StandardCharsets.UTF_8).contains("\uFEFF"), "no mark outside");
            byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(forward));
            assertTrue(
                    Messages.isOriginalWithMark(message, payload), () -> new String(payload, StandardCharsets.UTF_8));
        }
    }
}
