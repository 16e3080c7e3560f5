package org.cryptforward.pipeline;

import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.cryptforward.config.Rule;
import org.cryptforward.core.Failure;
import org.cryptforward.message.OutboundMessage;

/**
 * What one message's delivery will do, decided by {@link Planner#plan} before any forward is
 * made, so that {@code deliver}, {@code deliver --dry-run} and {@code test} act on — and only
 * render — the same decision. One variant per outcome; a caller handles the variants through
 * {@link #match} (Java 17's form of an exhaustive switch over a sealed type), never the words,
 * so the compiler checks that every caller handles every variant:
 *
 * <ul>
 *   <li>{@link KeepOnly}: the local copy and nothing else (no rule, or a loop);
 *   <li>{@link Defer}: nothing may be sent now, the MTA keeps the message queued;
 *   <li>{@link PassThrough}: the message is already encrypted and is forwarded as it is;
 *   <li>{@link Notice}: a key cannot be used, the forwards are content-free notices;
 *   <li>{@link Encrypt}: the encrypted forward, in a {@link Format}, to the rule's keys.
 * </ul>
 */
public sealed interface Plan {

    /** Calls the one method of {@code cases} for this variant. */
    <R> R match(Cases<R> cases) throws Failure, IOException;

    /** One method per variant: a new variant breaks every caller until it handles it. */
    interface Cases<R> {
        R keepOnly(KeepOnly plan) throws Failure, IOException;

        R defer(Defer plan) throws Failure, IOException;

        R passThrough(PassThrough plan) throws Failure, IOException;

        R notice(Notice plan) throws Failure, IOException;

        R encrypt(Encrypt plan) throws Failure, IOException;
    }

    /** Whether a local copy is (or was) written. */
    boolean keepLocal();

    /** The outcome in words, for the log line. */
    String outcome();

    /** The rule's keys and their verdicts, when they were looked at. */
    default Optional<RuleKeys> keys() {
        return Optional.empty();
    }

    /** Something the admin may want to know (e.g. a format fall-back). */
    default Optional<String> note() {
        return Optional.empty();
    }

    /** Something the admin must act on (e.g. an unusable key). */
    default Optional<String> warning() {
        return Optional.empty();
    }

    /** Makes the forward for one address; {@code localCopy} is where the plaintext was kept (for notices). */
    @FunctionalInterface
    interface Forwarder {
        OutboundMessage forwardTo(String address, String localCopy) throws IOException;
    }

    /** The local copy only: no rule matched, or the message has looped. */
    record KeepOnly(Optional<Rule> rule, String outcome) implements Plan {
        @Override
        public <R> R match(Cases<R> cases) throws Failure, IOException {
            return cases.keepOnly(this);
        }

        @Override
        public boolean keepLocal() {
            return true;
        }
    }

    /**
     * Nothing is sent now; the message stays queued (75).
     *
     * @param keepLocal whether the rule keeps a local copy (written before the plan was made)
     */
    record Defer(
            Optional<Rule> rule,
            boolean keepLocal,
            Failure failure,
            String outcome,
            Optional<RuleKeys> keys,
            Optional<String> warning)
            implements Plan {
        @Override
        public <R> R match(Cases<R> cases) throws Failure, IOException {
            return cases.defer(this);
        }
    }

    /** A plan that sends one message to each of the rule's {@code forward_to} addresses. */
    sealed interface Forward extends Plan {
        Rule rule();

        Forwarder forwarder();

        /** Whether what is sent is a content-free notice (recorded as such in the journal). */
        default boolean isNotice() {
            return false;
        }

        default List<String> forwardTo() {
            return rule().forwardTo();
        }

        @Override
        default boolean keepLocal() {
            return rule().localCopy();
        }
    }

    /** The message is encrypted already ({@code encryption} says how): forwarded as it is. */
    record PassThrough(Rule rule, String encryption, Forwarder forwarder) implements Forward {
        @Override
        public <R> R match(Cases<R> cases) throws Failure, IOException {
            return cases.passThrough(this);
        }

        @Override
        public String outcome() {
            return "forwarded as it is";
        }

        @Override
        public Optional<String> note() {
            return Optional.of("already encrypted (" + encryption + "), forwarded as it is");
        }
    }

    /** A rule key cannot be used ({@code problem}): each forward is a notice without content. */
    record Notice(Rule rule, RuleKeys ruleKeys, String problem, Forwarder forwarder) implements Forward {
        @Override
        public <R> R match(Cases<R> cases) throws Failure, IOException {
            return cases.notice(this);
        }

        @Override
        public String outcome() {
            return "notice without content sent";
        }

        @Override
        public boolean isNotice() {
            return true;
        }

        @Override
        public boolean keepLocal() {
            return true; // a notice points at the local copy; without one the plan defers
        }

        @Override
        public Optional<RuleKeys> keys() {
            return Optional.of(ruleKeys);
        }

        @Override
        public Optional<String> warning() {
            return Optional.of(problem);
        }
    }

    /**
     * The three variants that send: {@code deliver} and {@code --dry-run} treat them alike,
     * {@code test} tells them apart.
     */
    abstract class ForwardCases<R> implements Cases<R> {
        protected abstract R forward(Forward plan) throws Failure, IOException;

        @Override
        public final R passThrough(PassThrough plan) throws Failure, IOException {
            return forward(plan);
        }

        @Override
        public final R notice(Notice plan) throws Failure, IOException {
            return forward(plan);
        }

        @Override
        public final R encrypt(Encrypt plan) throws Failure, IOException {
            return forward(plan);
        }
    }

    /** How an encrypted forward is made. */
    enum Format {
        INLINE("forwarded inline"),
        PGP_MIME("forwarded");

        private final String outcome;

        Format(String outcome) {
            this.outcome = outcome;
        }
    }

    /**
     * The encrypted forward to every one of the rule's keys.
     *
     * @param fallback why the rule's format could not be used, if it could not
     */
    record Encrypt(Rule rule, Format format, RuleKeys ruleKeys, Optional<String> fallback, Forwarder forwarder)
            implements Forward {
        @Override
        public <R> R match(Cases<R> cases) throws Failure, IOException {
            return cases.encrypt(this);
        }

        @Override
        public String outcome() {
            return format.outcome;
        }

        @Override
        public Optional<RuleKeys> keys() {
            return Optional.of(ruleKeys);
        }

        @Override
        public Optional<String> note() {
            return fallback;
        }
    }
}
