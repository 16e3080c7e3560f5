package org.cryptforward.queue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.core.Dates;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.delivery.LocalMailbox;
import org.cryptforward.delivery.Maildir;
import org.cryptforward.delivery.Mbox;
import org.cryptforward.log.MailLog;
import org.cryptforward.message.OutboundMessage;
import org.cryptforward.relay.SmtpRelay;

/**
 * Sends what the queue holds: {@code queue run}, {@code sendmail -q}, the timer (or cron line)
 * that install.sh sets up, and the resident service all call {@link #runDue} or {@link #runAll}.
 *
 * <p>For each entry, under its lock (an entry another runner holds is skipped): the recipients the
 * relay has not accepted yet are sent the encrypted message as it lies in the queue; each 250 is
 * recorded before the next step, so a later run never sends again what the relay took. A
 * temporary failure schedules the next attempt after a growing interval — 1, 2, 4, ... minutes,
 * at most an hour. When the relay cannot be reached at all, the other entries of the run are not
 * tried (each would wait for the same timeout) but count the attempt. An entry whose lifetime
 * ({@code [queue] lifetime_days}) has ended, or that the relay refused for good (5xx), is given
 * up: a notice without content — which forward, to whom, since when, why — goes into the local
 * mailbox, and the entry is set aside (never deleted) until an administrator removes it.
 *
 * <p>The clock is passed in, so that tests (and {@code check}) can look at the queue as it will be.
 */
public final class QueueRunner {
    static final Duration FIRST_RETRY = Duration.ofMinutes(1);
    static final Duration LONGEST_RETRY = Duration.ofHours(1);

    /** What one run did. */
    public record Report(int sent, int deferred, int gaveUp, int busy) {
        public int total() {
            return sent + deferred + gaveUp + busy;
        }

        @Override
        public String toString() {
            return sent + " sent, " + deferred + " deferred, " + gaveUp + " given up"
                    + (busy > 0 ? ", " + busy + " busy (another run has them)" : "");
        }
    }

    private final Config config;
    private final Clock clock;
    private final SecureRandom random;
    private final MailLog log;
    private final Queue queue;

    public QueueRunner(Config config, Clock clock, SecureRandom random, MailLog log) {
        this.config = config;
        this.clock = clock;
        this.random = random;
        this.log = log;
        this.queue = new Queue(config.stateDir(), clock, random);
    }

    public Queue queue() {
        return queue;
    }

    /** Sends the entries whose next attempt is due at {@code now}; gives up those past their lifetime. */
    public Report runDue(Instant now) throws Failure {
        return run(now, true, Optional.empty());
    }

    /** Tries every entry now, whatever its schedule (as {@code postqueue -f} does). */
    public Report runAll(Instant now) throws Failure {
        return run(now, false, Optional.empty());
    }

    /** Tries the entries {@code ids} now (sendmail's first attempt, right after queueing). */
    public Report runOnly(Instant now, java.util.Set<String> ids) throws Failure {
        return run(now, false, Optional.of(java.util.Set.copyOf(ids)));
    }

    /** When the next entry is due, if any waits. */
    public Optional<Instant> nextDue() throws Failure {
        Optional<Instant> next = Optional.empty();
        for (QueueEntry e : queue.entries()) {
            Instant t = e.nextTry().isBefore(e.created().plus(config.queue().lifetime()))
                    ? e.nextTry()
                    : e.created().plus(config.queue().lifetime());
            if (next.isEmpty() || t.isBefore(next.get())) {
                next = Optional.of(t);
            }
        }
        return next;
    }

    /** The wait before attempt {@code attempts + 1}, after {@code attempts} failed ones: 1 min, doubling, at most 1 h. */
    public static Duration backoff(int attempts) {
        if (attempts <= 1) {
            return FIRST_RETRY;
        }
        if (attempts > 7) {
            return LONGEST_RETRY;
        }
        Duration d = FIRST_RETRY.multipliedBy(1L << (attempts - 1));
        return d.compareTo(LONGEST_RETRY) > 0 ? LONGEST_RETRY : d;
    }

    private Report run(Instant now, boolean dueOnly, Optional<java.util.Set<String>> only) throws Failure {
        queue.cleanLeftovers();
        int sent = 0;
        int deferred = 0;
        int gaveUp = 0;
        int busy = 0;
        Deadline deadline = new Deadline(clock, config.deadline());
        SmtpRelay relay = new SmtpRelay(config.relay(), config.hostname(), deadline);
        SmtpRelay.Connection connection = null;
        Failure unreachable = null;
        try {
            for (QueueEntry listed : queue.entries()) {
                if (only.isPresent() && !only.get().contains(listed.id())) {
                    continue;
                }
                boolean expired =
                        !listed.created().plus(config.queue().lifetime()).isAfter(now);
                if (dueOnly && !expired && listed.nextTry().isAfter(now)) {
                    continue;
                }
                Optional<Queue.Held> held = queue.hold(listed);
                if (held.isEmpty()) {
                    busy++;
                    continue;
                }
                try (Queue.Held h = held.get()) {
                    QueueEntry e = h.entry();
                    if (e.pending().isEmpty()) {
                        h.delete(); // sent by a run that stopped before removing it
                        log(e, "sent", "all recipients accepted earlier");
                        sent++;
                        continue;
                    }
                    if (expired) {
                        giveUp(
                                h,
                                "its queue lifetime of "
                                        + config.queue().lifetime().toDays() + " days ended",
                                now);
                        gaveUp++;
                        continue;
                    }
                    if (deadline.passed()) {
                        break;
                    }
                    if (unreachable != null) {
                        h.recordAttempt(now.plus(backoff(e.attempts() + 1)), unreachable.statusLine());
                        log(h.entry(), "deferred", unreachable.statusLine());
                        deferred++;
                        continue;
                    }
                    Failure temporary = null;
                    Failure permanent = null;
                    for (String to : e.pending()) {
                        try {
                            if (connection == null) {
                                try {
                                    connection = relay.connect();
                                } catch (Failure f) {
                                    unreachable = f;
                                    throw f;
                                }
                            }
                            connection.send(stored(h), e.sender(), to);
                            h.recordDone(to);
                        } catch (Failure f) {
                            if (connection != null) {
                                connection.close(); // the session's state is unknown after a failure
                                connection = null;
                            }
                            if (f.isTemporary()) {
                                temporary = temporary == null ? f : temporary;
                            } else {
                                permanent = permanent == null ? f : permanent;
                            }
                            if (unreachable != null) {
                                break;
                            }
                        }
                    }
                    if (h.entry().pending().isEmpty()) {
                        h.delete();
                        log(h.entry(), "sent", "accepted by " + relay.address());
                        sent++;
                    } else if (permanent != null) {
                        giveUp(h, "the relay refused it permanently: " + permanent.statusLine(), now);
                        gaveUp++;
                    } else {
                        h.recordAttempt(now.plus(backoff(e.attempts() + 1)), temporary.statusLine());
                        log(h.entry(), "deferred", temporary.statusLine());
                        deferred++;
                    }
                }
            }
        } finally {
            if (connection != null) {
                connection.close();
            }
        }
        return new Report(sent, deferred, gaveUp, busy);
    }

    /** The queued message, streamed from its file. */
    private static OutboundMessage stored(Queue.Held h) {
        String id = h.entry().forwardId();
        return new OutboundMessage() {
            @Override
            public void writeTo(OutputStream out) throws IOException {
                try (InputStream in = h.openMessage()) {
                    in.transferTo(out);
                }
            }

            @Override
            public String messageId() {
                return id;
            }
        };
    }

    /** The content-free notice into the local mailbox, then the entry set aside. */
    private void giveUp(Queue.Held h, String why, Instant now) throws Failure {
        QueueEntry e = h.entry();
        Path asideDir = queue.dir().resolve("aside").resolve(e.id());
        byte[] notice = notice(e, why, asideDir, now);
        Deadline deadline = new Deadline(clock, config.deadline());
        LocalMailbox mailbox = mailbox(config, clock, random, deadline);
        Path where = mailbox.store(() -> new ByteArrayInputStream(notice), "");
        h.setAside();
        log(h.entry(), "expired", why + "; notice in " + where + "; kept in " + asideDir);
    }

    byte[] notice(QueueEntry e, String why, Path asideDir, Instant now) {
        String host = config.hostname();
        byte[] r = new byte[8];
        random.nextBytes(r);
        String messageId = "<" + Long.toString(now.toEpochMilli(), 36) + "."
                + HexFormat.of().formatHex(r) + "@" + host + ">";
        ZonedDateTime date = ZonedDateTime.ofInstant(now, ZoneId.systemDefault());
        String text = "From: cryptforward <MAILER-DAEMON@" + host + ">\n"
                + "To: root@" + host + "\n"
                + "Subject: cryptforward: an encrypted forward could not be delivered\n"
                + "Date: " + Dates.rfc5322(date) + "\n"
                + "Message-ID: " + messageId + "\n"
                + Config.LOOP_HEADER + ": " + host + "\n"
                + "Auto-Submitted: auto-generated\n"
                + "MIME-Version: 1.0\n"
                + "Content-Type: text/plain; charset=us-ascii\n"
                + "Content-Transfer-Encoding: 7bit\n"
                + "\n"
                + "cryptforward on " + host + " gave up on an encrypted forward, because\n"
                + QueueEntry.clean(why) + ".\n"
                + "\n"
                + "Queue ID:         " + e.id() + "\n"
                + "Recipients:       " + QueueEntry.clean(String.join(", ", e.pending())) + "\n"
                + "Queued:           " + Dates.rfc5322(ZonedDateTime.ofInstant(e.created(), ZoneId.systemDefault()))
                + "\n"
                + "Attempts:         " + e.attempts() + "\n"
                + "Last error:       " + (e.lastError().isEmpty() ? "none" : e.lastError()) + "\n"
                + "Message-ID:       " + (e.messageId().isEmpty() ? "(none)" : e.messageId()) + "\n"
                + "Envelope sender:  <" + e.sender() + ">\n"
                + "Rule:             " + e.rule() + "\n"
                + "\n"
                + "The encrypted forward is kept in " + asideDir + ";\n"
                + "`cryptforward queue remove " + e.id() + "` deletes it. The plaintext message is in\n"
                + "the local mailbox if its rule keeps a local copy. Nothing of its content is in this notice.\n";
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private void log(QueueEntry e, String status, String detail) {
        String line = "queue=" + e.id() + " msgid=" + (e.messageId().isEmpty() ? "<>" : e.messageId()) + " from=<"
                + e.sender() + "> to=<"
                + String.join(",", e.recipients()) + "> rule=" + e.rule() + " relay="
                + config.relay().address() + " status=" + status
                + " (" + QueueEntry.clean(detail) + ") attempts=" + e.attempts() + " size=" + e.size();
        log.log("sent".equals(status) ? MailLog.Level.INFO : MailLog.Level.WARNING, line);
    }

    /** The local mailbox of the configuration, as deliveries write it. */
    public static LocalMailbox mailbox(Config config, Clock clock, SecureRandom random, Deadline deadline) {
        if (config.local().maildir()) {
            return new Maildir(config.local().mailbox(), config.hostname(), clock, random);
        }
        return new Mbox(
                config.local().mailbox(),
                config.stateDir(),
                config.stateRetention(),
                clock,
                config.local().lockTimeout(),
                deadline);
    }

    /** Entries listed as {@code mailq} lists them (see {@link QueueListing}). */
    public List<QueueEntry> all() throws Failure {
        List<QueueEntry> out = new ArrayList<>(queue.entries());
        out.addAll(queue.aside());
        return out;
    }
}
