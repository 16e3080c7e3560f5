package org.cryptforward.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.config.Rule;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Limits;
import org.cryptforward.message.ForwardComposer;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.OuterFields;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.Router;

/**
 * {@code test}: what a delivery of this message would do, and why, without writing or sending
 * anything: the envelope found, the rule that matches and which pattern hit, the keys and whether
 * each is usable, where the local copy would go, and the outer header of the forward. It reads
 * the message with the same {@link Intake} and decides with the same {@link Planner} as
 * {@code deliver}; it only renders that {@link Plan}.
 */
public final class Preview {
    private final Config config;
    private final Planner planner;
    private final Map<String, String> env;

    public Preview(Config config, Planner planner, Map<String, String> env) {
        this.config = config;
        this.planner = planner;
        this.env = env;
    }

    public Map<String, Object> explain(InputStream in, Optional<String> recipient, Optional<String> sender)
            throws Failure, IOException {
        Map<String, Object> out = new LinkedHashMap<>();
        Router router = new Router(config.rules());
        try (Intake intake =
                Intake.read(router, in, Path.of(System.getProperty("java.io.tmpdir")), false, env, recipient, sender)) {
            Envelope envelope = intake.envelope();
            out.put("size", intake.message().length());
            out.put("message_id", intake.messageId().orElse(null));
            out.put("recipient", envelope.recipient().orElse(null));
            out.put("recipient_from", envelope.recipientSource());
            out.put("sender", "<" + envelope.sender() + ">");
            out.put("sender_from", envelope.senderSource());
            Plan plan = planner.plan(intake.header(), envelope, intake.rule());
            if (intake.match().isEmpty()) {
                out.put("rule", null);
                out.put("why", List.of("no rule matched"));
                out.put("local_copy", config.local().mailbox().toString());
                out.put("forward", List.of());
                out.put("action", action(plan));
                return out;
            }
            Rule rule = intake.match().get().rule();
            out.put("rule", rule.name());
            out.put("why", intake.match().get().reasons());
            out.put("local_copy", plan.keepLocal() ? config.local().mailbox().toString() : null);
            out.put("format", rule.format().word() + (rule.protectSubject() ? ", Subject protected" : ""));
            out.put("forward", rule.forwardTo());
            plan.keys().ifPresent(k -> out.put("keys", k.statuses()));
            out.put("action", action(plan));
            plan.note().ifPresent(n -> out.put("note", n));
            plan.warning().ifPresent(w -> out.put("warning", w));
            if (plan instanceof Plan.Forward) {
                out.put("outer_header", outerHeader(intake.header(), rule, envelope));
            }
            out.put(
                    "relay",
                    config.relay().address() + " (" + config.relay().security().word() + ")");
        }
        return out;
    }

    /** The plan in words, one sentence per variant. */
    static String action(Plan plan) throws Failure, IOException {
        return plan.match(new Plan.Cases<String>() {
            @Override
            public String keepOnly(Plan.KeepOnly p) {
                return p.rule().isEmpty() ? "keep locally only" : p.outcome();
            }

            @Override
            public String defer(Plan.Defer p) {
                return "defer (exit 75): " + p.failure().getMessage();
            }

            @Override
            public String passThrough(Plan.PassThrough p) {
                return forwards(p, "forward as it is (already encrypted)");
            }

            @Override
            public String notice(Plan.Notice p) {
                return forwards(p, "send a notice without content");
            }

            @Override
            public String encrypt(Plan.Encrypt p) {
                return forwards(
                        p,
                        switch (p.format()) {
                            case INLINE -> "forward encrypted inline";
                            case PGP_MIME -> "forward encrypted as PGP/MIME";
                        });
            }
        });
    }

    private static String forwards(Plan.Forward plan, String verb) {
        return (plan.keepLocal() ? "keep locally and " : "keep no local copy; ") + verb + " to "
                + String.join(", ", plan.forwardTo());
    }

    private List<String> outerHeader(HeaderSection header, Rule rule, Envelope envelope) throws IOException {
        int limit = Limits.DEFAULT.fieldBytes();
        List<String> lines = new ArrayList<>();
        Optional<HeaderSection.Field> from = header.first("From");
        lines.add(
                from.isPresent()
                        ? text(OuterFields.copy(header.raw(from.get(), limit)))
                        : "From: "
                                + (envelope.sender().isEmpty()
                                        ? "MAILER-DAEMON@" + config.hostname()
                                        : "<" + envelope.sender() + ">"));
        Optional<HeaderSection.Field> subject = header.first("Subject");
        if (subject.isPresent()) {
            lines.add(
                    rule.protectSubject()
                            ? "Subject: " + ForwardComposer.HIDDEN_SUBJECT
                            : text(OuterFields.copy(header.raw(subject.get(), limit))));
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
