package org.cryptforward.cli;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.cryptforward.config.Config;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Limits;
import org.cryptforward.core.Text;
import org.cryptforward.pipeline.Planner;
import org.cryptforward.pipeline.Preview;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code test}: try the rules on a saved message. */
@Command(
        name = "test",
        description =
                "Read a message from standard input and show what deliver would do with it: which rule matches and why,"
                        + " which keys (and whether each is usable), where the local copy would go, the outer header. Writes and sends nothing.")
final class TestCmd implements Callable<Integer> {
    @Mixin
    ConfigFile config = new ConfigFile();

    @Option(names = "--recipient", paramLabel = "ADDRESS", description = "Envelope recipient to assume.")
    String recipient;

    @Option(names = "--sender", paramLabel = "ADDRESS", description = "Envelope sender to assume.")
    String sender;

    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    private final Context context;

    TestCmd(Context context) {
        this.context = context;
    }

    @Override
    public Integer call() throws Failure {
        Config cfg = KeyCmd.loadConfig(config.locate(context.env()), context);
        Map<String, Object> result;
        try {
            result = new Preview(cfg, new Planner(cfg, context.clock(), new SecureRandom()), context.env())
                    .explain(context.in(), Optional.ofNullable(recipient), Optional.ofNullable(sender));
        } catch (IOException e) {
            throw Failure.temporary("4.3.0", "cannot read the message: " + e.getMessage());
        }
        if (json) {
            context.out().println(Json.write(result));
            return ExitCodes.OK;
        }
        for (Map.Entry<String, Object> e : result.entrySet()) {
            Object v = e.getValue();
            String key = e.getKey().replace('_', ' ');
            if (v instanceof List<?> l) {
                context.out().println(key + ":" + (l.isEmpty() ? " (none)" : ""));
                l.forEach(x -> context.out().println("    " + shown(x)));
            } else if (v instanceof Map<?, ?> m) {
                context.out().println(key + ":");
                m.forEach((k, x) -> context.out().println("    " + shown(k) + ": " + shown(x)));
            } else {
                context.out().println(key + ": " + (v == null ? "(none)" : shown(v)));
            }
        }
        return ExitCodes.OK;
    }

    /** A value as the terminal shows it: a sender's control characters (escape sequences, CR) are not passed on. */
    private static String shown(Object value) {
        return Text.oneLine(String.valueOf(value), Limits.DEFAULT.fieldBytes());
    }
}
