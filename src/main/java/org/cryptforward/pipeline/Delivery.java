package org.cryptforward.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.ZonedDateTime;
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
import org.cryptforward.message.ForwardComposer;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.OutboundMessage;
import org.cryptforward.relay.SmtpRelay;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.EnvelopeResolver;
import org.cryptforward.rules.LoopDetector;
import org.cryptforward.rules.Router;

/**
 * The one place that orders the side effects of a delivery.
 *
 * <p>read all input → find envelope and rule → lock the message's journal entry → local copy
 * (durable, recorded) → for each forward still missing: encrypt and relay (recorded on 250) →
 * one log line → the exit code. Each step is durable before the next one relies on it; nothing is
 * acknowledged before the local copy is fsynced and every forward got its 250. A retry after a
 * temporary failure does only what the journal does not show as done.
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
            Optional<Router.Match> match = router.route(envelope, header);
            Optional<Rule> rule = match.map(Router.Match::rule);
            LogLine line = new LogLine(header.value("Message-ID", FIELD_LIMIT).orElse(""), envelope, message.length());
            line.rule(rule.map(Rule::name).orElse("(none)"));

            if (request.dryRun()) {
                return dryRun(message, header, envelope, rule, line);
            }
            Journal journal = new Journal(config.stateDir(), config.stateRetention(), clock);
            String key = Journal.key(envelope.recipient().orElse(""), message.digest());
            try (Journal.Entry entry = journal.open(key, deadline)) {
                Outcome outcome = deliver(message, header, envelope, rule, entry, line);
                journal.prune();
                return outcome;
            }
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

    private Outcome deliver(
            InputMessage message, HeaderSection header, Envelope envelope, Optional<Rule> rule, Journal.Entry entry, LogLine line)
            throws Failure, IOException {
        boolean keepLocal = rule.isEmpty() || rule.get().localCopy();
        Optional<Path> localCopy = Optional.empty();
        if (keepLocal) {
            localCopy = Optional.of(localCopy(message, envelope, entry));
            line.local(localCopy.get().toString());
        } else {
            line.local("none");
        }
        if (rule.isEmpty()) {
            line.status("sent", "no rule matched: kept locally only");
            return done(line);
        }
        Rule r = rule.get();
        Optional<String> loop = LoopDetector.loop(header, config.hostname(), r.forwardTo());
        if (loop.isPresent()) {
            if (!keepLocal) {
                // never drop it: without a local copy, the loop must be resolved by the admin
                throw Failure.temporary("4.4.6", "mail forwarding loop (" + loop.get() + ") and the rule keeps no local copy");
            }
            line.status("sent", "kept locally, not forwarded: " + loop.get());
            return done(line);
        }

        List<String> pending = new ArrayList<>();
        for (String to : r.forwardTo()) {
            if (!entry.has("sent " + to) && !entry.has("notice " + to)) {
                pending.add(to);
            }
        }
        line.relay(config.relay().address());
        if (pending.isEmpty()) {
            line.status("sent", "already delivered by an earlier run");
            return done(line);
        }

        RuleKeys keys = RuleKeys.resolve(config.keyring(), r, java.util.Date.from(clock.instant()));
        line.keys(keys.fingerprints());
        ForwardComposer composer = new ForwardComposer(config.hostname(), clock, random);
        String envelopeFrom = config.relay().envelopeFrom().orElse(envelope.sender());
        if (keys.problem().isPresent() && !keepLocal) {
            line.status("deferred", keys.problem().get() + "; no local copy, so nothing sent");
            log.log(MailLog.Level.WARNING, line.toString());
            throw Failure.temporary("4.7.5", "cannot encrypt for rule " + r.name() + ": " + keys.problem().get());
        }

        SmtpRelay relay = new SmtpRelay(config.relay(), config.hostname(), deadline);
        List<String> sent = new ArrayList<>();
        Failure temporary = null;
        Failure permanent = null;
        SmtpRelay.Connection connection = null;
        try {
            for (String to : pending) {
                OutboundMessage out;
                String record;
                if (keys.problem().isPresent()) {
                    out = composer.notice(to, header.value("Message-ID", FIELD_LIMIT).orElse("(none)"), envelope.sender(),
                            ForwardComposerDates.now(clock), localCopy.map(Path::toString).orElse(""), keys.problem().get());
                    record = "notice " + to;
                } else {
                    out = composer.pgpMime(header, to, keys.encryptionKeys(), envelope.sender());
                    record = "sent " + to;
                }
                try {
                    if (connection == null) {
                        connection = relay.connect();
                    }
                    connection.send(out, envelopeFrom, to);
                    entry.record(record);
                    sent.add(to + (keys.problem().isPresent() ? " (notice)" : "") + " as " + out.messageId());
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
        if (keys.problem().isPresent()) {
            line.warning(keys.problem().get());
        }
        if (temporary != null) {
            line.status("deferred", temporary.statusLine() + sentSummary(sent));
            log.log(MailLog.Level.WARNING, line.toString());
            throw temporary;
        }
        if (permanent != null) {
            line.status("bounced", permanent.statusLine() + sentSummary(sent));
            log.log(MailLog.Level.WARNING, line.toString());
            throw permanent;
        }
        line.status("sent", (keys.problem().isPresent() ? "notice without content sent to " : "forwarded to ") + String.join(", ", sent));
        return done(line);
    }

    private Outcome done(LogLine line) {
        MailLog.Level level = line.hasWarning() ? MailLog.Level.WARNING : MailLog.Level.INFO;
        log.log(level, line.toString());
        return new Outcome(ExitCodes.OK, Optional.empty(), line.toString());
    }

    private static String sentSummary(List<String> sent) {
        return sent.isEmpty() ? "" : "; forwarded to " + String.join(", ", sent);
    }

    /**
     * Writes the local copy unless the journal shows it written. For a Maildir the unique name is
     * recorded before the file is linked into new/, so that a run killed in between is recognised.
     */
    private Path localCopy(InputMessage message, Envelope envelope, Journal.Entry entry) throws Failure {
        Optional<String> done = entry.last("local");
        if (done.isPresent()) {
            return Path.of(done.get());
        }
        LocalMailbox mailbox = mailbox();
        if (mailbox instanceof Maildir maildir) {
            Optional<String> intent = entry.last("maildir-intent");
            if (intent.isPresent()) {
                if (maildir.contains(intent.get())) {
                    Path p = maildir.path().resolve("new").resolve(intent.get());
                    entry.record("local " + p);
                    return p;
                }
                maildir.discardTemporary(intent.get());
            }
            String name = maildir.uniqueName();
            entry.record("maildir-intent " + name);
            Path p;
            try (InputStream in = message.open()) {
                p = maildir.storeAs(in, name);
            } catch (IOException e) {
                throw Failure.temporary("4.3.0", "cannot read the spooled message: " + describe(e), e);
            }
            entry.record("local " + p);
            return p;
        }
        Mbox mbox = (Mbox) mailbox;
        try (Mbox.Lock lock = mbox.lock(); InputStream in = message.open()) {
            entry.record("mbox-intent " + lock.size());
            mbox.append(lock, in, envelope.sender());
            entry.record("local " + mbox.path());
            return mbox.path();
        } catch (IOException e) {
            throw Failure.temporary("4.3.0", "cannot read the mailbox or spooled message: " + describe(e), e);
        }
    }

    LocalMailbox mailbox() {
        if (config.local().maildir()) {
            return new Maildir(config.local().mailbox(), config.hostname(), clock, random);
        }
        return new Mbox(config.local().mailbox(), clock, config.local().lockTimeout(), deadline);
    }

    private Outcome dryRun(InputMessage message, HeaderSection header, Envelope envelope, Optional<Rule> rule, LogLine line)
            throws IOException, Failure {
        boolean keepLocal = rule.isEmpty() || rule.get().localCopy();
        line.local(keepLocal ? config.local().mailbox().toString() : "none");
        if (rule.isEmpty()) {
            line.status("sent", "dry run: no rule matched, would keep locally only");
            dryRunOut.println(line);
            return new Outcome(ExitCodes.OK, Optional.empty(), line.toString());
        }
        Rule r = rule.get();
        line.relay(config.relay().address());
        RuleKeys keys = RuleKeys.resolve(config.keyring(), r, java.util.Date.from(clock.instant()));
        line.keys(keys.fingerprints());
        Optional<String> loop = LoopDetector.loop(header, config.hostname(), r.forwardTo());
        ForwardComposer composer = new ForwardComposer(config.hostname(), clock, random);
        List<OutboundMessage> outs = new ArrayList<>();
        if (loop.isPresent()) {
            line.status("sent", "dry run: would keep locally, not forward: " + loop.get());
        } else if (keys.problem().isPresent()) {
            line.warning(keys.problem().get());
            line.status(keepLocal ? "sent" : "deferred",
                    "dry run: " + (keepLocal ? "would send a notice without content instead" : "would defer: no local copy"));
            for (String to : r.forwardTo()) {
                if (keepLocal) {
                    outs.add(composer.notice(to, header.value("Message-ID", FIELD_LIMIT).orElse("(none)"), envelope.sender(),
                            ForwardComposerDates.now(clock), config.local().mailbox().toString(), keys.problem().get()));
                }
            }
        } else {
            line.status("sent", "dry run: would forward to " + String.join(", ", r.forwardTo()));
            for (String to : r.forwardTo()) {
                outs.add(composer.pgpMime(header, to, keys.encryptionKeys(), envelope.sender()));
            }
        }
        dryRunOut.println(line);
        for (OutboundMessage out : outs) {
            dryRunOut.println();
            OutputStream o = new java.io.FilterOutputStream(dryRunOut) {
                @Override
                public void close() {
                    flushQuietly();
                }

                private void flushQuietly() {
                    dryRunOut.flush();
                }
            };
            out.writeTo(o);
            o.flush();
        }
        return new Outcome(ExitCodes.OK, Optional.empty(), line.toString());
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    /** Time stamps in notices. */
    static final class ForwardComposerDates {
        private ForwardComposerDates() {}

        static String now(Clock clock) {
            return java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.now(clock));
        }
    }
}
