package org.cryptforward.support;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.bouncycastle.openpgp.PGPLiteralData;
import org.bouncycastle.openpgp.PGPLiteralDataGenerator;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPPublicKeyRing;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.cryptforward.crypto.Encryptor;

/**
 * Real ciphertexts for the tests of the already-encrypted path: OpenPGP messages encrypted by
 * Bouncy Castle to a test key (decryptable with {@link TestKeys#decrypt}), and S/MIME
 * EnvelopedData / AuthEnvelopedData made by {@code openssl cms} to a throw-away certificate
 * (decryptable with {@link Smime#decrypt}). Also their look-alikes: a signed-only message under
 * the same armor, signed-data under the S/MIME label.
 */
public final class Ciphertexts {
    private Ciphertexts() {}

    /** The encryption subkeys of a test key. */
    public static List<PGPPublicKey> encryptionKeys(TestKeys key) {
        try {
            PGPPublicKeyRing ring = new PGPPublicKeyRing(
                    PGPUtil.getDecoderStream(new ByteArrayInputStream(key.publicKey())),
                    new BcKeyFingerprintCalculator());
            List<PGPPublicKey> keys = new ArrayList<>();
            for (Iterator<PGPPublicKey> it = ring.getPublicKeys(); it.hasNext(); ) {
                PGPPublicKey k = it.next();
                if (k.isEncryptionKey() && !k.isMasterKey()) {
                    keys.add(k);
                }
            }
            return keys;
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** The armored OpenPGP encryption of {@code plain} to {@code key}, as Encryptor makes it. */
    public static byte[] pgp(TestKeys key, byte[] plain) {
        try {
            List<PGPPublicKey> keys = encryptionKeys(key);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (OutputStream enc = new Encryptor(new SecureRandom()).open(out, keys, Map.of())) {
                enc.write(plain);
            }
            return out.toByteArray();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** An armored "PGP MESSAGE" that is not encrypted: a literal data packet, the plaintext in it. */
    public static byte[] pgpLiteral(byte[] plain) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (ArmoredOutputStream armor =
                            ArmoredOutputStream.builder().clearHeaders().build(out);
                    OutputStream lit = new PGPLiteralDataGenerator()
                            .open(armor, PGPLiteralData.BINARY, "", plain.length, new Date())) {
                lit.write(plain);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** S/MIME by openssl: a throw-away certificate and what it encrypts and signs. */
    public static final class Smime {
        private final Path dir;

        public Smime(Path dir) {
            this.dir = dir;
            try {
                Files.createDirectories(dir);
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            run(
                    null,
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "30",
                    "-subj",
                    "/CN=cf-test",
                    "-keyout",
                    dir.resolve("key.pem").toString(),
                    "-out",
                    dir.resolve("cert.pem").toString());
        }

        /** EnvelopedData (AES-256-CBC) or, with {@code auth}, AuthEnvelopedData (AES-256-GCM), as DER. */
        public byte[] encrypt(byte[] plain, boolean auth) {
            return run(
                    plain,
                    "openssl",
                    "cms",
                    "-encrypt",
                    "-binary",
                    auth ? "-aes-256-gcm" : "-aes256",
                    "-outform",
                    "DER",
                    dir.resolve("cert.pem").toString());
        }

        /** Opaque signed-data, as DER: the plaintext is inside, readable. */
        public byte[] sign(byte[] plain) {
            return run(
                    plain,
                    "openssl",
                    "cms",
                    "-sign",
                    "-binary",
                    "-nodetach",
                    "-outform",
                    "DER",
                    "-signer",
                    dir.resolve("cert.pem").toString(),
                    "-inkey",
                    dir.resolve("key.pem").toString());
        }

        public byte[] decrypt(byte[] der) {
            return run(
                    der,
                    "openssl",
                    "cms",
                    "-decrypt",
                    "-binary",
                    "-inform",
                    "DER",
                    "-inkey",
                    dir.resolve("key.pem").toString(),
                    "-recip",
                    dir.resolve("cert.pem").toString());
        }

        private static byte[] run(byte[] stdin, String... command) {
            try {
                Process p = new ProcessBuilder(command)
                        .redirectError(ProcessBuilder.Redirect.DISCARD)
                        .start();
                Thread feeder = new Thread(() -> {
                    try (OutputStream o = p.getOutputStream()) {
                        if (stdin != null) {
                            o.write(stdin);
                        }
                    } catch (IOException e) {
                        // the tool's exit status tells
                    }
                });
                feeder.start();
                byte[] out = p.getInputStream().readAllBytes();
                feeder.join();
                if (p.waitFor() != 0) {
                    throw new AssertionError(String.join(" ", command) + " failed");
                }
                return out;
            } catch (IOException | InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }
}
