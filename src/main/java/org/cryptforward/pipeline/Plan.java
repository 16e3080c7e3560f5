package org.cryptforward.pipeline;

import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.cryptforward.Failure;
import org.cryptforward.config.Rule;
import org.cryptforward.message.OutboundMessage;

/**
 * What one message's delivery will do, decided before any side effect, so that {@code deliver},
 * {@code deliver --dry-run} and {@code test} act on the same decision.
 *
 * @param rule the matching rule, if any
 * @param keepLocal whether a local copy is written
 * @param forwarder how each forward is made; empty when nothing is forwarded
 * @param outcome in words, for the log line and {@code test}
 * @param failure a reason to defer instead (no local copy, and nothing may be sent)
 * @param notice whether the forwards are content-free notices instead of the message
 * @param keys the rule's keys and their verdicts, when they were looked at
 * @param note something the admin may want to know (e.g. a format fall-back)
 * @param warning something the admin must act on (e.g. an unusable key)
 */
public record Plan(
        Optional<Rule> rule,
        boolean keepLocal,
        Optional<Forwarder> forwarder,
        String outcome,
        Optional<Failure> failure,
        boolean notice,
        Optional<RuleKeys> keys,
        Optional<String> note,
        Optional<String> warning) {

    /** Makes the forward for one address; {@code localCopy} is where the plaintext was kept (for notices). */
    public interface Forwarder {
        OutboundMessage forwardTo(String address, String localCopy) throws IOException;
    }

    public List<String> forwardTo() {
        return rule.map(Rule::forwardTo).orElse(List.of());
    }
}
