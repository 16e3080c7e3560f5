package org.cryptforward.rules;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.junit.jupiter.api.Test;

/** Where the envelope recipient and sender come from, in the documented order, as Postfix and Exim pass them. */
class EnvelopeResolverTest {
    static final Set<String> NAMES = Set.of("delivered-to", "x-original-to", "return-path", "to", "cc");

    static Envelope resolve(String message, String recipientOption, String senderOption, Map<String, String> env)
            throws Exception {
        InputMessage m = InputMessage.of(message.getBytes(StandardCharsets.UTF_8));
        return EnvelopeResolver.resolve(recipientOption, senderOption, env, HeaderSection.parse(m, NAMES), m);
    }

    static final String POSTFIX = "From bounce@example.org  Mon Mar  3 06:25:04 2025\n"
            + "Return-Path: <bounce@example.org>\nX-Original-To: root\nDelivered-To: root@host.example\n"
            + "To: someone@example.org\n\nbody\n";

    @Test
    void recipientInOrder() throws Exception {
        Map<String, String> postfix =
                Map.of("ORIGINAL_RECIPIENT", "root@orig.example", "RECIPIENT", "root@rcpt.example");
        assertEquals(
                Optional.of("opt@x"), resolve(POSTFIX, "opt@x", null, postfix).recipient());
        assertEquals(
                Optional.of("root@orig.example"),
                resolve(POSTFIX, null, null, postfix).recipient());
        assertEquals(
                Optional.of("root@rcpt.example"),
                resolve(POSTFIX, null, null, Map.of("RECIPIENT", "root@rcpt.example"))
                        .recipient());
        assertEquals(
                Optional.of("root@exim.example"),
                resolve(POSTFIX, null, null, Map.of("LOCAL_PART", "root", "DOMAIN", "exim.example"))
                        .recipient());
        assertEquals(
                Optional.of("root@host.example"),
                resolve(POSTFIX, null, null, Map.of()).recipient(),
                "Delivered-To");
        assertEquals(
                "Delivered-To header", resolve(POSTFIX, null, null, Map.of()).recipientSource());
        assertEquals(
                Optional.of("root"),
                resolve("X-Original-To: root\n\nx\n", null, null, Map.of()).recipient());
        assertEquals(
                Optional.empty(),
                resolve("To: a@b.example\n\nx\n", null, null, Map.of()).recipient(),
                "To is not an envelope (the rules still look at it)");
    }

    @Test
    void senderInOrder() throws Exception {
        assertEquals(
                "opt@x",
                resolve(POSTFIX, null, "<opt@x>", Map.of("SENDER", "env@x")).sender());
        assertEquals(
                "env@x", resolve(POSTFIX, null, null, Map.of("SENDER", "env@x")).sender());
        assertEquals(
                "",
                resolve(POSTFIX, null, null, Map.of("SENDER", "")).sender(),
                "Postfix passes a bounce as SENDER=\"\"");
        assertEquals(
                "bounce@example.org", resolve(POSTFIX, null, null, Map.of()).sender(), "Return-Path");
        assertEquals(
                "line@example.org",
                resolve("From line@example.org  Mon Mar  3 06:25:04 2025\nTo: x\n\nb\n", null, null, Map.of())
                        .sender());
        assertEquals(
                "",
                resolve("From MAILER-DAEMON  Mon Mar  3 06:25:04 2025\nTo: x\n\nb\n", null, null, Map.of())
                        .sender());
        assertEquals("", resolve("To: x\n\nb\n", null, null, Map.of()).sender());
        String injected =
                resolve(POSTFIX, null, "a@b\r\nRCPT TO:<evil@x>", Map.of()).sender();
        assertTrue(
                injected.chars().noneMatch(c -> c == '\r' || c == '\n' || c == ' '),
                "no line break or space survives in a sender (it goes into MAIL FROM): " + injected);
    }

    @Test
    void eximsTrailingNewlineIsDroppedOnRequest() throws Exception {
        byte[] exim =
                "From root@host Mon Mar  3 06:25:04 2025\nTo: root\n\nbody\n\n".getBytes(StandardCharsets.US_ASCII);
        try (InputMessage plain = InputMessage.read(new ByteArrayInputStream(exim), null, Long.MAX_VALUE, false);
                InputMessage dropped = InputMessage.read(new ByteArrayInputStream(exim), null, Long.MAX_VALUE, true)) {
            assertEquals("To: root\n\nbody\n\n", new String(plain.read(0, 1000), StandardCharsets.US_ASCII));
            assertEquals("To: root\n\nbody\n", new String(dropped.read(0, 1000), StandardCharsets.US_ASCII));
            assertEquals(plain.digestHex(), dropped.digestHex(), "the digest that keys retries is the same either way");
        }
    }
}
