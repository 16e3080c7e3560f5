package org.cryptforward.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPPublicKeyRing;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.PGPSignatureList;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.bc.BcPGPObjectFactory;
import org.bouncycastle.openpgp.operator.PGPContentVerifierBuilderProvider;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.bouncycastle.openpgp.operator.bc.BcPGPContentVerifierBuilderProvider;
import org.cryptforward.support.BcKeys;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;

/**
 * The table of verdicts must never answer differently from Bouncy Castle's own verification: not
 * for a changed byte anywhere in the signature (hashed subpackets, trailer, value), not for
 * another user ID, not for another key of the same algorithm, in whichever order the genuine and
 * the changed ones are seen; and the genuine one is answered from the table the second time.
 */
class VerdictsTest {
    static PGPPublicKeyRing ring(byte[] armored) throws IOException {
        return new PGPPublicKeyRing(
                PGPUtil.getDecoderStream(new ByteArrayInputStream(armored)), new BcKeyFingerprintCalculator());
    }

    static PGPSignature parse(byte[] encoded) {
        try {
            Object o = new BcPGPObjectFactory(encoded).nextObject();
            return o instanceof PGPSignatureList l ? l.get(0) : null;
        } catch (IOException | RuntimeException e) {
            return null; // a change that breaks the packet itself
        }
    }

    static boolean verify(PGPContentVerifierBuilderProvider p, PGPSignature s, byte[] uid, PGPPublicKey key) {
        try {
            s.init(p, key);
            return s.verifyCertification(uid, key);
        } catch (PGPException | RuntimeException e) {
            return false;
        }
    }

    @Test
    void everyChangeGetsBouncyCastlesOwnVerdictAndTheGenuineOneComesFromTheTable() throws Exception {
        BcPGPContentVerifierBuilderProvider own = new BcPGPContentVerifierBuilderProvider();
        // fresh keys (v4 and v6, Ed25519): nothing of them can be in the table yet; and the test keys
        List<byte[]> keys = List.of(
                BcKeys.publicKey(BcKeys.key(4, "fresh4@example.org")),
                BcKeys.publicKey(BcKeys.key(6, "fresh6@example.org")),
                TestKeys.RSA.publicKey(),
                TestKeys.ED.publicKey());
        for (byte[] k : keys) {
            PGPPublicKey primary = ring(k).getPublicKey();
            byte[] uid = primary.getRawUserIDs().next();
            byte[] encoded = primary.getSignaturesForID(uid).next().getEncoded();

            List<PGPSignature> changed = new ArrayList<>();
            for (int i = 2; i < encoded.length; i++) {
                byte[] b = encoded.clone();
                b[i] ^= 0x01;
                PGPSignature s = parse(b);
                if (s != null) {
                    changed.add(s);
                }
            }
            assertTrue(changed.size() > encoded.length / 2, "changed signatures to try: " + changed.size());
            for (PGPSignature s : changed) {
                assertEquals(
                        verify(own, s, uid, primary),
                        verify(Verdicts.VERIFIERS, s, uid, primary),
                        "before the genuine one");
            }
            assertTrue(verify(Verdicts.VERIFIERS, parse(encoded), uid, primary), "the genuine one verifies");
            long verified = Verdicts.verifications();
            assertTrue(verify(Verdicts.VERIFIERS, parse(encoded), uid, primary), "and again");
            assertEquals(verified, Verdicts.verifications(), "from the table: not verified again");
            for (PGPSignature s : changed) {
                assertEquals(
                        verify(own, s, uid, primary),
                        verify(Verdicts.VERIFIERS, s, uid, primary),
                        "after the genuine one");
            }
            // the genuine signature over another user ID
            byte[] other = (new String(uid, StandardCharsets.UTF_8) + "x").getBytes(StandardCharsets.UTF_8);
            assertFalse(verify(own, parse(encoded), other, primary));
            assertFalse(verify(Verdicts.VERIFIERS, parse(encoded), other, primary), "a user ID it does not sign");
        }
        // a key of the same algorithm that did not make it (Ed25519 both)
        PGPPublicKey ed = ring(TestKeys.ED.publicKey()).getPublicKey();
        PGPPublicKey demo = ring(TestKeys.DEMO.publicKey()).getPublicKey();
        assertEquals(ed.getAlgorithm(), demo.getAlgorithm());
        byte[] uid = ed.getRawUserIDs().next();
        PGPSignature genuine = ed.getSignaturesForID(uid).next();
        assertTrue(verify(Verdicts.VERIFIERS, parse(genuine.getEncoded()), uid, ed));
        long verified = Verdicts.verifications();
        assertFalse(verify(Verdicts.VERIFIERS, parse(genuine.getEncoded()), uid, demo), "a key that did not sign it");
        assertEquals(verified + 1, Verdicts.verifications(), "verified, not taken from the genuine key's verdict");
    }

    @Test
    void aKeysMaterialIsJudgedOncePerKeyPacket() throws Exception {
        PGPPublicKey fresh = null;
        for (Iterator<PGPPublicKey> it = ring(BcKeys.publicKey(BcKeys.key(4, "material@example.org")))
                        .getPublicKeys();
                it.hasNext(); ) {
            PGPPublicKey key = it.next();
            if (key.isEncryptionKey()) {
                fresh = key;
            }
        }
        PGPPublicKey key = fresh;
        AtomicInteger judged = new AtomicInteger();
        assertNull(Verdicts.material(key, () -> {
            judged.incrementAndGet();
            return null;
        }));
        assertEquals(1, judged.get(), "a new key packet is judged");
        assertNull(Verdicts.material(key, () -> {
            judged.incrementAndGet();
            return "never asked";
        }));
        assertEquals(1, judged.get(), "remembered: not judged again");
        // another fresh key packet, with a verdict of its own (nothing else uses this key)
        PGPPublicKey other =
                ring(BcKeys.publicKey(BcKeys.key(4, "other@example.org"))).getPublicKey();
        assertEquals("bad", Verdicts.material(other, () -> "bad"), "another key packet is judged on its own");
        assertEquals("bad", Verdicts.material(other, () -> null), "and its verdict kept");
        assertNull(Verdicts.material(key, () -> "never asked"), "the first one's unchanged");
        assertTrue(Verdicts.size() <= org.cryptforward.core.Limits.DEFAULT.verdictCacheEntries() * 2);
    }
}
