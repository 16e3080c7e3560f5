package org.cryptforward.support;

import java.util.Set;

/**
 * The exit codes an MTA may see from {@code deliver}: 0, 64, 69 and 75. Every test run of
 * {@code deliver}, in-process or through the launcher, goes through {@link #check}, so no test can
 * pass with another one.
 */
public final class MtaExitCodes {
    static final Set<Integer> ALLOWED = Set.of(0, 64, 69, 75);

    private MtaExitCodes() {}

    public static int check(int exit, String what) {
        if (!ALLOWED.contains(exit)) {
            throw new AssertionError("deliver exited " + exit + ", which an MTA would misread (" + what + ")");
        }
        return exit;
    }
}
