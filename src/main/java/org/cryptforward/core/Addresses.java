package org.cryptforward.core;

import jakarta.mail.internet.AddressException;
import jakarta.mail.internet.InternetAddress;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The one rule for an e-mail address that goes into an SMTP command or an outer header field:
 * every source of an address — the configuration's {@code forward_to} and {@code envelope_from},
 * {@code --sender}, {@code $SENDER}, the Return-Path header, the envelope {@code From } line — is
 * passed through {@link #mailbox}, which yields a valid bare address or nothing (the caller then
 * uses {@code <>}), and {@code check} and {@code deliver} both judge a configured address by
 * {@link #isValid}.
 *
 * <p>Valid: {@code local@domain}, at most 254 characters, a local part of at most 64 in RFC 5321's
 * dot-atom form (no quoted local parts, no white space, no control characters, none of
 * {@code <>()[],;:"\}), a domain of host-name labels or an address literal in brackets — and
 * accepted by Jakarta Mail's strict parser, which is what the SMTP layer will use. Non-ASCII
 * letters are valid only where {@code utf8} is allowed (an envelope sender, sent with SMTPUTF8
 * where the relay offers it); U+FFFD (bytes that were not text) never is.
 */
public final class Addresses {
    public static final int MAX_LENGTH = 254;
    private static final int MAX_LOCAL = 64;
    private static final Pattern LOCAL = Pattern.compile(
            "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\x{80}-\\x{10FFFF}]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\x{80}-\\x{10FFFF}]+)*");
    private static final Pattern LABEL = Pattern.compile(
            "[A-Za-z0-9\\x{80}-\\x{10FFFF}]([A-Za-z0-9\\-\\x{80}-\\x{10FFFF}]*[A-Za-z0-9\\x{80}-\\x{10FFFF}])?");
    private static final Pattern LITERAL = Pattern.compile("\\[(\\d{1,3}(\\.\\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\\]");

    private Addresses() {}

    /**
     * The bare address in {@code raw} — surrounding white space and one pair of angle brackets
     * removed — if it is valid; empty if {@code raw} is empty, {@code <>}, or not a valid address.
     */
    public static Optional<String> mailbox(String raw, boolean utf8) {
        if (raw == null) {
            return Optional.empty();
        }
        String s = raw.strip();
        if (s.startsWith("<") && s.endsWith(">")) {
            s = s.substring(1, s.length() - 1).strip();
        }
        return isValid(s, utf8) ? Optional.of(s) : Optional.empty();
    }

    /** Whether {@code s} is a valid bare address, exactly as it stands. */
    public static boolean isValid(String s, boolean utf8) {
        if (s == null || s.isEmpty() || s.length() > MAX_LENGTH || s.indexOf('\uFFFD') >= 0) {
            return false;
        }
        if (!utf8 && !isAscii(s)) {
            return false;
        }
        int at = s.lastIndexOf('@');
        if (at <= 0 || at > MAX_LOCAL || at == s.length() - 1 || s.indexOf('@') != at) {
            return false;
        }
        String local = s.substring(0, at);
        String domain = s.substring(at + 1);
        if (!LOCAL.matcher(local).matches() || !isDomain(domain)) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)
                    || Character.isISOControl(c)
                    || Character.isSpaceChar(c)
                    || c == '\u2028'
                    || c == '\u2029') {
                return false;
            }
        }
        // the SMTP layer's own parser must take it as it is (non-ASCII letters stand in as 'a')
        String ascii = asciiStandIn(s);
        try {
            InternetAddress a = new InternetAddress(ascii, true);
            a.validate();
            return ascii.equals(a.getAddress()) && a.getPersonal() == null;
        } catch (AddressException e) {
            return false;
        }
    }

    private static boolean isDomain(String d) {
        if (LITERAL.matcher(d).matches()) {
            return true;
        }
        if (d.length() > 253 || d.endsWith(".")) {
            return false;
        }
        for (String label : d.split("\\.", -1)) {
            if (label.length() > 63 || !LABEL.matcher(label).matches()) {
                return false;
            }
        }
        return true;
    }

    public static boolean isAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) > 127) {
                return false;
            }
        }
        return true;
    }

    private static String asciiStandIn(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(c -> sb.append(c > 127 ? 'a' : (char) c));
        return sb.toString();
    }
}
