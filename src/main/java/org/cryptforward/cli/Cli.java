package org.cryptforward.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.time.Clock;
import java.util.Map;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Text;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The command line: one class per command, glued here. The only layer that touches standard
 * streams and the environment, and the one boundary where failures become exit codes.
 */
@Command(
        name = "cryptforward",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Keeps root's mail locally and forwards it OpenPGP-encrypted over SMTP.",
        subcommands = {
            DeliverCmd.class,
            KeyCmd.class,
            CheckCmd.class,
            TestCmd.class,
            ServeCmd.class,
            SendmailCmd.class,
            QueueCmd.class,
            CommandLine.HelpCommand.class
        },
        exitCodeListHeading = "%nExit codes:%n")
public final class Cli implements Runnable {
    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "Print stack traces of failures.")
    boolean debug;

    private final Context context;

    Cli(Context context) {
        this.context = context;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "a command is required");
    }

    /** Runs a command line; returns the exit code. Never throws, never exits. */
    public static int run(
            InputStream in,
            PrintStream out,
            PrintStream err,
            Map<String, String> env,
            Clock clock,
            boolean ownsProcess,
            String... args) {
        return Entry.run(in, out, err, env, clock, ownsProcess, args);
    }

    /** Everything but the fast path of {@code deliver}: picocli reads the arguments (sendmail's own rules for sendmail). */
    static int execute(Context context, String... args) {
        // sendmail's command line follows sendmail's rules, not picocli's
        int first = 0;
        while (first < args.length && args[first].equals("--debug")) {
            first++;
        }
        if (first < args.length && args[first].equals("sendmail")) {
            return SendmailCmd.execute(
                    context, java.util.Arrays.asList(args).subList(first + 1, args.length), first > 0);
        }
        CommandLine cl = commandLine(context);
        return cl.execute(args);
    }

    static CommandLine commandLine(Context context) {
        CommandLine.IFactory factory = new CommandLine.IFactory() {
            @Override
            public <K> K create(Class<K> cls) throws Exception {
                try {
                    return cls.getDeclaredConstructor(Context.class).newInstance(context);
                } catch (NoSuchMethodException e) {
                    return CommandLine.defaultFactory().create(cls);
                }
            }
        };
        CommandLine cl = new CommandLine(new Cli(context), factory);
        cl.setOut(new java.io.PrintWriter(context.out(), true));
        cl.setErr(new java.io.PrintWriter(context.err(), true));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.getCommandSpec().usageMessage().exitCodeList(ExitCodes.helpList());
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintStream err = context.err();
            boolean deliver = isDeliver(ex.getCommandLine());
            err.println((deliver ? "5.5.4 " : "") + "cryptforward: " + Text.oneLine(ex.getMessage(), 1000));
            if (!deliver) {
                err.println("Try 'cryptforward --help' or 'cryptforward help COMMAND'.");
            }
            return ExitCodes.USAGE;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            boolean debug = parseResult.hasMatchedOption("--debug")
                    || commandLine.getParseResult().hasMatchedOption("--debug");
            return report(ex, context.err(), isDeliver(commandLine), debug);
        });
        return cl;
    }

    /** The one place where a failure becomes a line; its exit code is {@link ExitCodes#of}. */
    static int report(Throwable ex, PrintStream err, boolean deliver, boolean debug) {
        int code = deliver ? ExitCodes.forDeliver(ExitCodes.of(ex)) : ExitCodes.of(ex);
        String line;
        if (ex instanceof Failure f) {
            line = deliver ? f.statusLine() : "cryptforward: " + Text.oneLine(f.getMessage(), 1000);
        } else {
            line = (deliver ? "4.3.0 " : "") + "cryptforward: internal error ("
                    + ex.getClass().getName()
                    + (ex.getMessage() == null ? "" : ": " + Text.oneLine(ex.getMessage(), 1000)) + ")"
                    + (debug ? "" : "; run with --debug for details");
        }
        err.println(Text.oneLine(line, 1000));
        if (debug) {
            ex.printStackTrace(err);
        }
        err.flush();
        return code;
    }

    private static boolean isDeliver(CommandLine cl) {
        return cl != null && cl.getCommand() instanceof DeliverCmd;
    }
}
