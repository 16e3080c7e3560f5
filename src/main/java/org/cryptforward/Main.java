package org.cryptforward;

import java.io.PrintStream;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import org.cryptforward.cli.Entry;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Signals;

/**
 * The process entry point. Whatever happens, the process ends with an exit code an MTA
 * understands: {@code Cli} maps every failure; a {@code Throwable} that escapes even that is a
 * 75; SIGTERM, SIGINT and SIGHUP become a 75 (a plain JVM would exit 143, which Postfix bounces).
 */
public final class Main {
    private Main() {}

    /**
     * Bouncy Castle's OpenPGP policy parses dates with time zone names when it is created; with
     * the CLDR locale data that costs every delivery about 200 ms of CPU, with the JDK's older
     * data about 20. That data was removed in Java 21 (and warns there), so only before it.
     */
    static void fasterLocaleData() {
        if (Runtime.version().feature() < 21 && System.getProperty("java.locale.providers") == null) {
            System.setProperty("java.locale.providers", "COMPAT,CLDR");
        }
    }

    /**
     * The system clock in the default time zone, looked up when something first asks for the
     * zone: the lookup reads the time-zone database, and the thin client of the service never
     * needs it.
     */
    static final class SystemClock extends Clock {
        private volatile ZoneId zone;

        @Override
        public ZoneId getZone() {
            ZoneId z = zone;
            if (z == null) {
                z = ZoneId.systemDefault();
                zone = z;
            }
            return z;
        }

        @Override
        public Clock withZone(ZoneId z) {
            return Clock.system(z);
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(System.currentTimeMillis());
        }

        @Override
        public long millis() {
            return System.currentTimeMillis();
        }
    }

    public static void main(String[] args) {
        fasterLocaleData();
        PrintStream err = System.err;
        // a class, not a lambda: the first lambda costs a short-lived process ~100 classes more
        Runtime.getRuntime().addShutdownHook(new Thread("signal") {
            @Override
            public void run() {
                // Only signals get here: a normal end halts below and runs no hooks.
                Signals.terminated();
                err.println("4.3.0 cryptforward: terminated by a signal");
                err.flush();
                Runtime.getRuntime().halt(ExitCodes.TEMPFAIL);
            }
        });
        int code;
        try {
            code = Entry.run(System.in, System.out, err, System.getenv(), new SystemClock(), true, args);
        } catch (Throwable t) {
            code = ExitCodes.of(t); // Cli maps every failure; what escapes it is unexpected: 75
            try {
                err.println(
                        "4.3.0 cryptforward: internal error (" + t.getClass().getName() + ")");
            } catch (Throwable ignored) {
                // nothing left to report with
            }
        }
        System.out.flush();
        err.flush();
        Runtime.getRuntime().halt(code);
    }
}
