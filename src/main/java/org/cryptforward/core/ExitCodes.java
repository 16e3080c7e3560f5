package org.cryptforward.core;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The process exit codes cryptforward uses, from sysexits.h, what each means and what Postfix
 * and Exim make of it: the one table (like Postfix's {@code sys_exits.c}). The {@code --help}
 * list of exit codes is generated from {@link #TABLE}; every failure becomes a code through
 * {@link #of}; {@code deliver} never ends with a code outside {@link #DELIVER} ({@link #forDeliver},
 * and the launcher script keeps to the same set, which a test compares). Postfix bounces on
 * anything but 0 and 75 (and 71).
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
    /** {@code check} found a problem: something is misconfigured (not used by {@code deliver}). */
    public static final int CONFIG = 78;

    /**
     * Between the launcher and the JVM it starts for the thin client only, never seen by an MTA:
     * the service did not take the request and nothing of it was read, so the launcher runs
     * the delivery in-process instead (src/main/sh/cryptforward).
     */
    public static final int RUN_IN_PROCESS = 120;

    /** One exit code: its number, its sysexits.h name and what it means here. */
    public record Code(int value, String name, String meaning) {}

    /** Every code this program exits with, in order. */
    public static final List<Code> TABLE = List.of(
            new Code(OK, "EX_OK", "done: the local copy is on disk and every forward was accepted"),
            new Code(USAGE, "EX_USAGE", "wrong command line"),
            new Code(DATAERR, "EX_DATAERR", "bad input data (key import: a secret key, garbage)"),
            new Code(
                    UNAVAILABLE, "EX_UNAVAILABLE", "a forward was permanently rejected by the relay (the MTA bounces)"),
            new Code(TEMPFAIL, "EX_TEMPFAIL", "temporary failure: the MTA keeps the message and retries"),
            new Code(CONFIG, "EX_CONFIG", "check found a problem"));

    /** The codes {@code deliver} may end with: the ones an MTA reads as intended. */
    public static final Set<Integer> DELIVER = Set.of(OK, USAGE, UNAVAILABLE, TEMPFAIL);

    private ExitCodes() {}

    /** The exit code of anything thrown: a {@link Failure}'s own, else 75 (what is not known to be permanent is temporary). */
    public static int of(Throwable t) {
        return t instanceof Failure f ? f.exitCode() : TEMPFAIL;
    }

    /** A code as {@code deliver} may return it: one the MTA reads as intended, else 75. */
    public static int forDeliver(int code) {
        return DELIVER.contains(code) ? code : TEMPFAIL;
    }

    /** The {@code --help} list: code (right-aligned) → meaning. */
    public static Map<String, String> helpList() {
        Map<String, String> list = new LinkedHashMap<>();
        for (Code c : TABLE) {
            list.put((c.value() < 10 ? " " : "") + c.value(), c.meaning());
        }
        return list;
    }
}
