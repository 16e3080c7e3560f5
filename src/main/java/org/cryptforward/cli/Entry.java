package org.cryptforward.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.time.Clock;
import java.util.Map;
import org.cryptforward.core.ExitCodes;

/**
 * Where a command line starts ({@link Cli#run} is the same, for tests). {@code deliver} as the MTA
 * runs it takes the fast path: its few options read by {@link FastDeliver}, the message handed to
 * the resident service when one answers ({@link ServiceClient}), else delivered in-process. That
 * path loads neither picocli nor {@link Cli} (whose picocli types the class verifier would load)
 * unless something fails; everything else goes to picocli.
 */
public final class Entry {
    private Entry() {}

    /**
     * Set to {@value #CLIENT_ONLY} by the launcher when it starts {@code deliver} with the thin
     * client's class-data-sharing archive, because the service's socket exists: if the service
     * does not take the request after all, this JVM ends with {@link ExitCodes#RUN_IN_PROCESS}
     * before reading any input, and the launcher starts the in-process delivery with the full
     * archive (a delivery in a JVM started for the client would load most classes from the jar).
     */
    static final String CLIENT_PROPERTY = "cryptforward.launch";

    static final String CLIENT_ONLY = "client";

    /** Runs a command line; returns the exit code. Never throws, never exits. */
    public static int run(
            InputStream in,
            PrintStream out,
            PrintStream err,
            Map<String, String> env,
            Clock clock,
            boolean ownsProcess,
            String... args) {
        Context context = new Context(in, out, err, env, clock, ownsProcess);
        // Started for the thin client (its archive, perhaps its own java.base-only runtime): this
        // JVM hands the message to the service and does nothing else. Whatever else the command
        // line asks for, and whatever fails before the first byte of the input is read, is left to
        // the JVM the launcher starts next, with the full runtime (exit 120, never seen by an MTA).
        boolean clientOnly = CLIENT_ONLY.equals(System.getProperty(CLIENT_PROPERTY));
        DeliverCmd fast = FastDeliver.parse(context, args);
        if (fast == null) {
            return clientOnly ? ExitCodes.RUN_IN_PROCESS : Cli.execute(context, args);
        }
        ServiceClient client = new ServiceClient(context);
        try {
            Integer viaService = client.deliver(fast);
            if (viaService != null) {
                return viaService;
            }
            if (clientOnly) {
                return ExitCodes.RUN_IN_PROCESS; // nothing of the input has been read
            }
            return ExitCodes.forDeliver(fast.call());
        } catch (Exception | Error e) {
            if (clientOnly && !client.handedOver()) {
                return ExitCodes.RUN_IN_PROCESS;
            }
            return Cli.report(e, err, true, fast.debug);
        }
    }
}
