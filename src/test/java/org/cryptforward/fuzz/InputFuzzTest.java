package org.cryptforward.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.MimeOutline;
import org.cryptforward.message.OuterFields;
import org.cryptforward.message.ProtectedPayload;
import org.cryptforward.rules.EncryptedInput;
import org.cryptforward.rules.EnvelopeResolver;
import org.cryptforward.support.Messages;

/**
 * Coverage-guided fuzzing of the input reader: any bytes as a message must be read, split into
 * header and body, decoded, protected and outlined without an exception, and the payload must be
 * the input plus exactly the header protection parameters; outer header copies must stay one field each.
 *
 * <p>In a normal test run this replays the seeds in {@code src/test/resources/.../InputFuzzTestInputs};
 * {@code JAZZER_FUZZ=1 mvn test -Dtest=InputFuzzTest} fuzzes (see README).
 */
class InputFuzzTest {
    private static final Set<String> NAMES = Set.of(
            "from",
            "subject",
            "to",
            "cc",
            "content-type",
            "content-transfer-encoding",
            "delivered-to",
            "x-original-to",
            "return-path",
            "message-id",
            "x-cryptforward-loop");

    @FuzzTest(maxDuration = "10m")
    void readAndParse(byte[] data) throws IOException {
        try (InputMessage m = InputMessage.of(data)) {
            HeaderSection h = HeaderSection.parse(m, NAMES);
            assertTrue(h.headerEnd() <= h.bodyStart() && h.bodyStart() <= m.length());
            for (String name : NAMES) {
                for (HeaderSection.Field f : h.all(name)) {
                    h.value(f, 4096);
                    assertOneField(OuterFields.copy(h.raw(f, 64 * 1024)));
                }
            }
            EnvelopeResolver.resolve(null, null, Map.of(), h, m);
            h.contentType();
            byte[] payload;
            try (InputStream in = ProtectedPayload.open(h, Optional.of("subject"))) {
                payload = in.readAllBytes();
            }
            byte[] plainPayload;
            try (InputStream in = ProtectedPayload.open(h)) {
                plainPayload = in.readAllBytes();
            }
            byte[] original = m.read(0, (int) m.length());
            // unchanged only where the Content-Type already names both parameters
            String ct = h.first("Content-Type").isPresent()
                    ? new String(
                                    h.raw(h.first("Content-Type").get(), 64 * 1024),
                                    java.nio.charset.StandardCharsets.ISO_8859_1)
                            .toLowerCase(java.util.Locale.ROOT)
                    : "";
            boolean alreadyMarked = ct.contains("hp") && ct.contains("protected-headers");
            assertTrue(
                    java.util.Arrays.equals(original, plainPayload)
                            ? alreadyMarked
                            : Messages.isOriginalWithMark(original, plainPayload),
                    "payload is the input plus the header protection parameters");
            assertTrue(payload.length >= plainPayload.length);
            try (InputStream in = m.open()) {
                MimeOutline.parse(in, 3, 4096);
            } catch (IOException e) {
                assertTrue(e.getMessage().startsWith("MIME structure: "), "only an unparseable structure: " + e);
            }
            EncryptedInput.detect(h);
        }
    }

    /** A copied field is one field: every line break is a fold, no CR or NUL, no line over 998 octets. */
    static void assertOneField(byte[] field) {
        assertEquals('\n', field[field.length - 1]);
        int lineLength = 0;
        for (int i = 0; i < field.length; i++) {
            byte b = field[i];
            assertTrue(b != '\r' && b != 0, "no CR or NUL");
            if (b == '\n') {
                assertTrue(
                        i == field.length - 1 || field[i + 1] == ' ' || field[i + 1] == '\t', "a line break is a fold");
                lineLength = 0;
            } else {
                lineLength++;
                assertTrue(lineLength <= 998, "line within SMTP's limit");
            }
        }
    }
}
