package org.cryptforward.keys;

/** A key could not be found, was ambiguous, or the keyring could not be read or written. */
public final class KeyringException extends Exception {
    private static final long serialVersionUID = 1L;

    public KeyringException(String message) {
        super(message);
    }

    public KeyringException(String message, Throwable cause) {
        super(message, cause);
    }
}
