package org.cryptforward.service;

import java.io.InputStream;
import java.io.PrintStream;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.Deadline;
import org.cryptforward.ExitCodes;
import org.cryptforward.Failure;
import org.cryptforward.config.Config;
import org.cryptforward.log.FileMailLog;
import org.cryptforward.log.MailLog;
import org.cryptforward.log.SyslogMailLog;
import org.cryptforward.pipeline.Delivery;

/**
 * One request's delivery, with the same code {@code deliver} runs in-process: a fresh
 * {@link Delivery} given this request's input, environment, deadline and output, and the same
 * mapping of its end to an exit code and one status line as the command line's. Nothing is shared
 * with other requests but the configuration, which is immutable.
 */
final class ServiceDelivery {
    private ServiceDelivery() {}

    /** What a client asked for. */
    record Request(Optional<String> recipient, Optional<String> sender, boolean dryRun, boolean debug, Map<String, String> env) {}

    static int run(Config config, Clock clock, Deadline deadline, InputStream in, PrintStream out, PrintStream err, Request request) {
        try {
            MailLog log = config.logFile().<MailLog>map(f -> new FileMailLog(f, clock))
                    .orElseGet(() -> new SyslogMailLog(config.syslogSocket().toFile(), clock));
            Delivery delivery = new Delivery(config, clock, new SecureRandom(), request.env(), log, deadline, out);
            Delivery.Outcome outcome = delivery.run(in, new Delivery.Request(request.recipient(), request.sender(), request.dryRun()));
            out.flush();
            return outcome.exitCode() == ExitCodes.OK ? ExitCodes.OK : outcome.exitCode();
        } catch (Failure f) {
            err.println(oneLine(f.statusLine()));
            if (request.debug()) {
                f.printStackTrace(err);
            }
            return f.exitCode();
        } catch (Exception | Error e) {
            // an OutOfMemoryError ends the whole service (-XX:+ExitOnOutOfMemoryError): every client then gets its 75
            err.println(oneLine("4.3.0 cryptforward: internal error (" + e.getClass().getName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")" + (request.debug() ? "" : "; run with --debug for details")));
            if (request.debug()) {
                e.printStackTrace(err);
            }
            return ExitCodes.TEMPFAIL;
        }
    }

    static String oneLine(String s) {
        StringBuilder sb = new StringBuilder(Math.min(s.length(), 1000));
        for (int i = 0; i < s.length() && sb.length() < 1000; i++) {
            char c = s.charAt(i);
            sb.append(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
        }
        return sb.toString();
    }
}
