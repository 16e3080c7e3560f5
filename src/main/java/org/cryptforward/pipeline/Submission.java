package org.cryptforward.pipeline;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.cryptforward.config.Config;
import org.cryptforward.config.Rule;
import org.cryptforward.core.Dates;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.core.IoErrors;
import org.cryptforward.core.Limits;
import org.cryptforward.log.MailLog;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.HeaderValues;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.OutboundMessage;
import org.cryptforward.queue.Queue;
import org.cryptforward.queue.QueueEntry;
import org.cryptforward.queue.QueueRunner;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.Router;

/**
 * {@code sendmail}: a message handed over by a program on a host without an MTA — cron, at,
 * mail(1), smartd — made safe before the program is told so.
 *
 * <p>read all input (up to a line with a single dot unless {@code -i}) → the recipients: those
 * named, and with {@code -t} those in To, Cc and Bcc → the message as it is kept and forwarded:
 * Bcc removed, and a From, Date and Message-ID added where it has none, as an MTA adds them → for
 * each recipient, the first matching rule (the same rules as {@code deliver}; a recipient no rule
 * matches is kept locally only) → the local copy, once, fsynced → for each rule, its plan (the same
 * {@link Planner} as {@code deliver}) → each forward encrypted at once and written into the queue
 * ({@link Queue}: durable, ciphertext only) → one log line per rule → a first attempt to send
 * what was queued (unless {@code -odq}). Whether the relay takes it now or not, the message is
 * safe once queued, and {@code sendmail} exits 0; the queue retries it. Anything that stops the
 * message from being kept or queued is a failure with 75 (or 64 for a wrong command line).
 */
public final class Submission {
    /** The command line, as {@code SendmailArgs} read it, and who ran it. */
    public record Request(
            List<String> recipients,
            boolean extractRecipients,
            Optional<String> sender,
            Optional<String> fullName,
            boolean ignoreDots,
            boolean queueOnly,
            String submitter,
            String note) {}

    /** How it ended: always 0 when it returns; what was queued; the log lines written. */
    public record Outcome(int exitCode, List<QueueEntry> queued, List<String> logLines) {}

    private final Config config;
    private final Clock clock;
    private final SecureRandom random;
    private final MailLog log;
    private final Deadline deadline;

    public Submission(Config config, Clock clock, SecureRandom random, MailLog log, Deadline deadline) {
        this.config = config;
        this.clock = clock;
        this.random = random;
        this.log = log;
        this.deadline = deadline;
    }

    public Outcome run(InputStream stdin, Request request) throws Failure, IOException {
        Router router = new Router(config.rules());
        Set<String> wanted = new LinkedHashSet<>(Intake.wantedHeaders(router));
        wanted.add("bcc");
        wanted.add("resent-bcc");
        InputStream in = request.ignoreDots() ? stdin : new DotTerminated(stdin);
        try (InputMessage raw = read(in)) {
            HeaderSection rawHeader = HeaderSection.parse(raw, wanted);
            List<String> recipients = recipients(request, rawHeader);
            if (recipients.isEmpty()) {
                throw Failure.usage("no recipients: none named, and none in To, Cc or Bcc");
            }
            String sender = request.sender().orElseGet(() -> qualify(request.submitter()));
            try (InputMessage message = read(prepared(raw, rawHeader, request, sender))) {
                HeaderSection header = HeaderSection.parse(message, wanted);
                return submit(message, header, recipients, sender, request);
            }
        }
    }

    private Outcome submit(
            InputMessage message, HeaderSection header, List<String> recipients, String sender, Request request)
            throws Failure, IOException {
        Router router = new Router(config.rules());
        String source = request.sender().isPresent() ? "-f" : "the submitting user";
        Map<Rule, List<String>> byRule = new LinkedHashMap<>();
        List<String> unmatched = new ArrayList<>();
        for (String r : recipients) {
            Envelope e = new Envelope(Optional.of(r), "sendmail", sender, source);
            Optional<Rule> rule = router.route(e, header).map(Router.Match::rule);
            if (rule.isPresent()) {
                byRule.computeIfAbsent(rule.get(), k -> new ArrayList<>()).add(r);
            } else {
                unmatched.add(r);
            }
        }
        String messageId =
                header.value("Message-ID", Limits.DEFAULT.fieldBytes()).orElse("");
        Planner planner = new Planner(config, clock, random);
        Map<Rule, Plan> plans = new LinkedHashMap<>();
        boolean keepLocal = !unmatched.isEmpty();
        for (Map.Entry<Rule, List<String>> e : byRule.entrySet()) {
            Envelope envelope = new Envelope(Optional.of(e.getValue().get(0)), "sendmail", sender, source);
            Plan plan = planner.plan(header, envelope, Optional.of(e.getKey()));
            plans.put(e.getKey(), plan);
            keepLocal |= plan.keepLocal();
        }

        String local = "none";
        if (keepLocal) {
            local = QueueRunner.mailbox(config, clock, random, deadline)
                    .store(message::open, sender)
                    .toString();
        }
        List<String> lines = new ArrayList<>();
        if (!unmatched.isEmpty()) {
            LogLine line = line(messageId, unmatched, sender, message.length(), request);
            line.local(local);
            line.status("sent", "no rule matched: kept locally only");
            lines.add(write(line));
        }
        Queue queue = new Queue(config.stateDir(), clock, random);
        List<QueueEntry> queued = new ArrayList<>();
        Failure failure = null;
        String envelopeFrom = config.relay().envelopeFrom().orElse(sender);
        for (Map.Entry<Rule, Plan> e : plans.entrySet()) {
            Plan plan = e.getValue();
            LogLine line = line(messageId, byRule.get(e.getKey()), sender, message.length(), request);
            line.rule(e.getKey().name());
            line.relay(config.relay().address());
            line.local(plan.keepLocal() ? local : "none");
            plan.keys().ifPresent(k -> line.keys(k.fingerprints()));
            plan.warning().ifPresent(line::warning);
            if (plan.note().isPresent()) {
                line.note(plan.note().get() + (request.note().isEmpty() ? "" : "; " + request.note()));
            }
            if (plan instanceof Plan.Defer defer) {
                // nothing may be queued without its encryption: the caller hears of it
                line.status("deferred", defer.failure().statusLine());
                lines.add(write(line));
                failure = failure == null ? defer.failure() : failure;
                continue;
            }
            if (!(plan instanceof Plan.Forward forward)) {
                line.status("sent", plan.outcome()); // kept locally only
                lines.add(write(line));
                continue;
            }
            List<String> ids = new ArrayList<>();
            for (String to : forward.forwardTo()) {
                OutboundMessage out = forward.forwarder().forwardTo(to, local);
                QueueEntry entry = queue.add(
                        out,
                        new Queue.Draft(
                                envelopeFrom, List.of(to), messageId, e.getKey().name()));
                queued.add(entry);
                ids.add(entry.id() + " to " + to);
            }
            line.status("queued", plan.outcome() + " as " + String.join(", ", ids));
            lines.add(write(line));
        }
        if (failure != null) {
            throw failure;
        }
        if (!request.queueOnly() && !queued.isEmpty()) {
            Set<String> ids = new LinkedHashSet<>();
            queued.forEach(q -> ids.add(q.id()));
            try {
                new QueueRunner(config, clock, random, log).runOnly(clock.instant(), ids);
            } catch (Failure | RuntimeException f) {
                // queued and safe: the next run of the queue tries again
            }
        }
        return new Outcome(ExitCodes.OK, Collections.unmodifiableList(queued), lines);
    }

    private LogLine line(String messageId, List<String> recipients, String sender, long size, Request request) {
        Envelope e = new Envelope(Optional.of(String.join(",", recipients)), "sendmail", sender, "");
        LogLine line = new LogLine(messageId, e, size);
        if (!request.note().isEmpty()) {
            line.note(request.note());
        }
        return line;
    }

    private String write(LogLine line) {
        String s = line.toString();
        log.log(line.hasWarning() ? MailLog.Level.WARNING : MailLog.Level.INFO, s);
        return s;
    }

    /** Named recipients, then with -t those of To, Cc and Bcc; each once, in order. */
    static List<String> recipients(Request request, HeaderSection header) throws IOException {
        Set<String> out = new LinkedHashSet<>(request.recipients());
        if (request.extractRecipients()) {
            for (String name : List.of("To", "Cc", "Bcc")) {
                for (HeaderSection.Field f : header.all(name)) {
                    out.addAll(HeaderValues.addresses(header.value(f, Limits.DEFAULT.fieldBytes())));
                }
            }
        }
        return new ArrayList<>(out);
    }

    private String qualify(String user) {
        String u = user == null || user.isBlank() ? "root" : user.strip();
        return u.indexOf('@') >= 0 ? u : u + "@" + config.hostname();
    }

    /**
     * The message as it is kept and forwarded: the Bcc and Resent-Bcc fields removed (their addresses are the
     * envelope's business, not the readers'), and the From, Date and Message-ID it lacks added at
     * the top, in the message's own line ends. Every other byte as it came.
     */
    private InputStream prepared(InputMessage raw, HeaderSection header, Request request, String sender)
            throws IOException {
        String eol = header.usesCrlf() ? "\r\n" : "\n";
        StringBuilder added = new StringBuilder();
        if (header.first("From").isEmpty()) {
            added.append("From: ").append(fromValue(request.fullName(), sender)).append(eol);
        }
        if (header.first("Date").isEmpty()) {
            added.append("Date: ")
                    .append(Dates.rfc5322(ZonedDateTime.now(clock)))
                    .append(eol);
        }
        if (header.first("Message-ID").isEmpty()) {
            byte[] r = new byte[8];
            random.nextBytes(r);
            added.append("Message-ID: <")
                    .append(Long.toString(clock.millis(), 36))
                    .append('.')
                    .append(HexFormat.of().formatHex(r))
                    .append('@')
                    .append(config.hostname())
                    .append('>')
                    .append(eol);
        }
        if (header.fieldCount() == 0 && !added.isEmpty() && !header.hasSeparator()) {
            added.append(eol); // a message of body only: the added fields need their blank line
        }
        List<InputStream> parts = new ArrayList<>();
        parts.add(new ByteArrayInputStream(added.toString().getBytes(StandardCharsets.US_ASCII)));
        long pos = 0;
        List<HeaderSection.Field> hidden = new ArrayList<>(header.all("Bcc"));
        hidden.addAll(header.all("Resent-Bcc"));
        hidden.sort(java.util.Comparator.comparingLong(HeaderSection.Field::start));
        for (HeaderSection.Field bcc : hidden) {
            parts.add(raw.open(pos, bcc.start()));
            pos = bcc.end();
        }
        parts.add(raw.open(pos, raw.length()));
        return new SequenceInputStream(Collections.enumeration(parts));
    }

    /** {@code "Full Name" <sender>}, or the bare sender; printable ASCII only (no header can be injected). */
    static String fromValue(Optional<String> fullName, String sender) {
        String address = sender.isEmpty() ? "MAILER-DAEMON" : sender;
        if (fullName.isEmpty() || fullName.get().isBlank()) {
            return address;
        }
        StringBuilder q = new StringBuilder("\"");
        for (char c : fullName.get().strip().toCharArray()) {
            if (q.length() > 200) {
                break;
            }
            if (c == '"' || c == '\\') {
                q.append('\\').append(c);
            } else {
                q.append(c >= 32 && c < 127 ? c : '?');
            }
        }
        return q.append("\" <").append(address).append('>').toString();
    }

    private InputMessage read(InputStream in) throws Failure {
        Path tempDir = config.tempDir();
        try {
            return InputMessage.read(in, tempDir, Limits.DEFAULT.spoolMemoryBytes(), false);
        } catch (IOException e) {
            throw Failure.temporary("4.3.0", "cannot read the message: " + IoErrors.describe(e), e);
        } catch (RuntimeException e) {
            if (e.getCause() instanceof IOException io) {
                throw IoErrors.temporary("4.3.0", "cannot spool the message in " + tempDir, io);
            }
            throw e;
        }
    }

    /** Standard input up to a line holding a single dot, as sendmail reads it without {@code -i}. */
    static final class DotTerminated extends InputStream {
        private final PushbackInputStream in;
        private boolean lineStart = true;
        private boolean ended;

        DotTerminated(InputStream in) {
            this.in = new PushbackInputStream(in, 2);
        }

        @Override
        public int read() throws IOException {
            if (ended) {
                return -1;
            }
            int c = in.read();
            if (c < 0) {
                ended = true;
                return -1;
            }
            if (lineStart && c == '.') {
                int n = in.read();
                if (n == '\n' || n < 0) {
                    ended = true;
                    return -1;
                }
                if (n == '\r') {
                    int m = in.read();
                    if (m == '\n' || m < 0) {
                        ended = true;
                        return -1;
                    }
                    in.unread(m);
                }
                in.unread(n);
            }
            lineStart = c == '\n';
            return c;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            int n = 0;
            while (n < len) {
                int c = read();
                if (c < 0) {
                    return n == 0 ? -1 : n;
                }
                b[off + n++] = (byte) c;
                if (c == '\n' && in.available() <= 0) {
                    break; // return what a line gave, rather than block for more
                }
            }
            return n;
        }
    }
}
