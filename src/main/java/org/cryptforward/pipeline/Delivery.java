package org.cryptforward.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.config.Rule;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Signals;
import org.cryptforward.delivery.LocalMailbox;
import org.cryptforward.journal.DeliveryJournal;
import org.cryptforward.journal.Journal;
import org.cryptforward.journal.JournalRecord;
import org.cryptforward.log.MailLog;
import org.cryptforward.message.OutboundMessage;
import org.cryptforward.relay.RelayClient;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.Router;

/**
 * The one place that orders the side effects of a delivery.
 *
 * <p>read all input → find envelope and rule ({@link Intake}) → lock the message's journal entry →
 * local copy (durable, recorded; the mailbox's own protocol, {@link LocalMailbox#deliverOnce}) →
 * decide what to do ({@link Planner#plan}, the one decision) → for each forward still missing:
 * encrypt and relay (recorded on 250) → one log line → the outcome. Each step is durable before
 * the next relies on it; nothing is acknowledged before the local copy is fsynced and every
 * forward got its 250. A retry after a temporary failure does only what the journal does not
 * show as done. {@code --dry-run} makes the same plan and prints it instead.
 *
 * <p>A per-request object: everything it touches is handed to it ({@link Ports}), it keeps no
 * state between runs and shares none, so a resident service may run many at once and tests drive
 * the ordering with ports in memory.
 */
public final class Delivery {

    /** What the caller (the MTA, or an admin with --dry-run) asked for. */
    public record Request(Optional<String> recipient, Optional<String> sender, boolean dryRun) {}

    /** How a run that did not fail ended: the log line. (Failures are thrown, each with its status.) */
    public record Outcome(String logLine) {}

    /**
     * The side effects of a delivery: where the local copy goes, what remembers the steps done,
     * and where forwards are relayed.
     */
    public record Ports(LocalMailbox localCopy, DeliveryJournal journal, RelayClient relay) {}

    private final Config config;
    private final Router router;
    private final Planner planner;
    private final Ports ports;
    private final Map<String, String> env;
    private final MailLog log;
    private final Deadline deadline;
    private final PrintStream dryRunOut;

    public Delivery(
            Config config,
            Planner planner,
            Ports ports,
            Map<String, String> env,
            MailLog log,
            Deadline deadline,
            PrintStream dryRunOut) {
        this.config = config;
        this.router = new Router(config.rules());
        this.planner = planner;
        this.ports = ports;
        this.env = env;
        this.log = log;
        this.deadline = deadline;
        this.dryRunOut = dryRunOut;
    }

    public Outcome run(InputStream stdin, Request request) throws Failure, IOException {
        boolean exim = env.containsKey("LOCAL_PART") && env.containsKey("MESSAGE_ID");
        Path tempDir = request.dryRun() ? Path.of(System.getProperty("java.io.tmpdir")) : config.tempDir();
        try (Intake intake = Intake.read(router, stdin, tempDir, exim, env, request.recipient(), request.sender())) {
            Envelope envelope = intake.envelope();
            Optional<Rule> rule = intake.rule();
            LogLine line = new LogLine(
                    intake.messageId().orElse(""), envelope, intake.message().length());
            line.rule(rule.map(Rule::name).orElse("(none)"));
            router.degraded().ifPresent(line::note);
            line.relay(rule.isPresent() ? ports.relay().address() : "none");
            if (request.dryRun()) {
                return dryRun(note(planner.plan(intake.header(), envelope, rule), line), line);
            }
            String key = Journal.key(
                    envelope.recipient().orElse(""), intake.message().digest());
            Outcome outcome;
            try (Signals.Registration onSignal = Signals.whenTerminated(() -> {
                        line.status("deferred", "4.3.0 terminated by a signal; the MTA will retry");
                        log.log(MailLog.Level.WARNING, line.toString());
                    });
                    DeliveryJournal.Entry entry = ports.journal().open(key, deadline)) {
                // The local copy first: nothing that depends on the content (MIME parsing, keys)
                // can keep the message from being stored.
                boolean keepLocal = rule.isEmpty() || rule.get().localCopy();
                String localCopy = keepLocal
                        ? ports.localCopy()
                                .deliverOnce(intake.message()::open, envelope.sender(), entry)
                                .toString()
                        : "none";
                line.local(localCopy);
                Plan plan = note(planner.plan(intake.header(), envelope, rule), line);
                outcome = deliver(envelope, plan, entry, line, localCopy);
            }
            ports.journal().prune(); // after the entry is closed: pruning opens other entries of this process
            return outcome;
        }
    }

    /** Puts what the plan says about keys, notes and warnings into the log line. */
    private static Plan note(Plan plan, LogLine line) {
        plan.keys().ifPresent(k -> line.keys(k.fingerprints()));
        plan.note().ifPresent(line::note);
        plan.warning().ifPresent(line::warning);
        return plan;
    }

    private Outcome deliver(Envelope envelope, Plan plan, DeliveryJournal.Entry entry, LogLine line, String localCopy)
            throws Failure, IOException {
        return plan.match(new Plan.ForwardCases<Outcome>() {
            @Override
            public Outcome defer(Plan.Defer d) throws Failure {
                line.status("deferred", d.outcome());
                log.log(MailLog.Level.WARNING, line.toString());
                throw d.failure();
            }

            @Override
            public Outcome keepOnly(Plan.KeepOnly k) {
                line.status("sent", k.outcome());
                return done(line);
            }

            @Override
            protected Outcome forward(Plan.Forward f) throws Failure, IOException {
                return Delivery.this.forward(envelope, f, entry, line, localCopy);
            }
        });
    }

    private static JournalRecord sentRecord(Plan.Forward plan, String to) {
        return plan.isNotice() ? new JournalRecord.NoticeSent(to) : new JournalRecord.Forwarded(to);
    }

    private Outcome forward(
            Envelope envelope, Plan.Forward plan, DeliveryJournal.Entry entry, LogLine line, String localCopy)
            throws Failure, IOException {
        List<String> pending = new ArrayList<>();
        for (String to : plan.forwardTo()) {
            if (!entry.has(new JournalRecord.Forwarded(to)) && !entry.has(new JournalRecord.NoticeSent(to))) {
                pending.add(to);
            }
        }
        if (pending.isEmpty()) {
            line.status("sent", "already delivered by an earlier run");
            return done(line);
        }

        String envelopeFrom = config.relay().envelopeFrom().orElse(envelope.sender());
        List<String> sent = new ArrayList<>();
        Failure temporary = null;
        Failure permanent = null;
        RelayClient.Connection session = null;
        try {
            for (String to : pending) {
                if (deadline.passed()) {
                    // out of time, or cancelled (the service's client went away): relay nothing more
                    temporary = temporary == null
                            ? Failure.temporary("4.4.7", "deadline reached before relaying to " + to)
                            : temporary;
                    break;
                }
                OutboundMessage out = plan.forwarder().forwardTo(to, localCopy);
                try {
                    if (session == null) {
                        session = ports.relay().connect(envelopeFrom);
                    }
                    session.send(out, envelopeFrom, to);
                    if (session.senderNote() != null) {
                        line.note(session.senderNote());
                    }
                    entry.record(sentRecord(plan, to));
                    sent.add(to + " as " + out.messageId());
                } catch (Failure f) {
                    if (session != null) {
                        session.close(); // the session's state is unknown after a failure: start afresh
                        session = null;
                    }
                    if (f.isTemporary()) {
                        temporary = temporary == null ? f : temporary;
                    } else {
                        permanent = permanent == null ? f : permanent;
                    }
                }
            }
        } finally {
            if (session != null) {
                session.close();
            }
        }
        String partly = sent.isEmpty() ? "" : "; " + plan.outcome() + " to " + String.join(", ", sent);
        if (temporary != null) {
            line.status("deferred", temporary.statusLine() + partly);
            log.log(MailLog.Level.WARNING, line.toString());
            throw temporary;
        }
        if (permanent != null && !plan.keepLocal()) {
            // a bounce is the only copy there would be: keep the message queued instead
            Failure kept = Failure.temporary(
                    "4" + permanent.status().substring(1),
                    permanent.getMessage() + "; the rule keeps no local copy, so the message stays queued");
            line.status("deferred", kept.statusLine() + partly);
            log.log(MailLog.Level.WARNING, line.toString());
            throw kept;
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
        return new Outcome(line.toString());
    }

    /** Everything but the side effects: prints the log line and each forward as it would be sent. */
    private Outcome dryRun(Plan plan, LogLine line) throws Failure, IOException {
        String local = plan.keepLocal() ? config.local().mailbox().toString() : "none";
        line.local(local);
        List<OutboundMessage> outs = new ArrayList<>();
        plan.match(new Plan.ForwardCases<Void>() {
            @Override
            public Void defer(Plan.Defer d) {
                line.status("deferred", "dry run: would defer: " + d.failure().getMessage());
                return null;
            }

            @Override
            public Void keepOnly(Plan.KeepOnly k) {
                line.status("sent", "dry run: " + k.outcome());
                return null;
            }

            @Override
            protected Void forward(Plan.Forward f) throws IOException {
                for (String to : f.forwardTo()) {
                    outs.add(f.forwarder().forwardTo(to, local));
                }
                line.status("sent", "dry run: would be " + f.outcome() + " to " + String.join(", ", f.forwardTo()));
                return null;
            }
        });
        dryRunOut.println(line);
        for (OutboundMessage out : outs) {
            dryRunOut.println();
            out.writeTo(dryRunOut);
        }
        dryRunOut.flush();
        return new Outcome(line.toString());
    }
}
