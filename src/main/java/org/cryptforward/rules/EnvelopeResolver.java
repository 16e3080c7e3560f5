package org.cryptforward.rules;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.core.Addresses;
import org.cryptforward.core.Limits;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.HeaderValues;
import org.cryptforward.message.InputMessage;

/**
 * Finds the envelope recipient and sender.
 *
 * <p>Recipient, first found: {@code --recipient}; {@code $ORIGINAL_RECIPIENT}, {@code $RECIPIENT}
 * (Postfix); {@code $LOCAL_PART@$DOMAIN} (Exim); the {@code Delivered-To}, {@code X-Original-To}
 * headers. (The To and Cc headers are not an envelope, but the rules match them too.)
 *
 * <p>Sender: {@code --sender}; {@code $SENDER} (set but empty is the null sender, as Postfix passes
 * bounces); the {@code Return-Path} header; the envelope {@code From } line; else {@code <>}.
 * Whatever the source, the sender is a valid address (see {@link Addresses}) or {@code <>}.
 */
public final class EnvelopeResolver {
    static final int VALUE_LIMIT = Limits.DEFAULT.envelopeValueBytes();

    private EnvelopeResolver() {}

    public static Envelope resolve(
            String recipientOption,
            String senderOption,
            Map<String, String> env,
            HeaderSection header,
            InputMessage message)
            throws IOException {
        Optional<String> recipient = Optional.empty();
        String recipientSource = "none";
        if (nonBlank(recipientOption)) {
            recipient = Optional.of(recipientOption.strip());
            recipientSource = "--recipient";
        } else if (nonBlank(env.get("ORIGINAL_RECIPIENT"))) {
            recipient = Optional.of(env.get("ORIGINAL_RECIPIENT").strip());
            recipientSource = "$ORIGINAL_RECIPIENT";
        } else if (nonBlank(env.get("RECIPIENT"))) {
            recipient = Optional.of(env.get("RECIPIENT").strip());
            recipientSource = "$RECIPIENT";
        } else if (nonBlank(env.get("LOCAL_PART"))) {
            String domain = env.get("DOMAIN");
            recipient = Optional.of(env.get("LOCAL_PART").strip() + (nonBlank(domain) ? "@" + domain.strip() : ""));
            recipientSource = "$LOCAL_PART@$DOMAIN";
        } else {
            for (String name : List.of("Delivered-To", "X-Original-To")) {
                Optional<String> v = header.value(name, VALUE_LIMIT);
                List<String> addrs = v.map(HeaderValues::addresses).orElse(List.of());
                if (!addrs.isEmpty()) {
                    recipient = Optional.of(addrs.get(0));
                    recipientSource = name + " header";
                    break;
                }
            }
        }

        String raw;
        String senderSource;
        if (senderOption != null) {
            raw = senderOption;
            senderSource = "--sender";
        } else if (env.containsKey("SENDER")) {
            raw = env.get("SENDER");
            senderSource = "$SENDER";
        } else {
            Optional<String> rp = header.value("Return-Path", VALUE_LIMIT);
            if (rp.isPresent()) {
                raw = rp.get();
                senderSource = "Return-Path header";
            } else if (message.envelopeLineSender().isPresent()) {
                raw = message.envelopeLineSender().get();
                senderSource = "From_ line";
            } else {
                raw = "";
                senderSource = "none";
            }
        }
        // one rule for every source: a valid address, or the null sender
        String sender = sender(raw);
        if (sender.isEmpty() && !isNull(raw)) {
            senderSource += " (not a valid address: <> used)";
        }
        return new Envelope(recipient, recipientSource, sender, senderSource);
    }

    /**
     * The envelope sender named by {@code raw} (bare or in angle brackets, as any source gives
     * it): the valid address, or {@code ""} (the null sender) for {@code <>}, MAILER-DAEMON and
     * anything that is not a valid address — never anything that could add to an SMTP command
     * or a header field.
     */
    public static String sender(String raw) {
        if (raw == null || raw.strip().equalsIgnoreCase("MAILER-DAEMON")) {
            return "";
        }
        return Addresses.mailbox(raw, true).orElse("");
    }

    private static boolean isNull(String raw) {
        String s = raw.strip();
        return s.isEmpty() || s.equals("<>") || s.equalsIgnoreCase("MAILER-DAEMON");
    }

    private static boolean nonBlank(String s) {
        return s != null && !s.isBlank();
    }
}
