package org.cryptforward.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.time.Clock;
import java.util.Map;

/**
 * Everything a command may touch of the outside world, passed in so that tests need no globals:
 * standard streams, the environment, the clock, and whether this is a real process (which may
 * arm a deadline watchdog that ends it).
 */
public record Context(
        InputStream in, PrintStream out, PrintStream err, Map<String, String> env, Clock clock, boolean ownsProcess) {
    public Context {
        env = Map.copyOf(env);
    }
}
