package org.cryptforward.keys;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.PGPSignatureSubpacketVector;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;

/**
 * Which user IDs name a key: only those bound by a valid self-signature. At a given time a user ID
 * is bound when its latest self-certification made by then has not expired and no certification revocation by the owner is newer than it. Unsigned user IDs,
 * those certified only by others, revoked ones and those whose self-signature expired name nothing:
 * no lookup by address finds the key through them, and listings leave them out.
 *
 * <p>The certificates this sees hold verified self-signatures only ({@link KeyReader}); this class
 * decides validity in time. (Whether the signature's hash is still acceptable is the key's
 * judgement, {@link KeyUsability}, which names the policy; an address still finds such a key, so
 * that the administrator learns why it cannot be used.) User IDs are bytes: one that is not valid UTF-8 is shown with its
 * invalid bytes as {@code \xNN}, never dropped from view.
 */
public final class UserIds {
    private UserIds() {}

    /** One user ID: its bytes, its text for display and matching, and whether it is bound now. */
    public record UserId(byte[] raw, String text, boolean bound, boolean primary) {}

    /** Every user ID the certificate holds, bound or not, in stored order. */
    public static List<UserId> all(OpenPGPCertificate cert, Date now) {
        PGPPublicKey primary = cert.getPrimaryKey().getPGPPublicKey();
        List<UserId> out = new ArrayList<>();
        for (Iterator<byte[]> it = primary.getRawUserIDs(); it.hasNext(); ) {
            byte[] raw = it.next();
            PGPSignature latest = null;
            PGPSignature latestRevocation = null;
            for (Iterator<PGPSignature> s = primary.getSignaturesForID(raw); s != null && s.hasNext(); ) {
                PGPSignature sig = s.next();
                Date made = sig.getCreationTime();
                if (made.after(now)) {
                    continue;
                }
                if (sig.getSignatureType() == PGPSignature.CERTIFICATION_REVOCATION) {
                    if (latestRevocation == null || made.after(latestRevocation.getCreationTime())) {
                        latestRevocation = sig;
                    }
                } else if (latest == null || made.after(latest.getCreationTime())) {
                    latest = sig;
                }
            }
            boolean bound = latest != null
                    && !expired(latest, now)
                    && (latestRevocation == null
                            || latestRevocation.getCreationTime().before(latest.getCreationTime()));
            boolean primaryFlag = false;
            if (latest != null) {
                PGPSignatureSubpacketVector h = latest.getHashedSubPackets();
                primaryFlag = h != null && h.isPrimaryUserID();
            }
            out.add(new UserId(raw, text(raw), bound, primaryFlag));
        }
        return out;
    }

    /** The bound user IDs, the one flagged primary first. */
    public static List<UserId> bound(OpenPGPCertificate cert, Date now) {
        List<UserId> out = new ArrayList<>();
        for (UserId u : all(cert, now)) {
            if (u.bound()) {
                if (u.primary()) {
                    out.add(0, u);
                } else {
                    out.add(u);
                }
            }
        }
        return out;
    }

    private static boolean expired(PGPSignature sig, Date now) {
        PGPSignatureSubpacketVector h = sig.getHashedSubPackets();
        long seconds = h == null ? 0 : h.getSignatureExpirationTime();
        return seconds > 0 && sig.getCreationTime().getTime() + seconds * 1000 <= now.getTime();
    }

    /** The user ID as text: UTF-8, with bytes that are not valid UTF-8 written as {@code \xNN}. */
    static String text(byte[] raw) {
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(raw))
                    .toString();
        } catch (CharacterCodingException e) {
            StringBuilder sb = new StringBuilder();
            int i = 0;
            while (i < raw.length) {
                int len = sequenceLength(raw, i);
                if (len > 0) {
                    sb.append(new String(raw, i, len, StandardCharsets.UTF_8));
                    i += len;
                } else {
                    sb.append(String.format("\\x%02X", raw[i] & 0xff));
                    i++;
                }
            }
            return sb.toString();
        }
    }

    /** The length of the valid UTF-8 sequence at {@code i}, or 0 if there is none. */
    private static int sequenceLength(byte[] b, int i) {
        for (int len = 1; len <= 4 && i + len <= b.length; len++) {
            try {
                StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(b, i, len));
                return len;
            } catch (CharacterCodingException e) {
                // try a longer sequence
            }
        }
        return 0;
    }
}
