package org.cryptforward.keys;

import java.util.Date;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.openpgp.PGPPublicKey;

/**
 * Whether a certificate can be encrypted to now, and if not, why.
 *
 * @param encryptionKeys every currently valid encryption-capable (sub)key; empty when unusable
 * @param reason why it cannot be used; empty when it can
 * @param expires when the certificate (or the last of its encryption subkeys) expires, if ever
 * @param skipped encryption subkeys that are valid by their signatures but not used, each with
 *     the reason (bad key material, a weak algorithm): a key with a good subkey beside a bad one
 *     is usable, and says so
 */
public record KeyStatus(
        List<PGPPublicKey> encryptionKeys, Optional<String> reason, Optional<Date> expires, List<String> skipped) {
    public KeyStatus {
        encryptionKeys = List.copyOf(encryptionKeys);
        skipped = List.copyOf(skipped);
    }

    public KeyStatus(List<PGPPublicKey> encryptionKeys, Optional<String> reason, Optional<Date> expires) {
        this(encryptionKeys, reason, expires, List.of());
    }

    public boolean usable() {
        return reason.isEmpty() && !encryptionKeys.isEmpty();
    }
}
