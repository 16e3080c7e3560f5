package org.cryptforward.message;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Set;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;

/** In-Reply-To and References travel outside as message IDs only: no free text of the sender's goes along. */
class OuterMessageIdsTest {
    static final String CANARY = "CANARYrefs42";

    @Test
    void onlyTheMessageIdsAreKept() {
        assertEquals(
                "<a@b> <c.d@e.example>",
                ForwardComposer.messageIds(
                        "secret " + CANARY + " <a@b> (comment " + CANARY + ")\n\t<c.d@e.example> trailing"));
        assertEquals("", ForwardComposer.messageIds("free " + CANARY + " text"));
        assertEquals("", ForwardComposer.messageIds("<no-at-sign> <sp ace@x> <new\nline@x>"));
    }

    @Test
    void theOuterHeaderOfAForwardCarriesNoFreeText() throws Exception {
        String original = "From: cron@host.example\nSubject: s\nMessage-ID: <m@host.example>\n"
                + "In-Reply-To: free " + CANARY + " text <parent@host.example>\n"
                + "References: " + CANARY + "\n <root@host.example>\n\t" + CANARY + " <parent@host.example>\n"
                + "\nbody\n";
        ForwardComposer composer = new ForwardComposer(
                "host.example", Clock.fixed(Instant.parse("2026-12-01T08:00:00Z"), ZoneOffset.UTC), new SecureRandom());
        try (InputMessage m = InputMessage.of(original.getBytes(StandardCharsets.US_ASCII))) {
            HeaderSection h = HeaderSection.parse(
                    m, Set.of("from", "subject", "message-id", "in-reply-to", "references", "content-type"));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            composer.pgpMime(h, "admin@example.org", ProtectedPayloadTest.keys(), "", false)
                    .writeTo(out);
            String forward = out.toString(StandardCharsets.US_ASCII);
            assertFalse(forward.contains(CANARY), forward);
            assertTrue(forward.contains("\nIn-Reply-To: <parent@host.example>\n"), forward);
            assertTrue(forward.contains("\nReferences: <root@host.example> <parent@host.example>\n"), forward);
            byte[] inside = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(out.toByteArray())));
            assertTrue(
                    new String(inside, StandardCharsets.US_ASCII).contains("References: " + CANARY),
                    "the whole field is inside");
        }
    }
}
