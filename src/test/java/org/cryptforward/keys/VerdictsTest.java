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
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;

/**
 * The table of verdicts must never answer differently from Bouncy Castle's own verification: not
 * for a changed user ID, not for a changed signature, in whichever order the genuine and the
 * changed one are seen.
 */
class VerdictsTest {
    static PGPPublicKeyRing ring(TestKeys k) throws IOException {
        return new PGPPublicKeyRing(
                PGPUtil.getDecoderStream(new ByteArrayInputStream(k.publicKey())), new BcKeyFingerprintCalculator());
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
    void everyChangeOfTheSignatureOrTheUserIdGetsBouncyCastlesOwnVerdictInEitherOrder() throws Exception {
        for (TestKeys k : List.of(TestKeys.ED, TestKeys.RSA)) {
            PGPPublicKey primary = ring(k).getPublicKey();
            byte[] uid = primary.getRawUserIDs().next();
            PGPSignature genuine = primary.getSignaturesForID(uid).next();
            byte[] encoded = genuine.getEncoded();
            BcPGPContentVerifierBuilderProvider own = new BcPGPContentVerifierBuilderProvider();

            List<PGPSignature> changed = new ArrayList<>();
            for (int i = encoded.length - 40; i < encoded.length; i++) {
                byte[] b = encoded.clone();
                b[i] ^= 0x01;
                PGPSignature s = parse(b);
                if (s != null) {
                    changed.add(s);
                }
            }
            assertTrue(changed.size() > 20, "changed signatures to try");
            // first the changed ones, then the genuine one, then the changed ones again
            for (PGPSignature s : changed) {
                assertEquals(verify(own, s, uid, primary), verify(Verdicts.VERIFIERS, s, uid, primary));
            }
            assertTrue(verify(Verdicts.VERIFIERS, parse(encoded), uid, primary), "the genuine one verifies");
            assertTrue(verify(Verdicts.VERIFIERS, parse(encoded), uid, primary), "and again, from the table");
            for (PGPSignature s : changed) {
                assertFalse(verify(Verdicts.VERIFIERS, s, uid, primary), "a changed signature never verifies");
            }
            // the genuine signature over another user ID
            byte[] other = (new String(uid, StandardCharsets.UTF_8) + "x").getBytes(StandardCharsets.UTF_8);
            assertFalse(verify(own, parse(encoded), other, primary));
            assertFalse(verify(Verdicts.VERIFIERS, parse(encoded), other, primary), "a user ID it does not sign");
            // and with another key
            PGPPublicKey stranger =
                    ring(k == TestKeys.ED ? TestKeys.RSA : TestKeys.ED).getPublicKey();
            assertFalse(verify(Verdicts.VERIFIERS, parse(encoded), uid, stranger), "a key that did not sign it");
        }
    }

    @Test
    void aKeysMaterialIsJudgedOncePerKeyPacket() throws Exception {
        PGPPublicKey ed = null;
        for (Iterator<PGPPublicKey> it = ring(TestKeys.ED).getPublicKeys(); it.hasNext(); ) {
            PGPPublicKey key = it.next();
            if (key.isEncryptionKey()) {
                ed = key;
            }
        }
        PGPPublicKey key = ed;
        AtomicInteger judged = new AtomicInteger();
        String first = Verdicts.material(key, () -> {
            judged.incrementAndGet();
            return null;
        });
        assertNull(first, "the test key can be encrypted to (judged here, or by an earlier delivery in this JVM)");
        int before = judged.get();
        assertNull(Verdicts.material(key, () -> {
            judged.incrementAndGet();
            return "never asked";
        }));
        assertEquals(before, judged.get(), "remembered: not judged again");
        // a key packet of its own (the RSA primary key, which is never an encryption key, so never tried)
        PGPPublicKey rsa = ring(TestKeys.RSA).getPublicKey();
        assertEquals("bad", Verdicts.material(rsa, () -> "bad"), "another key packet is judged on its own");
        assertEquals("bad", Verdicts.material(rsa, () -> null), "and its verdict kept");
        assertTrue(Verdicts.size() <= org.cryptforward.core.Limits.DEFAULT.verdictCacheEntries() * 2);
    }
}
