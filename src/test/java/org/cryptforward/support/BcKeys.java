package org.cryptforward.support;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.bcpg.SignatureSubpacketTags;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.api.KeyPairGeneratorCallback;
import org.bouncycastle.openpgp.api.MessageEncryptionMechanism;
import org.bouncycastle.openpgp.api.OpenPGPApi;
import org.bouncycastle.openpgp.api.OpenPGPKey;
import org.bouncycastle.openpgp.api.OpenPGPMessageInputStream;
import org.bouncycastle.openpgp.api.SignatureParameters;
import org.bouncycastle.openpgp.api.bc.BcOpenPGPApi;
import org.cryptforward.keys.Keyring;

/**
 * Keys made with Bouncy Castle at explicit times (so that what is meant to be valid never
 * expires), for what the Debian 12 tools cannot make — v6 (RFC 9580) keys — and for unit tests
 * that should not need external tools; and decryption with Bouncy Castle's message API,
 * independent of the production encryption code.
 */
public final class BcKeys {
    /** When these keys are made: 2020-01-01 00:00 UTC. */
    public static final Date BIRTH = Date.from(Instant.parse("2020-01-01T00:00:00Z"));

    private static final OpenPGPApi API = new BcOpenPGPApi();

    private BcKeys() {}

    /** An Ed25519 primary key with an X25519 encryption subkey; {@code version} 4 or 6; never expires. */
    public static OpenPGPKey key(int version, String userId) {
        return key(version, userId, BIRTH, null);
    }

    /** The same, made at {@code created}, expiring after {@code validFor} when not null. */
    public static OpenPGPKey key(int version, String userId, Date created, Duration validFor) {
        try {
            // Bouncy Castle makes keys that expire after five years unless told otherwise
            SignatureParameters.Callback expiry = SignatureParameters.Callback.Util.modifyHashedSubpackets(sp -> {
                sp.removePacketsOfType(SignatureSubpacketTags.KEY_EXPIRE_TIME);
                if (validFor != null) {
                    sp.setKeyExpirationTime(true, validFor.toSeconds());
                }
                return sp;
            });
            return API.generateKey(version, created)
                    .withPrimaryKey(KeyPairGeneratorCallback.Util.primaryKey(), expiry)
                    .addUserId(userId)
                    .addEncryptionSubkey(KeyPairGeneratorCallback.Util.encryptionKey(), expiry)
                    .build();
        } catch (PGPException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A key without any encryption subkey. */
    public static OpenPGPKey signOnly(int version, String userId) {
        try {
            SignatureParameters.Callback never = SignatureParameters.Callback.Util.modifyHashedSubpackets(sp -> {
                sp.removePacketsOfType(SignatureSubpacketTags.KEY_EXPIRE_TIME);
                return sp;
            });
            return API.generateKey(version, BIRTH)
                    .withPrimaryKey(KeyPairGeneratorCallback.Util.primaryKey(), never)
                    .addUserId(userId)
                    .addSigningSubkey(KeyPairGeneratorCallback.Util.signingKey(), never, null)
                    .build();
        } catch (PGPException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The public certificate, armored as cryptforward stores it. */
    public static byte[] publicKey(OpenPGPKey key) {
        try {
            return Keyring.armor(key.toCertificate());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static byte[] secretKey(OpenPGPKey key) {
        try {
            return key.toAsciiArmoredString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Path write(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What a decryption found: the plaintext and how it was encrypted. */
    public record Decrypted(byte[] plaintext, MessageEncryptionMechanism mechanism) {}

    /** Decrypts with {@code key}; fails the test if that is not possible or the integrity check fails. */
    public static Decrypted decrypt(OpenPGPKey key, byte[] message) {
        try (InputStream in = new ByteArrayInputStream(message)) {
            OpenPGPMessageInputStream m =
                    API.decryptAndOrVerifyMessage().addDecryptionKey(key).process(in);
            byte[] plain = m.readAllBytes();
            m.close();
            return new Decrypted(plain, m.getResult().getEncryptionMethod());
        } catch (IOException | PGPException e) {
            throw new AssertionError("decryption with " + key.getKeyIdentifier() + " failed: " + e, e);
        }
    }
}
