package org.cryptforward.keys;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPPublicKeyRing;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.PGPUserAttributeSubpacketVector;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;

/**
 * Merges a newer copy of a certificate into the stored one: every signature, user ID, user
 * attribute and subkey of the update that the stored copy lacks is added; nothing is removed.
 * That is how a renewed expiry (a newer self-signature), a revocation or a new subkey reaches
 * the keyring. Whether the result is usable is decided afterwards, from valid signatures only.
 *
 * <p>Written by hand rather than with Bouncy Castle's {@code PGPPublicKeyRing.join}: in 1.86 that
 * rewrites signatures it finds in both copies and loses the bytes of native Ed25519 signatures
 * (the ones v6 keys use), leaving a certificate that cannot be encoded or verified. Signatures
 * are compared as Bouncy Castle's {@code isSignatureEncodingEqual} does (the hashed part and the
 * signature itself; unhashed subpackets may differ between copies).
 */
final class CertificateMerge {
    private CertificateMerge() {}

    /** {@code base} with whatever {@code update} adds; both must be copies of one certificate. */
    static OpenPGPCertificate merge(OpenPGPCertificate base, OpenPGPCertificate update) {
        PGPPublicKeyRing ring = base.getPGPPublicKeyRing();
        PGPPublicKeyRing more = update.getPGPPublicKeyRing();
        if (!java.util.Arrays.equals(
                ring.getPublicKey().getFingerprint(), more.getPublicKey().getFingerprint())) {
            throw new IllegalArgumentException("not the same certificate");
        }

        PGPPublicKey primary = ring.getPublicKey();
        PGPPublicKey newer = more.getPublicKey();
        for (PGPSignature sig : list(newer.getKeySignatures())) {
            if (!contains(primary.getSignatures(), sig)) {
                primary = PGPPublicKey.addCertification(primary, sig);
            }
        }
        for (byte[] id : list(newer.getRawUserIDs())) {
            for (PGPSignature sig : list(newer.getSignaturesForID(id))) {
                if (!contains(primary.getSignatures(), sig)) {
                    primary = PGPPublicKey.addCertification(primary, id, sig);
                }
            }
        }
        for (PGPUserAttributeSubpacketVector attr : list(newer.getUserAttributes())) {
            for (PGPSignature sig : list(newer.getSignaturesForUserAttribute(attr))) {
                if (!contains(primary.getSignatures(), sig)) {
                    primary = PGPPublicKey.addCertification(primary, attr, sig);
                }
            }
        }
        ring = PGPPublicKeyRing.insertPublicKey(ring, primary);

        for (PGPPublicKey sub : list(more.getPublicKeys())) {
            if (sub.isMasterKey()) {
                continue;
            }
            PGPPublicKey stored = ring.getPublicKey(sub.getFingerprint());
            if (stored == null) {
                ring = PGPPublicKeyRing.insertPublicKey(ring, sub);
                continue;
            }
            PGPPublicKey merged = stored;
            for (PGPSignature sig : list(sub.getKeySignatures())) {
                if (!contains(merged.getKeySignatures(), sig)) {
                    merged = PGPPublicKey.addCertification(merged, sig);
                }
            }
            if (merged != stored) {
                ring = PGPPublicKeyRing.insertPublicKey(ring, merged);
            }
        }
        return new OpenPGPCertificate(ring, Verdicts.IMPLEMENTATION);
    }

    private static boolean contains(Iterator<PGPSignature> sigs, PGPSignature sig) {
        while (sigs.hasNext()) {
            PGPSignature s = sigs.next();
            if (s.getVersion() == sig.getVersion() && PGPSignature.isSignatureEncodingEqual(s, sig)) {
                return true;
            }
        }
        return false;
    }

    private static <T> List<T> list(Iterator<T> it) {
        List<T> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
