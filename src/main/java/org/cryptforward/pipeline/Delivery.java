package org.cryptforward.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.cryptforward.Deadline;
import org.cryptforward.ExitCodes;
import org.cryptforward.Failure;
import org.cryptforward.config.Config;
import org.cryptforward.config.Rule;
import org.cryptforward.delivery.LocalMailbox;
import org.cryptforward.delivery.Maildir;
import org.cryptforward.delivery.Mbox;
import org.cryptforward.journal.Journal;
import org.cryptforward.log.MailLog;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.OutboundMessage;
import org.cryptforward.relay.SmtpRelay;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.EnvelopeResolver;
import org.cryptforward.rules.Router;

/**
 * The one place that orders the side effects of a delivery.
 *
 * <p>read all input → find envelope and rule → decide what to do (the {@link Plan}: forward
 * encrypted, pass an already encrypted message through, send a content-free notice, keep locally
 * only, or defer) → lock the message's journal entry → local copy (durable, recorded) → for each
 * forward still missing: encrypt and relay (recorded on 250) → one log line → the exit code. Each
 * step is durable before the next relies on it; nothing is acknowledged before the local copy is
 * fsynced and every forward got its 250. A retry after a temporary failure does only what the
 * journal does not show as done. {@code --dry-run} makes the same plan and prints it instead.
 */
public final class Delivery {
    /** Input kept in memory before spooling (encrypted) to disk. */
    static final long SPOOL_MEMORY = 1 << 20;
    static final int FIELD_LIMIT = 64 * 1024;

    private static final Set<String> ALWAYS_WANTED = Set.of(
            "from", "subject", "to", "cc", "date", "message-id", "in-reply-to", "references", "content-type",
            "content-transfer-encoding", "mime-version", "delivered-to", "x-original-to", "return-path",
            Config.LOOP_HEADER.toLowerCase(Locale.ROOT));

    /** What the caller (the MTA, or an admin with --dry-run) asked for. */
    public record Request(Optional<String> recipient, Optional<String> sender, boolean dryRun) {}

    /** How the run ended: the exit code, the status line for the MTA (empty on success) and the log line. */
    public record Outcome(int exitCode, Optional<String> statusLine, String logLine) {}

    private final Config config;
    private final Clock clock;
    private final SecureRandom random;
    private final Map<String, String> env;
    private final MailLog log;
    private final Deadline deadline;
    private final PrintStream dryRunOut;

    public Delivery(
            Config config, Clock clock, SecureRandom random, Map<String, String> env, MailLog log, Deadline deadline, PrintStream dryRunOut) {
        this.config = config;
        this.clock = clock;
        this.random = random;
        this.env = env;
        this.log = log;
        this.deadline = deadline;
        this.dryRunOut = dryRunOut;
    }

    public Outcome run(InputStream stdin, Request request) throws Failure, IOException {
        Router router = new Router(config.rules());
        boolean exim = env.containsKey("LOCAL_PART") && env.containsKey("MESSAGE_ID");
        Path tempDir = request.dryRun() ? Path.of(System.getProperty("java.io.tmpdir")) : config.tempDir();
        try (InputMessage message = readInput(stdin, tempDir, exim)) {
            HeaderSection header = HeaderSection.parse(message, wantedHeaders(router));
            Envelope envelope = EnvelopeResolver.resolve(
                    request.recipient().orElse(null), request.sender().orElse(null), env, header, message);
            Optional<Rule> rule = router.route(envelope, header).map(Router.Match::rule);
            LogLine line = new LogLine(header.value("Message-ID", FIELD_LIMIT).orElse(""), envelope, message.length());
            line.rule(rule.map(Rule::name).orElse("(none)"));
            Plan plan = new Planner(config, clock, random).plan(header, envelope, rule);
            line.relay(rule.isPresent() ? config.relay().address() : "none");
            plan.keys().ifPresent(k -> line.keys(k.fingerprints()));
            plan.note().ifPresent(line::note);
            plan.warning().ifPresent(line::warning);
            if (request.dryRun()) {
                return dryRun(plan, line);
            }
            Journal journal = new Journal(config.stateDir(), config.stateRetention(), clock);
            String key = Journal.key(envelope.recipient().orElse(""), message.digest());
            Outcome outcome;
            try (Journal.Entry entry = journal.open(key, deadline)) {
                outcome = deliver(message, envelope, plan, entry, key, line);
            }
            journal.prune(); // after the entry is closed: pruning opens other entries of this process
            return outcome;
        }
    }

    /** The header fields a delivery looks at: the ones always needed and those the rules name. */
    static Set<String> wantedHeaders(Router router) {
        Set<String> wanted = new HashSet<>(ALWAYS_WANTED);
        wanted.addAll(router.headerNames());
        return wanted;
    }

    private InputMessage readInput(InputStream stdin, Path tempDir, boolean exim) throws Failure {
        try {
            return InputMessage.read(stdin, tempDir, SPOOL_MEMORY, exim);
        } catch (IOException e) {
            throw Failure.temporary("4.3.0", "cannot read the message: " + describe(e), e);
        } catch (RuntimeException e) {
            if (e.getCause() instanceof IOException io) {
                throw Failure.temporary(io.getMessage() != null && io.getMessage().contains("No space") ? "4.3.1" : "4.3.0",
                        "cannot spool the message in " + tempDir + ": " + describe(io), e);
            }
            throw e;
        }
    }

    private Outcome deliver(InputMessage message, Envelope envelope, Plan plan, Journal.Entry entry, String key, LogLine line)
            throws Failure, IOException {
        if (plan.failure().isPresent()) {
            line.status("deferred", plan.outcome());
            log.log(MailLog.Level.WARNING, line.toString());
            throw plan.failure().get();
        }
        String localCopy = "none";
        if (plan.keepLocal()) {
            localCopy = localCopy(message, envelope, entry, key).toString();
        }
        line.local(localCopy);
        if (plan.forwarder().isEmpty()) {
            line.status("sent", plan.outcome());
            return done(line);
        }
        List<String> pending = new ArrayList<>();
        for (String to : plan.forwardTo()) {
            if (!entry.has("sent " + to) && !entry.has("notice " + to)) {
                pending.add(to);
            }
        }
        if (pending.isEmpty()) {
            line.status("sent", "already delivered by an earlier run");
            return done(line);
        }

        String envelopeFrom = config.relay().envelopeFrom().orElse(envelope.sender());
        SmtpRelay relay = new SmtpRelay(config.relay(), config.hostname(), deadline);
        List<String> sent = new ArrayList<>();
        Failure temporary = null;
        Failure permanent = null;
        SmtpRelay.Connection connection = null;
        try {
            for (String to : pending) {
                if (deadline.passed()) {
                    // out of time, or cancelled (the service's client went away): relay nothing more
                    temporary = temporary == null ? Failure.temporary("4.4.7", "deadline reached before relaying to " + to) : temporary;
                    break;
                }
                OutboundMessage out = plan.forwarder().get().forwardTo(to, localCopy);
                try {
                    if (connection == null) {
                        connection = relay.connect();
                    }
                    connection.send(out, envelopeFrom, to);
                    entry.record((plan.notice() ? "notice " : "sent ") + to);
                    sent.add(to + " as " + out.messageId());
                } catch (Failure f) {
                    if (connection != null) {
                        connection.close(); // the session's state is unknown after a failure: start afresh
                        connection = null;
                    }
                    if (f.isTemporary()) {
                        temporary = temporary == null ? f : temporary;
                    } else {
                        permanent = permanent == null ? f : permanent;
                    }
                }
            }
        } finally {
            if (connection != null) {
                connection.close();
            }
        }
        String partly = sent.isEmpty() ? "" : "; " + plan.outcome() + " to " + String.join(", ", sent);
        if (temporary != null) {
            line.status("deferred", temporary.statusLine() + partly);
            log.log(MailLog.Level.WARNING, line.toString());
            throw temporary;
        }
        if (permanent != null) {
            line.status("bounced", permanent.statusLine() + partly);
            log.log(MailLog.Level.WARNING, line.toString());
            throw permanent;
        }
        line.status("sent", plan.outcome() + " to " + String.join(", ", sent));
        return done(line);
    }

    private Outcome done(LogLine line) {
        log.log(line.hasWarning() ? MailLog.Level.WARNING : MailLog.Level.INFO, line.toString());
        return new Outcome(ExitCodes.OK, Optional.empty(), line.toString());
    }

    /**
     * Writes the local copy unless the journal shows it written; records it as written only once
     * it is fsynced. A run killed in the middle is recognised by the next one:
     *
     * <ul>
     *   <li>Maildir: the unique name is recorded before the file is written. If the retry finds
     *       that name in new/ (or cur/), the copy was made; otherwise the leftover in tmp/ is
     *       removed and the message is written again under a new name.
     *   <li>mbox: the append is announced in a pending record (see {@code MboxRecovery}) that the
     *       next holder of the mailbox locks repairs: a torn append is cut off, a complete one
     *       kept, and the outcome left under this message's journal key. The retry takes the
     *       locks (repairing, if no one else has yet), and records the copy as done if the
     *       outcome says complete, or writes it again.
     * </ul>
     */
    private Path localCopy(InputMessage message, Envelope envelope, Journal.Entry entry, String key) throws Failure {
        Optional<String> done = entry.last("local");
        if (done.isPresent()) {
            return Path.of(done.get());
        }
        LocalMailbox mailbox = mailbox();
        if (mailbox instanceof Maildir maildir) {
            Optional<String> intent = entry.last("maildir-intent");
            if (intent.isPresent()) {
                maildir.discardTemporary(intent.get());
                if (maildir.contains(intent.get())) {
                    Path p = maildir.path().resolve("new").resolve(intent.get());
                    entry.record("local " + p);
                    return p;
                }
            }
            String name = maildir.uniqueName();
            entry.record("maildir-intent " + name);
            Path p = maildir.storeAs(message::open, name);
            entry.record("local " + p);
            return p;
        }
        Mbox mbox = (Mbox) mailbox;
        Mbox.Measured measured = mbox.measure(message::open, envelope.sender());
        try (Mbox.Lock lock = mbox.lock()) {
            Optional<Mbox.Recovered> earlier = lock.recovered(key);
            if (earlier.isPresent() && earlier.get() == Mbox.Recovered.COMPLETE) {
                entry.record("local " + mbox.path());
                lock.forget(key);
                return mbox.path();
            }
            lock.append(measured, key);
            entry.record("local " + mbox.path());
            lock.commit();
            if (earlier.isPresent()) {
                lock.forget(key);
            }
            return mbox.path();
        }
    }

    LocalMailbox mailbox() {
        if (config.local().maildir()) {
            return new Maildir(config.local().mailbox(), config.hostname(), clock, random);
        }
        return new Mbox(config.local().mailbox(), config.stateDir(), config.stateRetention(), clock, config.local().lockTimeout(), deadline);
    }

    /** Everything but the side effects: prints the log line and each forward as it would be sent. */
    private Outcome dryRun(Plan plan, LogLine line) throws IOException {
        String local = plan.keepLocal() ? config.local().mailbox().toString() : "none";
        line.local(local);
        List<OutboundMessage> outs = new ArrayList<>();
        if (plan.failure().isPresent()) {
            line.status("deferred", "dry run: would defer: " + plan.failure().get().getMessage());
        } else if (plan.forwarder().isEmpty()) {
            line.status("sent", "dry run: " + plan.outcome());
        } else {
            for (String to : plan.forwardTo()) {
                outs.add(plan.forwarder().get().forwardTo(to, local));
            }
            line.status("sent", "dry run: would be " + plan.outcome() + " to " + String.join(", ", plan.forwardTo()));
        }
        dryRunOut.println(line);
        for (OutboundMessage out : outs) {
            dryRunOut.println();
            out.writeTo(dryRunOut);
        }
        dryRunOut.flush();
        return new Outcome(ExitCodes.OK, Optional.empty(), line.toString());
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }
}
