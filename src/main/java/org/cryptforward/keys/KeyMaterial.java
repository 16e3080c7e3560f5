package org.cryptforward.keys;

import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import org.bouncycastle.bcpg.BCPGKey;
import org.bouncycastle.bcpg.ECDHPublicBCPGKey;
import org.bouncycastle.bcpg.ElGamalPublicBCPGKey;
import org.bouncycastle.bcpg.PublicKeyAlgorithmTags;
import org.bouncycastle.bcpg.RSAPublicBCPGKey;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.cryptforward.crypto.Encryptor;

/**
 * Whether a public key's material is something that can safely be encrypted to (or, for a primary
 * key, verified with): checks that parsing does not make, and a trial encryption.
 *
 * <ul>
 *   <li>RSA: the modulus odd, without small prime factors, at most {@value #MAX_RSA_BITS} bits; the
 *       public exponent odd, at least 3, at most {@value #MAX_EXPONENT_BITS} bits (an exponent of 1
 *       would "encrypt" the session key to itself — in clear; a huge one makes every use slow).
 *   <li>ElGamal: the prime odd and at most {@value #MAX_ELGAMAL_BITS} bits (every encryption is
 *       an exponentiation as long as it), the generator and public value within range.
 *   <li>ECDH on Curve25519: the point is 33 bytes, {@code 0x40} and the 32-byte u-coordinate.
 *   <li>Then a trial encryption of one byte to the key alone, exactly as a forward is encrypted,
 *       which refuses what the library refuses when it matters: a point off its curve, a point of
 *       low order (the shared secret would be zero), a malformed X25519 key.
 * </ul>
 *
 * A key that fails is skipped (see {@link KeyUsability}) with the reason in words.
 */
public final class KeyMaterial {
    static final int MAX_RSA_BITS = 16384;
    static final int MAX_EXPONENT_BITS = 256;
    /** Each ElGamal encryption is an exponentiation as long as the prime: bounded like RSA's exponent. */
    static final int MAX_ELGAMAL_BITS = 4096;

    private static final String CURVE25519 = "1.3.6.1.4.1.3029.1.5.1";
    /** The product of the odd primes below 1000. */
    private static final BigInteger SMALL_PRIMES = smallPrimes();

    private static final OutputStream NULL = OutputStream.nullOutputStream();
    private static volatile SecureRandom random;

    private KeyMaterial() {}

    /** Why the primary key may not be used to verify its own signatures, or null when it may. */
    static String primaryProblem(PGPPublicKey key) {
        if (isRsa(key.getAlgorithm())) {
            String bad = rsaProblem(key);
            return bad == null ? null : "its primary key " + bad;
        }
        return null;
    }

    /** Why this (encryption) key's material cannot be used, in words after "its encryption subkey FPR", or null. */
    public static String encryptionProblem(PGPPublicKey key) {
        BCPGKey material;
        try {
            material = key.getPublicKeyPacket().getKey();
        } catch (RuntimeException e) {
            return "cannot be read (" + e.getClass().getSimpleName() + ")";
        }
        if (isRsa(key.getAlgorithm())) {
            String bad = rsaProblem(key);
            if (bad != null) {
                return bad;
            }
        } else if (material instanceof ElGamalPublicBCPGKey elg) {
            BigInteger p = elg.getP();
            if (p.bitLength() > MAX_ELGAMAL_BITS) {
                return "is ElGamal of " + p.bitLength() + " bits, larger than cryptforward accepts (at most "
                        + MAX_ELGAMAL_BITS + ")";
            }
            BigInteger two = BigInteger.TWO;
            BigInteger top = p.subtract(two);
            if (!p.testBit(0)
                    || elg.getG().compareTo(two) < 0
                    || elg.getG().compareTo(top) > 0
                    || elg.getY().compareTo(two) < 0
                    || elg.getY().compareTo(top) > 0) {
                return "is not a well-formed ElGamal key";
            }
        } else if (material instanceof ECDHPublicBCPGKey ec
                && CURVE25519.equals(ec.getCurveOID().getId())) {
            byte[] point = ec.getEncodedPoint().toByteArray();
            if (point.length != 33 || point[0] != 0x40) {
                return "has a malformed Curve25519 point (" + point.length + " bytes; 0x40 and 32 bytes expected)";
            }
        }
        return trial(key);
    }

    private static boolean isRsa(int alg) {
        return alg == PublicKeyAlgorithmTags.RSA_GENERAL
                || alg == PublicKeyAlgorithmTags.RSA_ENCRYPT
                || alg == PublicKeyAlgorithmTags.RSA_SIGN;
    }

    private static String rsaProblem(PGPPublicKey key) {
        if (!(key.getPublicKeyPacket().getKey() instanceof RSAPublicBCPGKey rsa)) {
            return "is not a well-formed RSA key";
        }
        BigInteger n = rsa.getModulus();
        BigInteger e = rsa.getPublicExponent();
        if (n.bitLength() > MAX_RSA_BITS) {
            return "is RSA of " + n.bitLength() + " bits, larger than cryptforward accepts (at most " + MAX_RSA_BITS
                    + ")";
        }
        if (n.signum() <= 0 || !n.testBit(0)) {
            return "has an RSA modulus that is even, so it is not an RSA key";
        }
        if (!n.gcd(SMALL_PRIMES).equals(BigInteger.ONE)) {
            return "has an RSA modulus with a small prime factor, so it is not an RSA key";
        }
        if (e.compareTo(BigInteger.valueOf(3)) < 0) {
            return "has the RSA public exponent " + e + ", which does not encrypt (at least 3)";
        }
        if (!e.testBit(0)) {
            return "has an even RSA public exponent, so it is not an RSA key";
        }
        if (e.bitLength() > MAX_EXPONENT_BITS || e.compareTo(n) >= 0) {
            return "has an RSA public exponent of " + e.bitLength() + " bits (at most " + MAX_EXPONENT_BITS + ")";
        }
        return null;
    }

    /** Encrypts one byte to the key alone, as a forward would be; the failure, or null (once per key packet and process). */
    private static String trial(PGPPublicKey key) {
        return Verdicts.material(key, () -> encryptOneByte(key));
    }

    private static String encryptOneByte(PGPPublicKey key) {
        try (OutputStream out = new Encryptor(random()).open(NULL, List.of(key), Map.of())) {
            out.write(0);
            return null;
        } catch (IOException | PGPException | RuntimeException e) {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            String m = root.getMessage();
            return "cannot be encrypted to ("
                    + (m == null || m.isBlank() ? root.getClass().getSimpleName() : KeyUsability.printable(m)) + ")";
        }
    }

    private static SecureRandom random() {
        SecureRandom r = random;
        if (r == null) {
            r = new SecureRandom();
            random = r;
        }
        return r;
    }

    private static BigInteger smallPrimes() {
        BigInteger p = BigInteger.ONE;
        for (int i = 3; i < 1000; i += 2) {
            if (BigInteger.valueOf(i).isProbablePrime(30)) {
                p = p.multiply(BigInteger.valueOf(i));
            }
        }
        return p;
    }
}
