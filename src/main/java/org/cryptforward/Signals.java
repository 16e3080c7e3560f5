package org.cryptforward;

/**
 * What to do when a signal ends the process: the delivery under way registers how to write its
 * log line (status deferred), and {@link Main}'s shutdown hook runs it before the status line
 * and the exit with 75 — so that a SIGTERM'd delivery is not missing from the log.
 */
public final class Signals {
    private static volatile Runnable onTermination;

    private Signals() {}

    /** Replaces what is run when a signal ends the process. */
    public static void whenTerminated(Runnable r) {
        onTermination = r;
    }

    /** Runs the registered action, if any; never throws. */
    static void terminated() {
        Runnable r = onTermination;
        onTermination = null;
        if (r != null) {
            try {
                r.run();
            } catch (Throwable t) {
                // the exit code and the status line matter more than the log line
            }
        }
    }
}
