package org.cryptforward.cli;

import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.cryptforward.config.Config;
import org.cryptforward.config.ConfigException;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.config.ConfigProblem;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.delivery.LocalMailbox;
import org.cryptforward.delivery.Maildir;
import org.cryptforward.delivery.Mbox;
import org.cryptforward.journal.Journal;
import org.cryptforward.log.FileMailLog;
import org.cryptforward.log.MailLog;
import org.cryptforward.log.SyslogMailLog;
import org.cryptforward.pipeline.Delivery;
import org.cryptforward.pipeline.Planner;
import org.cryptforward.relay.SmtpRelay;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code deliver}: the pipe target of an MTA. */
@Command(
        name = "deliver",
        description = {
            "Read one message from standard input, keep it locally, and forward it encrypted.",
            "This is what /etc/aliases or a .forward file runs. On failure it prints one line starting"
                    + " with an RFC 3463 status code and exits 75 (the MTA retries) or 69 (the MTA bounces)."
        })
final class DeliverCmd implements Callable<Integer> {
    @Mixin
    ConfigFile config = new ConfigFile();

    @Option(
            names = "--recipient",
            paramLabel = "ADDRESS",
            description = "Envelope recipient (default: from the MTA's environment or the headers).")
    String recipient;

    @Option(
            names = "--sender",
            paramLabel = "ADDRESS",
            description = "Envelope sender (default: $SENDER, Return-Path, the From_ line; else <>).")
    String sender;

    @Option(
            names = "--dry-run",
            description = "Do everything but write and relay: print the log line and the encrypted message(s).")
    boolean dryRun;

    /** Set by the fast path; with picocli, {@code --debug} is the top command's inherited option. */
    boolean debug;

    private final Context context;

    DeliverCmd(Context context) {
        this.context = context;
    }

    @Override
    public Integer call() throws Failure, java.io.IOException {
        if (context.ownsProcess() && !dryRun) {
            // before anything is read: the configuration itself could hang (a FIFO, a stalled mount)
            Watchdog.arm(Watchdog.DEFAULT, context.err());
        }
        Config cfg = loadConfig(config.locate(context.env()));
        Deadline deadline = new Deadline(context.clock(), cfg.deadline());
        if (context.ownsProcess() && !dryRun) {
            Watchdog.arm(cfg.deadline(), context.err());
        }
        FileMailLog fileLog =
                cfg.logFile().map(f -> new FileMailLog(f, context.clock())).orElse(null);
        MailLog log =
                fileLog != null ? fileLog : new SyslogMailLog(cfg.syslogSocket().toFile(), context.clock());
        SecureRandom random = new SecureRandom();
        Delivery delivery = new Delivery(
                cfg,
                new Planner(cfg, context.clock(), random),
                ports(cfg, context.clock(), random, deadline),
                context.env(),
                log,
                deadline,
                context.out());
        int code = ExitCodes.OK; // every other ending is a Failure, mapped to its exit code by Cli
        try {
            delivery.run(
                    context.in(),
                    new Delivery.Request(Optional.ofNullable(recipient), Optional.ofNullable(sender), dryRun));
            context.out().flush();
        } catch (Failure f) {
            if (fileLog == null || fileLog.lost() == null) {
                throw f;
            }
            // the status line first, as the MTA reads it; then why the log line is missing
            code = Cli.report(f, context.err(), true, debug);
        }
        if (fileLog != null && fileLog.lost() != null) {
            context.err().println(fileLog.lost());
            context.err().flush();
        }
        return code;
    }

    /** The real side effects of a delivery: the configured mailbox, the journal in state_dir, the SMTP relay. */
    static Delivery.Ports ports(Config cfg, Clock clock, SecureRandom random, Deadline deadline) {
        LocalMailbox local = cfg.local().maildir()
                ? new Maildir(cfg.local().mailbox(), cfg.hostname(), clock, random)
                : new Mbox(
                        cfg.local().mailbox(),
                        cfg.stateDir(),
                        cfg.stateRetention(),
                        clock,
                        cfg.local().lockTimeout(),
                        deadline);
        return new Delivery.Ports(
                local,
                new Journal(cfg.stateDir(), cfg.stateRetention(), clock),
                new SmtpRelay(cfg.relay(), cfg.hostname(), deadline));
    }

    /** Loads the configuration; any problem is a temporary failure naming file and line. */
    static Config loadConfig(Path file) throws Failure {
        try {
            return ConfigLoader.load(file);
        } catch (ConfigException e) {
            StringBuilder sb = new StringBuilder("configuration error: ");
            int shown = 0;
            for (ConfigProblem p : e.problems()) {
                if (shown++ == 3) {
                    sb.append("; and ").append(e.problems().size() - 3).append(" more (run cryptforward check)");
                    break;
                }
                if (shown > 1) {
                    sb.append("; ");
                }
                sb.append(p);
            }
            throw Failure.temporary("4.3.5", sb.toString());
        }
    }
}
