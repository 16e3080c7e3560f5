package org.cryptforward.cli;

import java.io.PrintStream;
import java.time.Duration;
import org.cryptforward.core.ExitCodes;

/**
 * Ends a delivery that runs into its deadline with 75, before the MTA's own time limit would
 * kill it (Postfix bounces a command killed for running too long). Every step also has its own
 * timeout; this catches whatever is left, such as a stalled standard input or a configuration
 * that never finishes reading.
 *
 * <p>It is armed twice: with the default deadline before anything is read (the configuration
 * is not known yet, and reading it could hang), then again with the configured one, which
 * replaces it. One thread per process.
 */
final class Watchdog {
    /** deadline_seconds when the configuration does not set it (see ConfigLoader). */
    static final Duration DEFAULT = Duration.ofSeconds(600);

    private static Thread thread;
    private static volatile long due;
    private static volatile long seconds;
    private static volatile PrintStream out;

    private Watchdog() {}

    /** Arms, or re-arms from now, the deadline of this process. */
    static synchronized void arm(Duration deadline, PrintStream err) {
        seconds = deadline.toSeconds();
        out = err;
        due = System.nanoTime() + deadline.toNanos();
        if (thread != null) {
            thread.interrupt(); // look at the new deadline
            return;
        }
        thread =
                new Thread("deadline") { // not a lambda: see Main
                    @Override
                    public void run() {
                        while (true) {
                            long left = due - System.nanoTime();
                            if (left <= 0) {
                                break;
                            }
                            try {
                                Thread.sleep(Math.max(1, left / 1_000_000));
                            } catch (InterruptedException e) {
                                // re-armed: loop and look again
                            }
                        }
                        out.println("4.4.7 cryptforward: deadline of " + seconds + " s reached; the MTA will retry");
                        out.flush();
                        Runtime.getRuntime().halt(ExitCodes.TEMPFAIL);
                    }
                };
        thread.setDaemon(true);
        thread.start();
    }
}
