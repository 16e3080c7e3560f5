package org.cryptforward.support;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import org.bouncycastle.bcpg.KeyIdentifier;
import org.bouncycastle.openpgp.PGPEncryptedData;
import org.bouncycastle.openpgp.PGPEncryptedDataList;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPLiteralData;
import org.bouncycastle.openpgp.PGPObjectFactory;
import org.bouncycastle.openpgp.PGPPrivateKey;
import org.bouncycastle.openpgp.PGPPublicKeyEncryptedData;
import org.bouncycastle.openpgp.PGPSecretKey;
import org.bouncycastle.openpgp.PGPSecretKeyRing;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.bouncycastle.openpgp.operator.bc.BcPBESecretKeyDecryptorBuilder;
import org.bouncycastle.openpgp.operator.bc.BcPGPDigestCalculatorProvider;
import org.bouncycastle.openpgp.operator.bc.BcPublicKeyDataDecryptorFactory;

/**
 * The test keys (made with GnuPG: RSA 3072 and Ed25519/Cv25519, no passphrase) and decryption
 * with Bouncy Castle's low-level API, independent of the production encryption code.
 */
public enum TestKeys {
    RSA("rsa@example.org", "72C75D84ABDF4D4F8C8C22836DD8DE91647066A3"),
    ED("ed@example.org", "7E80AFBEA260CB359F51FDDDA75FBAFAF87E42CF"),
    DEMO("demo@example.org", "C96C11924084AD341DD5D84653E6A2DFAB6C004D");

    public final String email;
    public final String fingerprint;

    TestKeys(String email, String fingerprint) {
        this.email = email;
        this.fingerprint = fingerprint;
    }

    public byte[] publicKey() {
        if (this == DEMO) {
            return read(Path.of("examples/demo/keyring/" + fingerprint + ".asc"));
        }
        return resource("/keys/" + name().toLowerCase() + ".pub.asc");
    }

    public byte[] secretKey() {
        return resource("/keys/" + name().toLowerCase() + ".sec.asc");
    }

    /** Writes the secret key to a file (for gpg, sq, rnp). */
    public Path secretKeyFile(Path dir) {
        try {
            Path p = dir.resolve(name().toLowerCase() + ".sec.asc");
            Files.write(p, secretKey());
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Installs the public key in a keyring directory as cryptforward stores it. */
    public void installPublicKey(Path keyringDir) {
        try {
            Files.createDirectories(keyringDir);
            Files.write(keyringDir.resolve(fingerprint + ".asc"), publicKey());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Decrypts an ASCII-armored (or binary) OpenPGP message with this key; checks integrity. */
    public byte[] decrypt(byte[] message) {
        try {
            PGPSecretKeyRing ring = new PGPSecretKeyRing(
                    PGPUtil.getDecoderStream(new ByteArrayInputStream(secretKey())), new BcKeyFingerprintCalculator());
            PGPObjectFactory f = new PGPObjectFactory(
                    PGPUtil.getDecoderStream(new ByteArrayInputStream(message)), new BcKeyFingerprintCalculator());
            Object o = f.nextObject();
            while (o != null && !(o instanceof PGPEncryptedDataList)) {
                o = f.nextObject();
            }
            if (o == null) {
                throw new AssertionError("no encrypted data in message");
            }
            PGPEncryptedDataList list = (PGPEncryptedDataList) o;
            for (Iterator<PGPEncryptedData> it = list.getEncryptedDataObjects(); it.hasNext(); ) {
                PGPEncryptedData d = it.next();
                if (!(d instanceof PGPPublicKeyEncryptedData pked)) {
                    continue;
                }
                KeyIdentifier id = pked.getKeyIdentifier();
                PGPSecretKey sk = id.isWildcard() ? null : ring.getSecretKey(id);
                if (sk == null) {
                    continue;
                }
                PGPPrivateKey pk = sk.extractPrivateKey(
                        new BcPBESecretKeyDecryptorBuilder(new BcPGPDigestCalculatorProvider()).build(new char[0]));
                InputStream clear = pked.getDataStream(new BcPublicKeyDataDecryptorFactory(pk));
                PGPObjectFactory inner = new PGPObjectFactory(clear, new BcKeyFingerprintCalculator());
                Object lit = inner.nextObject();
                if (!(lit instanceof PGPLiteralData ld)) {
                    throw new AssertionError("expected literal data, got " + lit);
                }
                byte[] plain = ld.getInputStream().readAllBytes();
                if (pked.isIntegrityProtected() && !pked.verify()) {
                    throw new AssertionError("integrity check failed");
                }
                if (!pked.isIntegrityProtected() && pked.getVersion() != 2 && !(pked.getVersion() == 6)) {
                    throw new AssertionError("message is not integrity protected");
                }
                return plain;
            }
            throw new AssertionError("message not encrypted to " + email);
        } catch (IOException | PGPException e) {
            throw new AssertionError("decryption failed: " + e, e);
        }
    }

    private static byte[] resource(String name) {
        try (InputStream in = TestKeys.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String text(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
