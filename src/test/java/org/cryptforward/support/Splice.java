package org.cryptforward.support;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.function.Consumer;
import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.bouncycastle.bcpg.BCPGKey;
import org.bouncycastle.bcpg.HashAlgorithmTags;
import org.bouncycastle.bcpg.PublicKeyPacket;
import org.bouncycastle.bcpg.PublicSubkeyPacket;
import org.bouncycastle.bcpg.sig.KeyFlags;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPPrivateKey;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.PGPSignatureGenerator;
import org.bouncycastle.openpgp.PGPSignatureSubpacketGenerator;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.api.OpenPGPKey;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.bouncycastle.openpgp.operator.bc.BcPGPContentSignerBuilder;

/**
 * Packet splicing for crafted and damaged keys: an OpenPGP packet stream as a list of
 * {@link Packet}s (tag and body) to cut, insert, reorder and damage, written back with
 * new-format headers, plus signatures made with a real key's secret primary key over whatever
 * the test needs to bind (a user ID given as raw bytes, a subkey with hand-made key material),
 * at chosen times, with chosen subpackets. What gpg would refuse to make, this makes.
 */
public final class Splice {
    public static final int SIGNATURE = 2;
    public static final int SECRET_KEY = 5;
    public static final int PUBLIC_KEY = 6;
    public static final int SECRET_SUBKEY = 7;
    public static final int USER_ID = 13;
    public static final int PUBLIC_SUBKEY = 14;

    private static final BcKeyFingerprintCalculator FPR = new BcKeyFingerprintCalculator();

    private Splice() {}

    /** One packet. */
    public record Packet(int tag, byte[] body) {
        public byte[] encoded() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(0xC0 | tag);
            int n = body.length;
            if (n < 192) {
                out.write(n);
            } else if (n < 8384) {
                out.write(((n - 192) >> 8) + 192);
                out.write((n - 192) & 0xff);
            } else {
                out.write(255);
                out.write(n >>> 24);
                out.write(n >>> 16);
                out.write(n >>> 8);
                out.write(n);
            }
            out.writeBytes(body);
            return out.toByteArray();
        }
    }

    /** The packets of an armored or binary key (or anything else in OpenPGP packets). */
    public static List<Packet> packets(byte[] key) {
        try (InputStream in = PGPUtil.getDecoderStream(new ByteArrayInputStream(key))) {
            List<Packet> out = new ArrayList<>();
            int hdr;
            while ((hdr = in.read()) >= 0) {
                int tag;
                long len;
                if ((hdr & 0x40) != 0) {
                    tag = hdr & 0x3f;
                    int l1 = in.read();
                    if (l1 < 192) {
                        len = l1;
                    } else if (l1 < 224) {
                        len = ((l1 - 192) << 8) + in.read() + 192;
                    } else if (l1 == 255) {
                        len = ((long) in.read() << 24) | (in.read() << 16) | (in.read() << 8) | in.read();
                    } else {
                        throw new IllegalArgumentException("partial lengths are not expected in a key");
                    }
                } else {
                    tag = (hdr >> 2) & 0xf;
                    len = switch (hdr & 3) {
                        case 0 -> in.read();
                        case 1 -> (in.read() << 8) | in.read();
                        case 2 -> ((long) in.read() << 24) | (in.read() << 16) | (in.read() << 8) | in.read();
                        default -> throw new IllegalArgumentException("indeterminate length");
                    };
                }
                out.add(new Packet(tag, in.readNBytes((int) len)));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The packets written back, binary. */
    public static byte[] binary(List<Packet> packets) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        packets.forEach(p -> out.writeBytes(p.encoded()));
        return out.toByteArray();
    }

    /** The packets written back as a public key block, with the CRC line. */
    public static byte[] armored(List<Packet> packets) {
        return armor(binary(packets));
    }

    public static byte[] armor(byte[] binary) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ArmoredOutputStream aos =
                ArmoredOutputStream.builder().clearHeaders().enableCRC(true).build(out)) {
            aos.write(binary);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** The index of the first packet with this tag, at or after {@code from}; -1 if none. */
    public static int indexOf(List<Packet> packets, int tag, int from) {
        for (int i = from; i < packets.size(); i++) {
            if (packets.get(i).tag() == tag) {
                return i;
            }
        }
        return -1;
    }

    /** A copy of a signature packet with its last byte changed: the same claims, an invalid signature. */
    public static Packet damaged(Packet signature) {
        byte[] b = signature.body().clone();
        b[b.length - 1] ^= 0x55;
        b[b.length - 2] ^= 0x5A;
        return new Packet(signature.tag(), b);
    }

    public static Packet packet(PGPSignature sig) {
        try {
            List<Packet> p = packets(sig.getEncoded());
            return p.get(0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Packet userId(byte[] raw) {
        return new Packet(USER_ID, raw);
    }

    public static Packet subkeyPacket(PGPPublicKey sub) {
        try {
            return packets(sub.getPublicKeyPacket().getEncoded()).get(0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A v4 subkey with hand-made material ({@code RSAPublicBCPGKey}, {@code ECDHPublicBCPGKey}, ...). */
    public static PGPPublicKey subkey(int algorithm, BCPGKey material, Date created) {
        try {
            return new PGPPublicKey(
                    new PublicSubkeyPacket(PublicKeyPacket.VERSION_4, algorithm, created, material), FPR);
        } catch (PGPException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The primary key's private key (BcKeys keys have no passphrase). */
    public static PGPPrivateKey primaryPrivate(OpenPGPKey key) {
        try {
            return key.getPrimarySecretKey().unlock().getKeyPair().getPrivateKey();
        } catch (PGPException e) {
            throw new IllegalStateException(e);
        }
    }

    private static PGPSignatureGenerator generator(
            OpenPGPKey key, int type, Date at, Consumer<PGPSignatureSubpacketGenerator> hashed) {
        try {
            PGPPublicKey primary = key.getPrimaryKey().getPGPPublicKey();
            PGPSignatureGenerator gen = new PGPSignatureGenerator(
                    new BcPGPContentSignerBuilder(primary.getAlgorithm(), HashAlgorithmTags.SHA256), primary);
            gen.init(type, primaryPrivate(key));
            PGPSignatureSubpacketGenerator sp = new PGPSignatureSubpacketGenerator();
            sp.setSignatureCreationTime(true, at);
            sp.setIssuerFingerprint(false, primary);
            hashed.accept(sp);
            gen.setHashedSubpackets(sp.generate());
            return gen;
        } catch (PGPException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A binding signature by {@code key}'s primary over {@code sub}, with the encryption flags, made at {@code at}. */
    public static PGPSignature encryptionBinding(OpenPGPKey key, PGPPublicKey sub, Date at) {
        return binding(key, sub, at, sp -> sp.setKeyFlags(true, KeyFlags.ENCRYPT_COMMS | KeyFlags.ENCRYPT_STORAGE));
    }

    public static PGPSignature binding(
            OpenPGPKey key, PGPPublicKey sub, Date at, Consumer<PGPSignatureSubpacketGenerator> hashed) {
        try {
            return generator(key, PGPSignature.SUBKEY_BINDING, at, hashed)
                    .generateCertification(key.getPrimaryKey().getPGPPublicKey(), sub);
        } catch (PGPException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A signature of {@code type} by {@code key}'s primary over itself (direct-key, key revocation). */
    public static PGPSignature direct(
            OpenPGPKey key, int type, Date at, Consumer<PGPSignatureSubpacketGenerator> hashed) {
        try {
            return generator(key, type, at, hashed)
                    .generateCertification(key.getPrimaryKey().getPGPPublicKey());
        } catch (PGPException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A subkey revocation by {@code key}'s primary. */
    public static PGPSignature subkeyRevocation(OpenPGPKey key, PGPPublicKey sub, Date at) {
        try {
            return generator(key, PGPSignature.SUBKEY_REVOCATION, at, sp -> {})
                    .generateCertification(key.getPrimaryKey().getPGPPublicKey(), sub);
        } catch (PGPException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A certification of {@code type} by {@code signer}'s primary over the user ID {@code raw} (any
     * bytes, valid UTF-8 or not) on {@code target}'s primary key: a self-signature when signer
     * and target are the same key, a third party's certification otherwise.
     */
    public static PGPSignature certification(
            OpenPGPKey signer,
            PGPPublicKey target,
            byte[] raw,
            int type,
            Date at,
            Consumer<PGPSignatureSubpacketGenerator> hashed) {
        try {
            PGPSignatureGenerator gen = generator(signer, type, at, hashed);
            byte[] keyBody = target.getPublicKeyPacket().getEncodedContents();
            gen.update((byte) 0x99);
            gen.update((byte) (keyBody.length >> 8));
            gen.update((byte) keyBody.length);
            gen.update(keyBody);
            gen.update((byte) 0xB4);
            gen.update((byte) (raw.length >>> 24));
            gen.update((byte) (raw.length >>> 16));
            gen.update((byte) (raw.length >>> 8));
            gen.update((byte) raw.length);
            gen.update(raw);
            return gen.generate();
        } catch (PGPException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A real RSA modulus of {@code bits} bits: the product of two primes (from a seeded generator, so that it is the same each run). */
    public static BigInteger rsaModulus(int bits, long seed) {
        return BigInteger.probablePrime(bits / 2, new java.util.Random(seed))
                .multiply(BigInteger.probablePrime(bits - bits / 2, new java.util.Random(seed + 1)));
    }
}
