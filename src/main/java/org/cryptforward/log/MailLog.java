package org.cryptforward.log;

/** Where the one line per message goes: syslog or a file; never standard output or error. */
public interface MailLog {
    /** Severity, as syslog's. */
    enum Level {
        INFO(6),
        WARNING(4),
        ERROR(3);

        final int code;

        Level(int code) {
            this.code = code;
        }
    }

    /** Writes a line; failures to log are swallowed (logging never decides a delivery). */
    void log(Level level, String line);
}
