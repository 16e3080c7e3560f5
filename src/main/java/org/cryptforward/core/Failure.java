package org.cryptforward.core;

/**
 * A failure that knows what the mail system must do about it.
 *
 * <p>Every path that can fail ends in one of these, never in a boolean: the exit code tells the
 * MTA to retry (75), to bounce (69) or that the command line was wrong (64); the RFC 3463
 * enhanced status code starts the one line printed for the MTA's log and {@code mailq}.
 * Anything not classified is temporary. The message never holds message content or secrets.
 */
public final class Failure extends Exception {
    private static final long serialVersionUID = 1L;

    private final int exitCode;
    private final String status;

    private Failure(int exitCode, String status, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
        this.status = status;
    }

    /** May succeed later: the MTA keeps the message queued (exit 75). */
    public static Failure temporary(String status, String message) {
        return new Failure(ExitCodes.TEMPFAIL, requireClass(status, '4'), message, null);
    }

    public static Failure temporary(String status, String message, Throwable cause) {
        return new Failure(ExitCodes.TEMPFAIL, requireClass(status, '4'), message, cause);
    }

    /** Will never succeed: the MTA bounces (exit 69). */
    public static Failure permanent(String status, String message) {
        return new Failure(ExitCodes.UNAVAILABLE, requireClass(status, '5'), message, null);
    }

    public static Failure permanent(String status, String message, Throwable cause) {
        return new Failure(ExitCodes.UNAVAILABLE, requireClass(status, '5'), message, cause);
    }

    /** The command line was wrong (exit 64). */
    public static Failure usage(String message) {
        return new Failure(ExitCodes.USAGE, "5.5.4", message, null);
    }

    /** The input data was wrong, e.g. a secret key given to {@code key import} (exit 65). */
    public static Failure dataError(String message) {
        return new Failure(ExitCodes.DATAERR, "5.6.0", message, null);
    }

    public int exitCode() {
        return exitCode;
    }

    /** The RFC 3463 enhanced status code, e.g. {@code 4.4.1}. */
    public String status() {
        return status;
    }

    public boolean isTemporary() {
        return exitCode == ExitCodes.TEMPFAIL;
    }

    /** The single line printed for the MTA: {@code 4.4.1 cryptforward: relay ... refused connection}. */
    public String statusLine() {
        return status + " cryptforward: " + getMessage();
    }

    private static String requireClass(String status, char cls) {
        if (status == null || status.length() < 5 || status.charAt(0) != cls || status.charAt(1) != '.') {
            throw new IllegalArgumentException("enhanced status code of class " + cls + " expected: " + status);
        }
        return status;
    }
}
