package org.cryptforward.pipeline;

import java.util.List;
import org.cryptforward.rules.Envelope;

/**
 * The one Postfix-style log line per message:
 * {@code msgid=<...> from=<...> to=<...> rule=NAME local=PATH relay=HOST:PORT status=sent (...) size=N keys=FPR,...}.
 * Values come from the envelope and our own configuration; no message content but the Message-ID.
 */
final class LogLine {
    private final String messageId;
    private final String from;
    private final String to;
    private final long size;
    private String rule = "(none)";
    private String local = "none";
    private String relay = "none";
    private String status = "deferred";
    private String detail = "";
    private String keys = "";
    private String warning;
    private String note;

    LogLine(String messageId, Envelope envelope, long size) {
        this.messageId = messageId.isEmpty() ? "<>" : messageId;
        this.from = "<" + envelope.sender() + ">";
        this.to = "<" + envelope.recipient().orElse("") + ">";
        this.size = size;
    }

    void rule(String name) {
        this.rule = name;
    }

    void local(String path) {
        this.local = path;
    }

    void relay(String address) {
        this.relay = address;
    }

    void keys(List<String> fingerprints) {
        this.keys = String.join(",", fingerprints);
    }

    void status(String status, String detail) {
        this.status = status;
        this.detail = detail;
    }

    void warning(String text) {
        this.warning = text;
    }

    void note(String text) {
        // notes add up (the plan's, then the relay's), each said once
        this.note = note == null || note.equals(text) ? text : note.contains(text) ? note : note + "; " + text;
    }

    boolean hasWarning() {
        return warning != null;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        sb.append("msgid=")
                .append(clean(messageId))
                .append(" from=")
                .append(clean(from))
                .append(" to=")
                .append(clean(to))
                .append(" rule=")
                .append(clean(rule))
                .append(" local=")
                .append(clean(local))
                .append(" relay=")
                .append(relay)
                .append(" status=")
                .append(status);
        if (!detail.isEmpty()) {
            sb.append(" (").append(clean(detail)).append(')');
        }
        sb.append(" size=").append(size);
        sb.append(" keys=").append(keys.isEmpty() ? "none" : keys);
        if (note != null) {
            sb.append(" note=(").append(clean(note)).append(')');
        }
        if (warning != null) {
            sb.append(" warning=(").append(clean(warning)).append(')');
        }
        return sb.toString();
    }

    private static String clean(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length() && sb.length() < 1000; i++) {
            char c = s.charAt(i);
            sb.append(c < 32 || c == 127 ? ' ' : c);
        }
        return sb.toString();
    }
}
