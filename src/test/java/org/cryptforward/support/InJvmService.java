package org.cryptforward.support;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import org.cryptforward.service.Service;

/**
 * {@code cryptforward serve} in the test's JVM, for one configuration: started on the socket its
 * {@code [service]} table names, stopped at {@link #close}. Its own log (never message content)
 * is kept for assertions.
 */
public final class InJvmService implements AutoCloseable {
    public final Service service;
    private final ByteArrayOutputStream log = new ByteArrayOutputStream();

    /** The {@code [service]} table for a socket in {@code dir}. */
    public static String toml(Path dir, String more) {
        return "\n[service]\nsocket = \"" + dir.toAbsolutePath().resolve("s.sock") + "\"\n" + more;
    }

    public InJvmService(Path config) {
        service = org.cryptforward.cli.ServeCmd.service(
                config, Clock.systemDefaultZone(), new PrintStream(log, true, StandardCharsets.UTF_8), true);
        try {
            service.start(null);
        } catch (Service.StartException e) {
            throw new AssertionError("service did not start: " + e.getMessage());
        }
    }

    public String log() {
        synchronized (log) {
            return log.toString(StandardCharsets.UTF_8);
        }
    }

    @Override
    public void close() {
        service.stop(Duration.ofSeconds(10));
    }
}
