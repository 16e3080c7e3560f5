package org.cryptforward.core;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What to do when a signal ends the process: the delivery under way registers how to write its
 * log line (status deferred), and {@link org.cryptforward.Main}'s shutdown hook runs it before the status line
 * and the exit with 75 — so that a SIGTERM'd delivery is not missing from the log.
 */
public final class Signals {
    /** The deliveries under way in this process (one for deliver, several in the service). */
    private static final Set<Runnable> ACTIONS = ConcurrentHashMap.newKeySet();

    private Signals() {}

    /** A registered action; closing it (when its delivery has ended) withdraws it. */
    public interface Registration extends AutoCloseable {
        @Override
        void close();
    }

    /** Registers what is run if a signal ends the process before the registration is closed. */
    public static Registration whenTerminated(Runnable r) {
        Runnable own = r::run; // a distinct element even if the same action is registered twice
        ACTIONS.add(own);
        return () -> ACTIONS.remove(own);
    }

    /** Runs and withdraws every registered action; never throws. */
    public static void terminated() {
        for (Runnable r : ACTIONS) {
            ACTIONS.remove(r);
            try {
                r.run();
            } catch (Throwable t) {
                // the exit code and the status line matter more than the log line
            }
        }
    }
}
