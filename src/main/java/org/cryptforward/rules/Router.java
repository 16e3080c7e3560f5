package org.cryptforward.rules;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.cryptforward.config.Glob;
import org.cryptforward.config.Rule;
import org.cryptforward.core.Limits;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.HeaderValues;

/**
 * Picks the first rule that matches a message. Pure: no I/O beyond reading the message's header.
 *
 * <p>A rule matches when one of its recipient globs matches the envelope recipient or an address
 * in To or Cc (a rule without globs matches any recipient), and every one of its header regexes
 * finds a match in the decoded value of a field of that name.
 *
 * <p>Bounded whatever the input: at most {@value #MAX_ADDRESSES} addresses from at most 1 MiB of
 * To/Cc values are matched (HeaderSection keeps at most 1000 fields of a name); past that the
 * rules are matched on what was read, and {@link #degraded} says so for the log line.
 */
public final class Router {
    static final int VALUE_LIMIT = Limits.DEFAULT.routedValueBytes();
    /** The most To/Cc addresses matched against the rules; the rest are not looked at. */
    public static final int MAX_ADDRESSES = Limits.DEFAULT.routedAddresses();
    /** The most bytes of To/Cc values read for them. */
    static final long MAX_ADDRESS_BYTES = Limits.DEFAULT.routedAddressBytes();

    /** The outcome: the rule, and in words why it matched. */
    public record Match(Rule rule, List<String> reasons) {}

    private final List<Rule> rules;
    private Optional<String> degraded = Optional.empty();

    public Router(List<Rule> rules) {
        this.rules = List.copyOf(rules);
    }

    /** The header fields (lower case) the rules look at, besides the ones always needed. */
    public Set<String> headerNames() {
        Set<String> names = new HashSet<>();
        for (Rule r : rules) {
            for (String h : r.headers().keySet()) {
                names.add(h.toLowerCase(Locale.ROOT));
            }
        }
        return names;
    }

    public Optional<Match> route(Envelope envelope, HeaderSection header) throws IOException {
        Set<String> candidates = new LinkedHashSet<>();
        envelope.recipient().ifPresent(r -> candidates.add(r.toLowerCase(Locale.ROOT)));
        Set<String> headerAddresses = new LinkedHashSet<>();
        long bytes = 0;
        boolean cut = false;
        fields:
        for (String name : List.of("To", "Cc")) {
            // HeaderSection keeps at most MAX_PER_NAME fields of a name: at the bound, some may be missing
            cut |= header.all(name).size() >= HeaderSection.MAX_PER_NAME;
            for (HeaderSection.Field f : header.all(name)) {
                if (bytes >= MAX_ADDRESS_BYTES) {
                    cut = true;
                    break fields;
                }
                int limit = (int) Math.min(VALUE_LIMIT, MAX_ADDRESS_BYTES - bytes);
                cut |= f.length() > limit;
                bytes += Math.min(f.length(), limit);
                for (String a : HeaderValues.addresses(header.value(f, limit))) {
                    if (headerAddresses.size() >= MAX_ADDRESSES) {
                        cut = true;
                        break fields;
                    }
                    headerAddresses.add(a);
                }
            }
        }
        if (cut) {
            degraded =
                    Optional.of("To/Cc too large: rules matched on the first " + headerAddresses.size() + " addresses");
        }
        candidates.addAll(headerAddresses);
        for (Rule rule : rules) {
            List<String> reasons = new ArrayList<>();
            if (!recipientMatches(rule, envelope, candidates, reasons)) {
                continue;
            }
            if (!headersMatch(rule, header, reasons)) {
                continue;
            }
            return Optional.of(new Match(rule, reasons));
        }
        return Optional.empty();
    }

    /** Whether the last {@link #route} matched on part of the addresses only, and how. */
    public Optional<String> degraded() {
        return degraded;
    }

    private static boolean recipientMatches(
            Rule rule, Envelope envelope, Set<String> candidates, List<String> reasons) {
        if (rule.recipients().isEmpty()) {
            reasons.add("no recipient patterns: matches every recipient");
            return true;
        }
        for (Glob g : rule.recipients()) {
            for (String address : candidates) {
                if (g.matches(address)) {
                    boolean envelopeHit = envelope.recipient()
                            .map(r -> r.equalsIgnoreCase(address))
                            .orElse(false);
                    reasons.add("recipient pattern \"" + g + "\" matched " + address
                            + (envelopeHit
                                    ? " (envelope recipient, from " + envelope.recipientSource() + ")"
                                    : " (To/Cc header)"));
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean headersMatch(Rule rule, HeaderSection header, List<String> reasons) throws IOException {
        for (Map.Entry<String, Pattern> e : rule.headers().entrySet()) {
            boolean hit = false;
            for (HeaderSection.Field f : header.all(e.getKey())) {
                if (e.getValue().matcher(header.value(f, VALUE_LIMIT)).find()) {
                    reasons.add(
                            "header " + e.getKey() + " matched /" + e.getValue().pattern() + "/");
                    hit = true;
                    break;
                }
            }
            if (!hit) {
                return false;
            }
        }
        return true;
    }
}
