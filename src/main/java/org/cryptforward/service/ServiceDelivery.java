package org.cryptforward.service;

import java.io.InputStream;
import java.io.PrintStream;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Text;
import org.cryptforward.log.FileMailLog;
import org.cryptforward.log.MailLog;
import org.cryptforward.log.SyslogMailLog;
import org.cryptforward.pipeline.Delivery;
import org.cryptforward.pipeline.Planner;

/**
 * One request's delivery, with the same code {@code deliver} runs in-process: a fresh
 * {@link Delivery} given this request's input, environment, deadline and output, and the real
 * ports wired by the command line ({@link DeliveryWiring}, the same as in-process), and the same mapping
 * of its end to an exit code and one status line as the command line's. Nothing is shared with
 * other requests but the configuration, which is immutable.
 */
final class ServiceDelivery {
    private ServiceDelivery() {}

    /** What a client asked for. */
    record Request(
            Optional<String> recipient,
            Optional<String> sender,
            boolean dryRun,
            boolean debug,
            Map<String, String> env) {}

    static int run(
            DeliveryWiring wiring,
            Config config,
            Clock clock,
            Deadline deadline,
            InputStream in,
            PrintStream out,
            PrintStream err,
            Request request) {
        try {
            MailLog log = config.logFile()
                    .<MailLog>map(f -> new FileMailLog(f, clock))
                    .orElseGet(() -> new SyslogMailLog(config.syslogSocket().toFile(), clock));
            SecureRandom random = new SecureRandom();
            Delivery delivery = new Delivery(
                    config,
                    new Planner(config, clock, random),
                    wiring.ports(config, clock, random, deadline),
                    request.env(),
                    log,
                    deadline,
                    out);
            delivery.run(in, new Delivery.Request(request.recipient(), request.sender(), request.dryRun()));
            out.flush();
            return ExitCodes.OK; // every other ending is a Failure
        } catch (Exception | Error e) {
            // an OutOfMemoryError ends the whole service (-XX:+ExitOnOutOfMemoryError): every client then gets its 75
            String line = e instanceof Failure f
                    ? f.statusLine()
                    : "4.3.0 cryptforward: internal error (" + e.getClass().getName()
                            + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")"
                            + (request.debug() ? "" : "; run with --debug for details");
            err.println(Text.oneLine(line, 1000));
            if (request.debug()) {
                e.printStackTrace(err);
            }
            return ExitCodes.forDeliver(ExitCodes.of(e));
        }
    }
}
