package org.cryptforward.cli;

import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.ZoneId;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.cryptforward.config.Config;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.queue.Queue;
import org.cryptforward.queue.QueueEntry;
import org.cryptforward.queue.QueueListing;
import org.cryptforward.queue.QueueRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code queue}: the encrypted forwards that {@code sendmail} queued and the relay has not accepted yet. */
@Command(
        name = "queue",
        description =
                "The queue of encrypted forwards not yet accepted by the relay (sendmail mode): list, run, remove.",
        subcommands = {QueueCmd.ListCmd.class, QueueCmd.Run.class, QueueCmd.Remove.class})
final class QueueCmd implements Runnable {
    @Option(
            names = "--config",
            paramLabel = "FILE",
            scope = picocli.CommandLine.ScopeType.INHERIT,
            description =
                    "Configuration file (default: $CRYPTFORWARD_CONFIG, else /etc/cryptforward/cryptforward.toml).")
    Path config;

    private final Context context;

    QueueCmd(Context context) {
        this.context = context;
    }

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(
                new picocli.CommandLine(this), "a queue command is required: list, run or remove");
    }

    QueueRunner runner() throws Failure {
        Config cfg = DeliverCmd.loadConfig(ConfigLoader.locate(config, context.env()));
        return new QueueRunner(cfg, context.clock(), new SecureRandom(), SendmailCmd.log(cfg, context));
    }

    @Command(
            name = "list",
            description = "List the queue as mailq does: ID, size, arrival time, sender, last error, recipients."
                    + " Entries given up on are marked '!'.")
    static final class ListCmd implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        QueueCmd parent;

        @Override
        public Integer call() throws Failure {
            QueueRunner r = parent.runner();
            parent.context
                    .out()
                    .print(QueueListing.format(r.queue().entries(), r.queue().aside(), ZoneId.systemDefault()));
            parent.context.out().flush();
            return ExitCodes.OK;
        }
    }

    @Command(
            name = "run",
            description = {
                "Try to send every queued forward now, and print what happened.",
                "With --due, only those whose next attempt is due, silently: what the timer or cron line that install.sh --sendmail sets up runs."
            })
    static final class Run implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        QueueCmd parent;

        @Option(names = "--due", description = "Only the entries whose next attempt is due; print nothing.")
        boolean due;

        @Override
        public Integer call() throws Failure {
            QueueRunner r = parent.runner();
            java.time.Instant now = parent.context.clock().instant();
            QueueRunner.Report report = due ? r.runDue(now) : r.runAll(now);
            if (!due) {
                parent.context.out().println("queue: " + report);
                parent.context.out().flush();
            }
            return ExitCodes.OK;
        }
    }

    @Command(
            name = "remove",
            description = "Delete a queued forward (waiting or given up) by its queue ID, as queue list shows it.")
    static final class Remove implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        QueueCmd parent;

        @Parameters(paramLabel = "ID", description = "The queue ID.")
        String id;

        @Override
        public Integer call() throws Failure {
            Queue queue = parent.runner().queue();
            Optional<QueueEntry> entry = queue.find(id);
            if (entry.isEmpty()) {
                throw Failure.usage("no queue entry " + SendmailArgs.printable(id));
            }
            Optional<Queue.Held> held = queue.hold(entry.get());
            if (held.isEmpty()) {
                throw Failure.temporary(
                        "4.4.7", "queue entry " + entry.get().id() + " is being sent right now; try again in a moment");
            }
            try (Queue.Held h = held.get()) {
                h.delete();
            }
            parent.context.out().println("removed " + entry.get().id());
            parent.context.out().flush();
            return ExitCodes.OK;
        }
    }
}
