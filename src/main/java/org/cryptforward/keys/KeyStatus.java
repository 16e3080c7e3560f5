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
 */
public record KeyStatus(List<PGPPublicKey> encryptionKeys, Optional<String> reason, Optional<Date> expires) {
    public KeyStatus {
        encryptionKeys = List.copyOf(encryptionKeys);
    }

    public boolean usable() {
        return reason.isEmpty() && !encryptionKeys.isEmpty();
    }
}
