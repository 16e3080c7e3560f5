package org.cryptforward.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The validated configuration: every path absolute, every pattern compiled, every value in range.
 *
 * @param file the file it was read from
 * @param keyring the directory of public keys
 * @param stateDir the directory of the retry journal and temporary files
 * @param deadline how long {@code deliver} may run before it gives up with 75
 * @param logFile where the per-message log line goes; empty = syslog
 * @param syslogSocket the syslog daemon's socket (default {@code /dev/log})
 * @param hostname the name used in Message-IDs, the loop marker and EHLO
 * @param stateRetention how long the journal remembers a message
 * @param queue the {@code [queue]} table (sendmail mode)
 * @param service the resident delivery service ({@code [service]})
 */
public record Config(
        Path file,
        Path keyring,
        Path stateDir,
        Duration deadline,
        Optional<Path> logFile,
        Path syslogSocket,
        String hostname,
        Duration stateRetention,
        LocalConfig local,
        RelayConfig relay,
        List<Rule> rules,
        QueueConfig queue,
        ServiceConfig service) {

    public Config {
        rules = List.copyOf(rules);
    }

    /** A configuration with the defaults of the queue and the service. */
    public Config(
            Path file,
            Path keyring,
            Path stateDir,
            Duration deadline,
            Optional<Path> logFile,
            Path syslogSocket,
            String hostname,
            Duration stateRetention,
            LocalConfig local,
            RelayConfig relay,
            List<Rule> rules) {
        this(
                file,
                keyring,
                stateDir,
                deadline,
                logFile,
                syslogSocket,
                hostname,
                stateRetention,
                local,
                relay,
                rules,
                QueueConfig.DEFAULT,
                ServiceConfig.defaults());
    }

    /** Where temporary (encrypted, unlinked) spool files go. */
    public Path tempDir() {
        return stateDir.resolve("tmp");
    }

    /** The loop marker header field name written on every forward. */
    public static final String LOOP_HEADER = "X-Cryptforward-Loop";
}
