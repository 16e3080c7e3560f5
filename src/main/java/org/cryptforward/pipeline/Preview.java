package org.cryptforward.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.config.Rule;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.OuterFields;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.EnvelopeResolver;
import org.cryptforward.rules.Router;

/**
 * {@code test}: what a delivery of this message would do, and why, without writing or sending
 * anything: the envelope found, the rule that matches and which pattern hit, the keys and whether
 * each is usable, where the local copy would go, and the outer header of the forward.
 */
public final class Preview {
    private final Config config;
    private final Clock clock;
    private final Map<String, String> env;

    public Preview(Config config, Clock clock, Map<String, String> env) {
        this.config = config;
        this.clock = clock;
        this.env = env;
    }

    public Map<String, Object> explain(InputStream in, Optional<String> recipient, Optional<String> sender) throws IOException {
        Router router = new Router(config.rules());
        Map<String, Object> out = new LinkedHashMap<>();
        try (InputMessage message = InputMessage.read(in, Path.of(System.getProperty("java.io.tmpdir")), Delivery.SPOOL_MEMORY, false)) {
            HeaderSection header = HeaderSection.parse(message, Delivery.wantedHeaders(router));
            Envelope envelope = EnvelopeResolver.resolve(recipient.orElse(null), sender.orElse(null), env, header, message);
            out.put("size", message.length());
            out.put("message_id", header.value("Message-ID", Delivery.FIELD_LIMIT).orElse(null));
            out.put("recipient", envelope.recipient().orElse(null));
            out.put("recipient_from", envelope.recipientSource());
            out.put("sender", "<" + envelope.sender() + ">");
            out.put("sender_from", envelope.senderSource());
            Optional<Router.Match> match = router.route(envelope, header);
            if (match.isEmpty()) {
                out.put("rule", null);
                out.put("why", List.of("no rule matched"));
                out.put("local_copy", config.local().mailbox().toString());
                out.put("forward", List.of());
                out.put("action", "keep locally only");
                return out;
            }
            Rule rule = match.get().rule();
            out.put("rule", rule.name());
            out.put("why", match.get().reasons());
            out.put("local_copy", rule.localCopy() ? config.local().mailbox().toString() : null);
            out.put("format", rule.format().word() + (rule.protectSubject() ? ", Subject protected" : ""));
            out.put("forward", rule.forwardTo());
            Plan plan = new Planner(config, clock, new SecureRandom()).plan(header, envelope, Optional.of(rule));
            plan.keys().ifPresent(k -> out.put("keys", k.statuses()));
            String local = rule.localCopy() ? "keep locally and " : "keep no local copy; ";
            if (plan.failure().isPresent()) {
                out.put("action", "defer (exit 75): " + plan.failure().get().getMessage());
            } else if (plan.forwarder().isEmpty()) {
                out.put("action", plan.outcome());
            } else if (plan.notice()) {
                out.put("action", local + "send a notice without content to " + String.join(", ", rule.forwardTo()));
            } else {
                String verb = switch (plan.outcome()) {
                    case "forwarded inline" -> "forward encrypted inline";
                    case "forwarded as it is" -> "forward as it is (already encrypted)";
                    default -> "forward encrypted as PGP/MIME";
                };
                out.put("action", local + verb + " to " + String.join(", ", rule.forwardTo()));
            }
            plan.note().ifPresent(n -> out.put("note", n));
            plan.warning().ifPresent(w -> out.put("warning", w));
            if (plan.forwarder().isPresent()) {
                out.put("outer_header", outerHeader(header, rule, envelope));
            }
            out.put("relay", config.relay().address() + " (" + config.relay().security().word() + ")");
        }
        return out;
    }

    private List<String> outerHeader(HeaderSection header, Rule rule, Envelope envelope) throws IOException {
        List<String> lines = new ArrayList<>();
        Optional<HeaderSection.Field> from = header.first("From");
        lines.add(from.isPresent() ? text(OuterFields.copy(header.raw(from.get(), Delivery.FIELD_LIMIT)))
                : "From: " + (envelope.sender().isEmpty() ? "MAILER-DAEMON@" + config.hostname() : "<" + envelope.sender() + ">"));
        Optional<HeaderSection.Field> subject = header.first("Subject");
        if (subject.isPresent()) {
            lines.add(rule.protectSubject() ? "Subject: " + org.cryptforward.message.ForwardComposer.HIDDEN_SUBJECT
                    : text(OuterFields.copy(header.raw(subject.get(), Delivery.FIELD_LIMIT))));
        }
        lines.add("To: " + String.join(", ", rule.forwardTo()) + " (one message each)");
        lines.add("Date: (time of sending)");
        lines.add("Message-ID: (new)");
        lines.add(Config.LOOP_HEADER + ": " + config.hostname());
        return lines;
    }

    private static String text(byte[] field) {
        return new String(field, StandardCharsets.UTF_8).stripTrailing().replace("\n", "\n    ");
    }
}
