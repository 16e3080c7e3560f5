package org.cryptforward.keys;

/**
 * A key could not be found, was ambiguous, was named wrongly, or the keyring could not be read or
 * written. The {@link Kind} tells a caller whether the problem may go away by itself (an I/O
 * error) or needs the administrator (everything else).
 */
public final class KeyringException extends Exception {
    private static final long serialVersionUID = 1L;

    /** What went wrong. */
    public enum Kind {
        /** No stored certificate matches the ID. */
        NOT_FOUND,
        /** More than one stored certificate matches the ID. */
        AMBIGUOUS,
        /** The ID is neither a fingerprint (suffix) nor an e-mail address. */
        INVALID_ID,
        /** A keyring file holds no certificate, or a secret key. */
        CORRUPT,
        /** The keyring cannot be read or written: may work later. */
        IO
    }

    private final Kind kind;

    public KeyringException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public KeyringException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
