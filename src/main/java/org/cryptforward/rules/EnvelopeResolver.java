package org.cryptforward.rules;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.Limits;
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
 */
public final class EnvelopeResolver {
    static final int VALUE_LIMIT = Limits.DEFAULT.envelopeValueBytes();

    private EnvelopeResolver() {}

    public static Envelope resolve(
            String recipientOption, String senderOption, Map<String, String> env, HeaderSection header, InputMessage message)
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

        String sender;
        String senderSource;
        if (senderOption != null) {
            sender = stripBrackets(senderOption);
            senderSource = "--sender";
        } else if (env.containsKey("SENDER")) {
            sender = stripBrackets(env.get("SENDER"));
            senderSource = "$SENDER";
        } else {
            Optional<String> rp = header.value("Return-Path", VALUE_LIMIT);
            if (rp.isPresent()) {
                sender = stripBrackets(rp.get());
                senderSource = "Return-Path header";
            } else if (message.envelopeLineSender().isPresent()) {
                sender = message.envelopeLineSender().get();
                senderSource = "From_ line";
            } else {
                sender = "";
                senderSource = "none";
            }
        }
        if (sender.equalsIgnoreCase("MAILER-DAEMON")) {
            sender = "";
        }
        return new Envelope(recipient, recipientSource, sender, senderSource);
    }

    private static boolean nonBlank(String s) {
        return s != null && !s.isBlank();
    }

    private static String stripBrackets(String s) {
        String t = s.strip();
        int lt = t.indexOf('<');
        int gt = t.lastIndexOf('>');
        if (lt >= 0 && gt > lt) {
            t = t.substring(lt + 1, gt).strip();
        }
        // nothing that could break a protocol line or a log line
        StringBuilder sb = new StringBuilder(t.length());
        for (int i = 0; i < t.length() && sb.length() < 512; i++) {
            char c = t.charAt(i);
            if (c > ' ' && c != 127 && c != '<' && c != '>') {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
