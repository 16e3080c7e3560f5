package org.cryptforward.crypto;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.security.Provider;
import java.security.SecureRandom;
import java.security.Security;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.bouncycastle.bcpg.AEADAlgorithmTags;
import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.bouncycastle.bcpg.SymmetricKeyAlgorithmTags;
import org.bouncycastle.openpgp.PGPEncryptedDataGenerator;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPLiteralData;
import org.bouncycastle.openpgp.PGPLiteralDataGenerator;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.operator.PGPDataEncryptorBuilder;
import org.bouncycastle.openpgp.operator.bc.BcPGPDataEncryptorBuilder;
import org.bouncycastle.openpgp.operator.bc.BcPublicKeyKeyEncryptionMethodGenerator;
import org.bouncycastle.openpgp.operator.jcajce.JcePGPDataEncryptorBuilder;
import org.cryptforward.core.Limits;

/**
 * OpenPGP encryption of a byte stream to a set of public keys, ASCII-armored. Bytes in, bytes
 * out: it knows nothing of MIME.
 *
 * <p>The data is AES-256 in an integrity-protected packet. For v4 keys that is SEIPD version 1
 * (MDC), which GnuPG, Sequoia and RNP of every current release read; SEIPD version 2 (AEAD, OCB,
 * with v6 PKESKs) is used only when every recipient key is a v6 key. Keys that merely advertise
 * AEAD support still get version 1, because the GnuPG 2.2, Sequoia 0.27 and RNP 0.16 that Debian 12
 * ships cannot read version 2.
 *
 * <p>A mix of v4 and v6 recipients gets SEIPD version 1 with a version 3 PKESK for every key, the
 * v6 ones included (addressed by their 64-bit key ID). RFC 9580 ties the PKESK version to the SEIPD
 * version (v3 PKESK only before v1 SEIPD, v6 PKESK only before v2 SEIPD, section 5.1) and a message
 * has one SEIPD packet, so one version must serve everyone; v3 PKESKs to v6 keys are allowed (the
 * key ID is defined for v6 keys, and X25519/X448 v3 PKESKs carry the AES algorithm in the clear,
 * section 5.1.6), and every RFC 9580 implementation must read v1 SEIPD, while the v4 recipients'
 * tools cannot read v2. So the one format all recipients can read wins.
 *
 * <p>No compression: mail bodies are mostly base64 or already compressed, and compression leaks
 * length information. The armor carries the CRC-24 line that GnuPG 2.2 needs — except around a
 * v2 SEIPD message, where RFC 9580 (section 6.1) forbids it — and no Version header.
 *
 * <p>The bulk cipher of v1 SEIPD runs on the JDK's SunJCE provider (AES-NI), the public-key
 * operations on Bouncy Castle's lightweight API; v2 SEIPD (HKDF, OCB, which JDK 17 lacks) runs
 * entirely on the lightweight API. No JCA provider is registered.
 *
 * <p>When a recipient key cannot be encrypted to (bad key material that slipped past the keyring's
 * checks), {@link #open} throws {@link KeyFailure}, naming the key, before anything is written.
 */
public final class Encryptor {
    private static final int BUFFER = Limits.DEFAULT.ioBufferBytes();

    private final SecureRandom random;

    public Encryptor(SecureRandom random) {
        this.random = random;
    }

    /**
     * Opens a stream; what is written to it is encrypted for {@code keys} and written as armor to
     * {@code out}. Closing the returned stream finishes the OpenPGP message and the armor but
     * leaves {@code out} open.
     *
     * @param armorHeaders extra armor headers (e.g. {@code Charset}); may be empty
     */
    public OutputStream open(OutputStream out, List<PGPPublicKey> keys, Map<String, String> armorHeaders)
            throws IOException, PGPException {
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("no recipient keys");
        }
        boolean allV6 = keys.stream().allMatch(k -> k.getVersion() == 6);
        // RFC 9580, section 6.1: armor around a v2 SEIPD message MUST NOT carry the CRC-24 line;
        // GnuPG 2.2 wants it around everything else.
        ArmoredOutputStream.Builder ab =
                ArmoredOutputStream.builder().clearHeaders().enableCRC(!allV6);
        armorHeaders.forEach((k, v) -> {
            if (k.equals(ArmoredOutputStream.CHARSET_HDR)) {
                ab.setCharset(v);
            } else {
                ab.addComment(k + ": " + v);
            }
        });
        ArmoredOutputStream armor = ab.build(new Shield(out));

        PGPDataEncryptorBuilder data;
        if (allV6) {
            // v2 SEIPD needs HKDF and OCB, which the JDK 17 provider lacks: Bouncy Castle's own
            data = new BcPGPDataEncryptorBuilder(SymmetricKeyAlgorithmTags.AES_256)
                    .setWithAEAD(AEADAlgorithmTags.OCB, 6)
                    .setUseV6AEAD()
                    .setSecureRandom(random);
        } else {
            data = new JcePGPDataEncryptorBuilder(SymmetricKeyAlgorithmTags.AES_256)
                    .setProvider(sunJce())
                    .setWithIntegrityPacket(true)
                    .setSecureRandom(random);
        }
        PGPEncryptedDataGenerator generator = new PGPEncryptedDataGenerator(data, false);
        for (PGPPublicKey k : keys) {
            generator.addMethod(new BcPublicKeyKeyEncryptionMethodGenerator(k).setSecureRandom(random));
        }
        OutputStream encrypted;
        try {
            encrypted = generator.open(armor, new byte[BUFFER]);
        } catch (PGPException | RuntimeException e) {
            // the session key could not be encrypted to one of the keys: say which, so that the
            // failure is seen as the key's (its material), not the relay's or the message's
            throw new KeyFailure(culprit(keys, data), e);
        }
        PGPLiteralDataGenerator literal = new PGPLiteralDataGenerator();
        OutputStream plain = literal.open(encrypted, PGPLiteralData.BINARY, "", new Date(0), new byte[BUFFER]);
        return new FilterOutputStream(plain) {
            private boolean closed;

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                if (closed) {
                    return;
                }
                closed = true;
                plain.close();
                literal.close();
                encrypted.close();
                generator.close();
                armor.close();
            }
        };
    }

    /**
     * Encrypting to a recipient key failed: the key's material is unusable. The message names the
     * key (its fingerprint) and the library's reason.
     */
    public static final class KeyFailure extends PGPException {
        private static final long serialVersionUID = 1L;

        KeyFailure(String fingerprint, Exception cause) {
            super("cannot encrypt to key " + fingerprint + ": " + reason(cause), cause);
        }

        private static String reason(Throwable e) {
            String m = e.getMessage();
            return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
        }
    }

    /** The fingerprint of the first key that cannot be encrypted to on its own ("one of the keys" if each can). */
    private String culprit(List<PGPPublicKey> keys, PGPDataEncryptorBuilder data) {
        for (PGPPublicKey k : keys) {
            try {
                PGPEncryptedDataGenerator one = new PGPEncryptedDataGenerator(data, false);
                one.addMethod(new BcPublicKeyKeyEncryptionMethodGenerator(k).setSecureRandom(random));
                one.open(OutputStream.nullOutputStream(), new byte[64]).close();
            } catch (PGPException | IOException | RuntimeException e) {
                return org.bouncycastle.util.encoders.Hex.toHexString(k.getFingerprint())
                        .toUpperCase(java.util.Locale.ROOT);
            }
        }
        return "(one of the recipient keys)";
    }

    private static Provider sunJce() {
        Provider p = Security.getProvider("SunJCE");
        if (p == null) {
            throw new IllegalStateException("the JDK's SunJCE provider is missing");
        }
        return p;
    }

    /**
     * Between the armor and the stream the rest of the MIME goes to: collects the armor's
     * byte-at-a-time writes into chunks (the SMTP stream below is synchronized per call), and keeps
     * the armor's close() from closing that stream.
     */
    private static final class Shield extends OutputStream {
        private final OutputStream out;
        private final byte[] buf = new byte[BUFFER];
        private int n;

        Shield(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            if (n == buf.length) {
                drain();
            }
            buf[n++] = (byte) b;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (len >= buf.length - n) {
                drain();
                if (len >= buf.length) {
                    out.write(b, off, len);
                    return;
                }
            }
            System.arraycopy(b, off, buf, n, len);
            n += len;
        }

        private void drain() throws IOException {
            if (n > 0) {
                out.write(buf, 0, n);
                n = 0;
            }
        }

        @Override
        public void flush() throws IOException {
            drain();
            out.flush();
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
