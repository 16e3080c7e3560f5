package org.cryptforward.cli;

import java.io.PrintStream;
import java.time.Duration;
import org.cryptforward.ExitCodes;

/**
 * Ends a delivery that runs into its deadline with 75, before the MTA's own time limit would
 * kill it (Postfix bounces a command killed for running too long). Every step also has its own
 * timeout; this catches whatever is left, such as a stalled standard input.
 */
final class Watchdog {
    private Watchdog() {}

    static void arm(Duration deadline, PrintStream err) {
        Thread t = new Thread("deadline") { // not a lambda: see Main
            @Override
            public void run() {
                try {
                    Thread.sleep(deadline.toMillis());
                } catch (InterruptedException e) {
                    return;
                }
                err.println("4.4.7 cryptforward: deadline of " + deadline.toSeconds() + " s reached; the MTA will retry");
                err.flush();
                Runtime.getRuntime().halt(ExitCodes.TEMPFAIL);
            }
        };
        t.setDaemon(true);
        t.start();
    }
}
