package org.cryptforward.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.time.Clock;
import java.util.Map;
import org.cryptforward.ExitCodes;
import org.cryptforward.Failure;
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
        subcommands = {DeliverCmd.class, KeyCmd.class, CheckCmd.class, TestCmd.class, ServeCmd.class, CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            " 0:done: the local copy is on disk and every forward was accepted",
            "64:wrong command line",
            "65:bad input data (key import: a secret key, garbage)",
            "69:a forward was permanently rejected by the relay (the MTA bounces)",
            "75:temporary failure: the MTA keeps the message and retries"
        })
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
    public static int run(InputStream in, PrintStream out, PrintStream err, Map<String, String> env, Clock clock, boolean ownsProcess,
            String... args) {
        return Entry.run(in, out, err, env, clock, ownsProcess, args);
    }

    /** Everything but the fast path of {@code deliver}: picocli reads the arguments. */
    static int execute(Context context, String... args) {
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
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintStream err = context.err();
            boolean deliver = isDeliver(ex.getCommandLine());
            err.println((deliver ? "5.5.4 " : "") + "cryptforward: " + oneLine(ex.getMessage()));
            if (!deliver) {
                err.println("Try 'cryptforward --help' or 'cryptforward help COMMAND'.");
            }
            return ExitCodes.USAGE;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            boolean debug = parseResult.hasMatchedOption("--debug") || commandLine.getParseResult().hasMatchedOption("--debug");
            return report(ex, context.err(), isDeliver(commandLine), debug);
        });
        return cl;
    }

    /** The one place where a failure becomes a line and an exit code. */
    static int report(Throwable ex, PrintStream err, boolean deliver, boolean debug) {
        int code;
        String line;
        if (ex instanceof Failure f) {
            code = f.exitCode();
            line = deliver ? f.statusLine() : "cryptforward: " + oneLine(f.getMessage());
        } else {
            code = ExitCodes.TEMPFAIL;
            line = (deliver ? "4.3.0 " : "") + "cryptforward: internal error (" + ex.getClass().getName()
                    + (ex.getMessage() == null ? "" : ": " + oneLine(ex.getMessage())) + ")" + (debug ? "" : "; run with --debug for details");
        }
        err.println(oneLine(line));
        if (debug) {
            ex.printStackTrace(err);
        }
        err.flush();
        return code;
    }

    private static boolean isDeliver(CommandLine cl) {
        return cl != null && cl.getCommand() instanceof DeliverCmd;
    }

    static String oneLine(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(Math.min(s.length(), 1000));
        for (int i = 0; i < s.length() && sb.length() < 1000; i++) {
            char c = s.charAt(i);
            sb.append(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
        }
        return sb.toString();
    }
}
