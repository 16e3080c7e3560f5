package org.cryptforward;

/**
 * The process exit codes cryptforward uses, from sysexits.h, and what Postfix and Exim make of
 * them. No other code may reach an MTA: Postfix bounces on anything but 0 and 75 (and 71).
 */
public final class ExitCodes {
    /** Delivered: the local copy is fsynced and every forward got a 250. */
    public static final int OK = 0;
    /** Wrong command line. */
    public static final int USAGE = 64;
    /** Bad input data (not used by {@code deliver}). */
    public static final int DATAERR = 65;
    /** A forward was permanently rejected (5xx): the MTA bounces. */
    public static final int UNAVAILABLE = 69;
    /** Anything that may work later, and anything unexpected: the MTA retries. */
    public static final int TEMPFAIL = 75;

    private ExitCodes() {}
}
