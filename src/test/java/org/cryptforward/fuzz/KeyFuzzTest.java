package org.cryptforward.fuzz;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Date;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.cryptforward.keys.KeyDescription;
import org.cryptforward.keys.KeyImporter;
import org.cryptforward.keys.KeyStatus;
import org.cryptforward.keys.KeyUsability;
import org.cryptforward.keys.Keyring;

/**
 * Coverage-guided fuzzing of the key reader behind {@code key import} and every keyring read: any
 * input yields either keys that can be judged, described and written back (no exception from
 * the judgement, a reason whenever a key is unusable) or a one-line refusal that names the input,
 * never another exception. Seeds: a gpg Ed25519 key armored, an RSA key binary, two armor blocks.
 */
class KeyFuzzTest {
    @FuzzTest(maxDuration = "10m")
    void read(byte[] data) throws IOException {
        KeyImporter.Parsed parsed;
        try {
            parsed = KeyImporter.parse("fuzz input", new ByteArrayInputStream(data));
        } catch (KeyImporter.KeyImportException e) {
            assertTrue(e.getMessage().startsWith("fuzz input"), e::getMessage);
            assertFalse(e.getMessage().contains("\n"), "one line");
            assertFalse(
                    e.getMessage().contains("@") && e.getMessage().matches(".*\\.[A-Za-z]+@[0-9a-f]+.*"),
                    "no object identity");
            return;
        }
        Date now = new Date(1_700_000_000_000L);
        for (OpenPGPCertificate c : parsed.certificates()) {
            KeyStatus s = KeyUsability.evaluate(c, now);
            assertTrue(s.usable() || s.reason().isPresent(), "an unusable key says why");
            KeyDescription.of(c, now).lines(true);
            Keyring.armor(c);
        }
    }
}
