package org.cryptforward.service;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The wire format: fields and frames round-trip, and a message ends only at its end frame. */
class ProtocolTest {
    static DataInputStream in(byte[] b) {
        return new DataInputStream(new ByteArrayInputStream(b));
    }

    @Test
    void helloAndAnswerRoundTrip() throws Exception {
        Map<String, String> f = new LinkedHashMap<>();
        f.put("op", "deliver");
        f.put("recipient", "röot@host");
        f.put("env.SENDER", "");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Protocol.writeHello(out, Protocol.VERSION, f);
        DataInputStream i = in(out.toByteArray());
        assertEquals(Protocol.VERSION, Protocol.readVersion(i));
        assertEquals(f, Protocol.decodeFields(Protocol.readLengthPrefixed(i, Protocol.MAX_FIELDS)));

        out.reset();
        Protocol.writeAnswer(out, Protocol.REFUSED, Map.of("reason", "no"));
        i = in(out.toByteArray());
        assertEquals(Protocol.VERSION, Protocol.readVersion(i));
        assertEquals(Protocol.REFUSED, i.readUnsignedByte());
        assertEquals(
                Map.of("reason", "no"), Protocol.decodeFields(Protocol.readLengthPrefixed(i, Protocol.MAX_FIELDS)));
    }

    @Test
    void garbageIsRefused() {
        assertThrows(
                Protocol.ProtocolException.class,
                () -> Protocol.readVersion(in("HTTP/1.1".getBytes(StandardCharsets.US_ASCII))));
        assertThrows(
                Protocol.ProtocolException.class,
                () -> Protocol.decodeFields("a\0b".getBytes(StandardCharsets.US_ASCII)));
        assertThrows(
                Protocol.ProtocolException.class,
                () -> Protocol.decodeFields("a\0b\0a\0c\0".getBytes(StandardCharsets.US_ASCII)));
        assertThrows(
                Protocol.ProtocolException.class,
                () -> Protocol.readLengthPrefixed(in(new byte[] {0x7f, 0, 0, 0}), Protocol.MAX_FIELDS));
    }

    static byte[] frames(Object... parts) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Object p : parts) {
            if (p instanceof String s) {
                byte[] b = s.getBytes(StandardCharsets.US_ASCII);
                Protocol.writeFrame(out, Protocol.DATA, b, 0, b.length);
            } else {
                Protocol.writeFrame(out, (Byte) p, new byte[0], 0, 0);
            }
        }
        return out.toByteArray();
    }

    @Test
    void theMessageIsTheDataOfItsFramesUpToTheEndFrame() throws Exception {
        AtomicInteger ends = new AtomicInteger();
        Protocol.MessageInput m =
                new Protocol.MessageInput(in(frames("From: a\n", "", "\nbody\n", Protocol.END)), ends::incrementAndGet);
        assertArrayEquals("From: a\n\nbody\n".getBytes(StandardCharsets.US_ASCII), m.readAllBytes());
        assertEquals(1, ends.get(), "the end is seen once");
        assertEquals(-1, m.read());
        assertTrue(m.ended());
    }

    @Test
    void aConnectionThatEndsBeforeTheEndFrameIsAnErrorNotAnEndOfInput() throws Exception {
        Protocol.MessageInput cut = new Protocol.MessageInput(in(frames("From: a\n", "\nhalf a bo")), () -> {});
        IOException e = assertThrows(IOException.class, cut::readAllBytes);
        assertTrue(e.getMessage().contains("went away"), e.getMessage());
        byte[] partial = frames("From: a\n");
        byte[] inFrame = java.util.Arrays.copyOf(partial, partial.length - 3);
        assertThrows(IOException.class, () -> new Protocol.MessageInput(in(inFrame), () -> {}).readAllBytes());
        assertThrows(
                IOException.class,
                () -> new Protocol.MessageInput(in(frames("x", Protocol.ABORT)), () -> {}).readAllBytes(),
                "the client's input failed");
        assertThrows(
                Protocol.ProtocolException.class,
                () -> new Protocol.MessageInput(in(frames("x", Protocol.EXIT)), () -> {}).readAllBytes(),
                "not a client's frame");
    }
}
