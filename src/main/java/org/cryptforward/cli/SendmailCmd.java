package org.cryptforward.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.cryptforward.config.Config;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.log.FileMailLog;
import org.cryptforward.log.MailLog;
import org.cryptforward.log.SyslogMailLog;
import org.cryptforward.pipeline.Submission;
import org.cryptforward.queue.QueueListing;
import org.cryptforward.queue.QueueRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code sendmail}: cryptforward as {@code /usr/sbin/sendmail} on a host without an MTA.
 *
 * <p>Its command line is sendmail's, not picocli's: {@link Cli#run} hands every argument after
 * {@code sendmail} to {@link #execute}, which reads them with {@link SendmailArgs}. This class is
 * in picocli's model only so that {@code help sendmail}, the manual page test and the completion
 * know the command.
 */
@Command(
        name = "sendmail",
        description = {
            "For hosts without an MTA (installed as /usr/sbin/sendmail, mailq and newaliases by install.sh --sendmail):"
                    + " read a message from standard input, keep it locally and queue its encrypted forward; exit 0 once it is safe.",
            "Takes sendmail's command line: -t, -i, -oi, -f SENDER, -r SENDER, -F NAME, -bm, -bp (mailq), -bi (newaliases), -q,"
                    + " -odq, -v, --; options that mean nothing here (-oem, -odb, -B8BITMIME, -N, ...) are ignored and logged."
        })
final class SendmailCmd implements Callable<Integer> {
    /** Set by install.sh's wrapper: the user who ran sendmail, before it became the cryptforward user. */
    static final String SUBMITTER_VARIABLE = "CRYPTFORWARD_SUBMITTER";

    @Parameters(
            paramLabel = "ARGUMENT",
            arity = "0..*",
            description = "sendmail's options and the recipients (see SENDMAIL in the manual).")
    List<String> arguments = new ArrayList<>();

    private final Context context;

    SendmailCmd(Context context) {
        this.context = context;
    }

    @Override
    public Integer call() {
        return execute(context, arguments, false);
    }

    /** Runs {@code sendmail ARGS}; returns the exit code, never throws. */
    static int execute(Context context, List<String> args, boolean debug) {
        PrintStream err = context.err();
        SendmailArgs a;
        try {
            a = SendmailArgs.parse(args);
        } catch (Failure f) {
            err.println("cryptforward: sendmail: " + org.cryptforward.core.Text.oneLine(f.getMessage(), 1000));
            err.flush();
            return f.exitCode();
        }
        boolean showStack = debug || a.debug();
        try {
            Path file = ConfigLoader.locate(a.config().map(Path::of).orElse(null), context.env());
            Config config = DeliverCmd.loadConfig(file);
            MailLog log = log(config, context);
            switch (a.mode()) {
                case LIST_QUEUE -> {
                    QueueRunner runner = new QueueRunner(config, context.clock(), new SecureRandom(), log);
                    context.out()
                            .print(QueueListing.format(
                                    runner.queue().entries(), runner.queue().aside(), ZoneId.systemDefault()));
                    context.out().flush();
                    return ExitCodes.OK;
                }
                case REBUILD_ALIASES -> {
                    context.out()
                            .println(
                                    "newaliases: cryptforward has no alias database; where mail goes is decided by the rules in "
                                            + file);
                    context.out().flush();
                    return ExitCodes.OK;
                }
                case RUN_QUEUE -> {
                    QueueRunner runner = new QueueRunner(config, context.clock(), new SecureRandom(), log);
                    QueueRunner.Report r = runner.runAll(context.clock().instant());
                    if (a.verbose()) {
                        context.out().println("queue: " + r);
                    }
                    return ExitCodes.OK;
                }
                default -> {
                    // below
                }
            }
            if (context.ownsProcess()) {
                Watchdog.arm(config.deadline(), err);
            }
            Deadline deadline = new Deadline(context.clock(), config.deadline());
            String note = a.ignored().isEmpty() ? "" : "ignored sendmail options: " + String.join(" ", a.ignored());
            Submission.Request request = new Submission.Request(
                    a.recipients(),
                    a.extractRecipients(),
                    a.sender(),
                    a.fullName(),
                    a.ignoreDots(),
                    a.queueOnly(),
                    submitter(context),
                    note);
            Submission.Outcome outcome = new Submission(config, context.clock(), new SecureRandom(), log, deadline)
                    .run(context.in(), request);
            if (a.verbose()) {
                outcome.logLines().forEach(l -> err.println("cryptforward: " + l));
                err.flush();
            }
            return outcome.exitCode();
        } catch (Exception | Error e) {
            return Cli.report(e, err, false, showStack);
        }
    }

    /** Who ran sendmail: as install.sh's wrapper says, else the login name cron and login set, else the process's user. */
    static String submitter(Context context) {
        for (String v : Arrays.asList(SUBMITTER_VARIABLE, "LOGNAME", "USER")) {
            String s = context.env().get(v);
            if (s != null && s.matches("[A-Za-z0-9._-]{1,64}")) {
                return s;
            }
        }
        return Optional.ofNullable(System.getProperty("user.name"))
                .filter(s -> s.matches("[A-Za-z0-9._-]{1,64}"))
                .orElse("root");
    }

    static MailLog log(Config cfg, Context context) {
        return cfg.logFile()
                .<MailLog>map(f -> new FileMailLog(f, context.clock()))
                .orElseGet(() -> new SyslogMailLog(cfg.syslogSocket().toFile(), context.clock()));
    }
}
