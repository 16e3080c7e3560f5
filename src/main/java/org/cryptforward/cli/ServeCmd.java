package org.cryptforward.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.Channel;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.cryptforward.config.Config;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Text;
import org.cryptforward.queue.QueueRunner;
import org.cryptforward.service.Service;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code serve}: the resident delivery service, in the foreground, until SIGTERM (or SIGINT).
 * SIGHUP reloads the configuration. Under systemd with socket activation it takes the listening
 * socket from its standard input and exits when idle; under any other supervisor it makes its
 * own socket. Exit 0 after a clean stop, 78 when it cannot start (configuration, socket).
 */
@Command(
        name = "serve",
        description = {
            "Run the resident delivery service for one configuration: deliver hands messages to it over a Unix socket"
                    + " ([service] socket) and ends with its result; without it, deliver works in-process as before.",
            "Runs in the foreground until SIGTERM; SIGHUP reloads the configuration. Exit status 0 after a stop, 78 when it cannot start."
        })
public final class ServeCmd implements Callable<Integer> {
    @Mixin
    ConfigFile config = new ConfigFile();

    @Option(
            names = "--verbose",
            description = "Log every request (its end and exit code, never its content) on standard error.")
    boolean verbose;

    private final Context context;

    ServeCmd(Context context) {
        this.context = context;
    }

    @Override
    public Integer call() throws InterruptedException {
        Service service = service(config.locate(context.env()), context.clock(), context.err(), verbose);
        // the queue of encrypted forwards (sendmail mode) is run from here too; the timer or cron
        // line may run beside it, the entries' locks keep one runner per entry
        service.every(QUEUE_INTERVAL, new QueueTick(service, context));
        Channel inherited = null;
        try {
            inherited = System.inheritedChannel();
        } catch (IOException | SecurityException e) {
            // not started by systemd with a socket
        }
        try {
            service.start(inherited);
        } catch (Service.StartException e) {
            context.err().println("cryptforward: " + Text.oneLine(e.getMessage(), 1000));
            return ExitCodes.CONFIG;
        }
        if (context.ownsProcess()) {
            Signals.handle(service);
        }
        service.await();
        return ExitCodes.OK;
    }

    /** How often the service looks for queued forwards that are due. */
    static final Duration QUEUE_INTERVAL = Duration.ofSeconds(30);

    /** One look at the queue: the due entries sent, those past their lifetime given up. */
    static final class QueueTick implements Runnable {
        private final Service service;
        private final Context context;

        QueueTick(Service service, Context context) {
            this.service = service;
            this.context = context;
        }

        @Override
        public void run() {
            Optional<Config> cfg = service.config();
            if (cfg.isEmpty()) {
                return; // a broken configuration: the service says so per request
            }
            try {
                new QueueRunner(cfg.get(), context.clock(), new SecureRandom(), SendmailCmd.log(cfg.get(), context))
                        .runDue(context.clock().instant());
            } catch (Failure f) {
                service.log("queue: " + f.statusLine());
            }
        }
    }

    /** The service for {@code config}, its deliveries wired as {@code deliver}'s ({@link DeliverCmd#ports}). */
    public static Service service(Path config, Clock clock, PrintStream log, boolean verbose) {
        return new Service(config, clock, log, verbose, DeliverCmd::ports);
    }

    /** SIGTERM and SIGINT stop, SIGHUP reloads; instead of the process's default (a shutdown hook's 75). */
    static final class Signals {
        private Signals() {}

        @SuppressWarnings("removal")
        static void handle(Service service) {
            sun.misc.SignalHandler stop =
                    sig -> new Thread(() -> service.stop(service.stopTimeout()), "service-stop").start();
            sun.misc.Signal.handle(new sun.misc.Signal("TERM"), stop);
            sun.misc.Signal.handle(new sun.misc.Signal("INT"), stop);
            sun.misc.Signal.handle(
                    new sun.misc.Signal("HUP"), sig -> new Thread(service::reload, "service-reload").start());
        }
    }
}
