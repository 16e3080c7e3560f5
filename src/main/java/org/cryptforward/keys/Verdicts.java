package org.cryptforward.keys;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.api.OpenPGPImplementation;
import org.bouncycastle.openpgp.api.bc.BcOpenPGPImplementation;
import org.bouncycastle.openpgp.operator.PGPContentVerifier;
import org.bouncycastle.openpgp.operator.PGPContentVerifierBuilder;
import org.bouncycastle.openpgp.operator.PGPContentVerifierBuilderProvider;
import org.bouncycastle.openpgp.operator.bc.BcPGPContentVerifierBuilderProvider;
import org.cryptforward.core.Limits;

/**
 * What this process has already worked out about keys, so that it is not worked out again for
 * every delivery: whether a signature verifies, and whether a key's material can be encrypted to.
 * Both are pure functions of bytes — a signature verifies or not over exactly the key, the data and
 * the signature value, a trial encryption succeeds or not for exactly the key packet — so a
 * verdict is remembered under the SHA-256 of everything it depends on, and a changed key, user ID,
 * subpacket or signature is a different entry. Nothing about time is remembered: expiry and
 * revocation are judged at every delivery, from signatures whose validity alone comes from here.
 *
 * <p>A key is read twice per delivery (by {@link KeyReader}, which keeps only what verifies, then by
 * Bouncy Castle's certificate, which verifies the same signatures again to build its chains); the
 * resident service reads it for every request. Each signature then costs one verification per
 * process. The table is bounded ({@link Limits#verdictCacheEntries()}, least recently used out)
 * and shared by the service's concurrent deliveries.
 */
final class Verdicts {
    private Verdicts() {}

    private static final int MAX_ENTRIES = Limits.DEFAULT.verdictCacheEntries();
    private static final int MAX_DATA = Limits.DEFAULT.verdictDataBytes();

    private static final Map<Key, Boolean> SIGNATURES = lru();
    private static final java.util.concurrent.atomic.AtomicLong VERIFIED = new java.util.concurrent.atomic.AtomicLong();
    private static final Map<Key, Optional<String>> MATERIAL = lru();

    /** Signature verification through the table; otherwise Bouncy Castle's own. */
    static final PGPContentVerifierBuilderProvider VERIFIERS = new Verifiers();

    /**
     * Bouncy Castle's implementation with {@link #VERIFIERS}, for certificates whose signature
     * chains are verified through the table. One instance: making one costs its policy's set-up.
     */
    static final OpenPGPImplementation IMPLEMENTATION = new BcOpenPGPImplementation() {
        @Override
        public PGPContentVerifierBuilderProvider pgpContentVerifierBuilderProvider() {
            return VERIFIERS;
        }
    };

    /** Why {@code key}'s material cannot be encrypted to (null: it can), from the table or {@code judge}. */
    static String material(PGPPublicKey key, Supplier<String> judge) {
        Key k;
        try {
            k = Key.of(new byte[][] {key.getPublicKeyPacket().getEncoded()});
        } catch (IOException | RuntimeException e) {
            return judge.get();
        }
        synchronized (MATERIAL) {
            Optional<String> known = MATERIAL.get(k);
            if (known != null) {
                return known.orElse(null);
            }
        }
        String verdict = judge.get();
        synchronized (MATERIAL) {
            MATERIAL.put(k, Optional.ofNullable(verdict));
        }
        return verdict;
    }

    /** How many signatures Bouncy Castle has verified through the table, that is, not found in it (for tests). */
    static long verifications() {
        return VERIFIED.get();
    }

    /** How many verdicts are remembered (for tests). */
    static int size() {
        synchronized (SIGNATURES) {
            synchronized (MATERIAL) {
                return SIGNATURES.size() + MATERIAL.size();
            }
        }
    }

    private static <V> Map<Key, V> lru() {
        return new LinkedHashMap<>(64, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<Key, V> eldest) {
                return size() > MAX_ENTRIES;
            }
        };
    }

    private static final class Verifiers implements PGPContentVerifierBuilderProvider {
        private final PGPContentVerifierBuilderProvider real = new BcPGPContentVerifierBuilderProvider();

        @Override
        public PGPContentVerifierBuilder get(int keyAlgorithm, int hashAlgorithm) throws PGPException {
            PGPContentVerifierBuilder builder = real.get(keyAlgorithm, hashAlgorithm);
            return key -> {
                // built at once, so that a key Bouncy Castle cannot verify with fails here, as without the table
                PGPContentVerifier verifier = builder.build(key);
                byte[] packet;
                try {
                    packet = key.getPublicKeyPacket().getEncoded();
                } catch (IOException | RuntimeException e) {
                    return verifier;
                }
                return new Remembering(verifier, keyAlgorithm, hashAlgorithm, packet);
            };
        }
    }

    /**
     * A verifier that holds the signed data until the signature value is known, then looks the
     * verdict up, and verifies (feeding the data to Bouncy Castle's verifier) only when it is new.
     * More data than {@link Limits#verdictDataBytes()} goes straight to the real verifier.
     */
    private static final class Remembering implements PGPContentVerifier {
        private final PGPContentVerifier real;
        private final int keyAlgorithm;
        private final int hashAlgorithm;
        private final byte[] keyPacket;
        private ByteArrayOutputStream data = new ByteArrayOutputStream();
        private final OutputStream out = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (data != null && data.size() + len > MAX_DATA) {
                    real.getOutputStream().write(data.toByteArray());
                    data = null;
                }
                if (data == null) {
                    real.getOutputStream().write(b, off, len);
                } else {
                    data.write(b, off, len);
                }
            }
        };

        Remembering(PGPContentVerifier real, int keyAlgorithm, int hashAlgorithm, byte[] keyPacket) {
            this.real = real;
            this.keyAlgorithm = keyAlgorithm;
            this.hashAlgorithm = hashAlgorithm;
            this.keyPacket = keyPacket;
        }

        @Override
        public OutputStream getOutputStream() {
            return out;
        }

        @Override
        public int getHashAlgorithm() {
            return real.getHashAlgorithm();
        }

        @Override
        public int getKeyAlgorithm() {
            return real.getKeyAlgorithm();
        }

        @Override
        public long getKeyID() {
            return real.getKeyID();
        }

        @Override
        public boolean verify(byte[] expected) {
            if (data == null) {
                return real.verify(expected);
            }
            byte[] signed = data.toByteArray();
            Key k = Key.of(new byte[][] {
                ByteBuffer.allocate(8)
                        .putInt(keyAlgorithm)
                        .putInt(hashAlgorithm)
                        .array(),
                keyPacket,
                signed,
                expected
            });
            synchronized (SIGNATURES) {
                Boolean known = SIGNATURES.get(k);
                if (known != null) {
                    return known;
                }
            }
            try {
                real.getOutputStream().write(signed);
            } catch (IOException e) {
                return false; // Bouncy Castle's verifier streams into memory: not expected
            }
            boolean verdict = real.verify(expected);
            VERIFIED.incrementAndGet();
            synchronized (SIGNATURES) {
                SIGNATURES.put(k, verdict);
            }
            return verdict;
        }
    }

    /** The SHA-256 of length-prefixed parts: what a verdict depends on. */
    private record Key(ByteBuffer digest) {
        static Key of(byte[][] parts) {
            MessageDigest md;
            try {
                md = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            for (byte[] p : parts) {
                md.update(ByteBuffer.allocate(4).putInt(p.length).array());
                md.update(p);
            }
            return new Key(ByteBuffer.wrap(md.digest()));
        }
    }
}
