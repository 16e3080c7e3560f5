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
        DeliverCmd fast = FastDeliver.parse(context, args);
        if (fast == null) {
            return Cli.execute(context, args);
        }
        try {
            Integer viaService = new ServiceClient(context).deliver(fast);
            if (viaService != null) {
                return viaService;
            }
            return ExitCodes.forDeliver(fast.call());
        } catch (Exception | Error e) {
            return Cli.report(e, err, true, fast.debug);
        }
    }
}
