package org.cryptforward.crypto;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.bcpg.ECDHPublicBCPGKey;
import org.bouncycastle.bcpg.HashAlgorithmTags;
import org.bouncycastle.bcpg.PublicKeyAlgorithmTags;
import org.bouncycastle.bcpg.SymmetricKeyAlgorithmTags;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.api.OpenPGPKey;
import org.cryptforward.keys.KeyIds;
import org.cryptforward.support.BcKeys;
import org.cryptforward.support.Splice;
import org.junit.jupiter.api.Test;

/**
 * A recipient key whose material cannot be encrypted to (here a P-256 point off the curve, which
 * parses but fails at encryption) makes {@link Encryptor#open} fail with {@link
 * Encryptor.KeyFailure}, naming that key's fingerprint, before a byte is written; the good key
 * beside it still works alone.
 */
class EncryptorKeyFailureTest {
    @Test
    void aBadRecipientKeyIsNamedAndNothingIsWritten() throws Exception {
        OpenPGPKey alice = BcKeys.key(4, "Alice <alice@example.org>");
        Iterator<PGPPublicKey> keys =
                alice.toCertificate().getPGPPublicKeyRing().getPublicKeys();
        keys.next();
        PGPPublicKey good = keys.next();
        byte[] point = new byte[65];
        point[0] = 4;
        Arrays.fill(point, 1, 65, (byte) 0x11);
        PGPPublicKey bad = Splice.subkey(
                PublicKeyAlgorithmTags.ECDH,
                new ECDHPublicBCPGKey(
                        new ASN1ObjectIdentifier("1.2.840.10045.3.1.7"),
                        new BigInteger(1, point),
                        HashAlgorithmTags.SHA256,
                        SymmetricKeyAlgorithmTags.AES_128),
                BcKeys.BIRTH);

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Encryptor.KeyFailure f = assertThrows(
                Encryptor.KeyFailure.class,
                () -> new Encryptor(new SecureRandom()).open(out, List.of(good, bad), Map.of()));
        assertTrue(
                f.getMessage().startsWith("cannot encrypt to key " + KeyIds.hex(bad.getFingerprint()) + ": "),
                f.getMessage());
        assertEquals(0, out.size(), "nothing written");

        try (OutputStream enc = new Encryptor(new SecureRandom()).open(out, List.of(good), Map.of())) {
            enc.write("plain".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
        byte[] plain = BcKeys.decrypt(alice, out.toByteArray()).plaintext();
        assertEquals("plain", new String(plain, java.nio.charset.StandardCharsets.US_ASCII));
    }
}
