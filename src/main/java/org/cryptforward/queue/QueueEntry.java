package org.cryptforward.queue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * One entry of the queue as its metadata file describes it: who it goes to, who sent it, when it
 * was queued, how often it was tried, the last error and when it is next due. The entry's
 * {@code message} file next to it is the encrypted forward, ready to send; nothing here is
 * message content (the Message-IDs and the rule name are what the log line shows too).
 *
 * <p>On disk, one {@code key value} line per field, printable ASCII; a recipient per
 * {@code recipient} line. The per-recipient records of what the relay accepted live in the
 * entry's {@code done} file, not here, so that they are appended (and fsynced) one at a time.
 *
 * @param id the queue ID, as {@code mailq} shows it
 * @param dir the entry's directory
 * @param created when it was queued
 * @param sender the envelope sender for MAIL FROM; {@code ""} is the null sender
 * @param recipients the forward addresses
 * @param size the size of the encrypted message in bytes
 * @param messageId the Message-ID of the original message, for the log
 * @param forwardId the Message-ID of the forward
 * @param rule the rule that made it
 * @param attempts how many times the relay was tried
 * @param nextTry when the next attempt is due
 * @param lastError the status line of the last failure, or empty
 * @param done the recipients the relay has accepted
 */
public record QueueEntry(
        String id,
        Path dir,
        Instant created,
        String sender,
        List<String> recipients,
        long size,
        String messageId,
        String forwardId,
        String rule,
        int attempts,
        Instant nextTry,
        String lastError,
        Set<String> done) {
    static final String MAGIC = "cryptforward-queue 1";

    public QueueEntry {
        recipients = List.copyOf(recipients);
        done = Set.copyOf(done);
    }

    /** The recipients the relay has not accepted yet. */
    public List<String> pending() {
        List<String> out = new ArrayList<>();
        for (String r : recipients) {
            if (!done.contains(r)) {
                out.add(r);
            }
        }
        return out;
    }

    QueueEntry withAttempt(Instant next, String error) {
        return new QueueEntry(
                id,
                dir,
                created,
                sender,
                recipients,
                size,
                messageId,
                forwardId,
                rule,
                attempts + 1,
                next,
                clean(error),
                done);
    }

    QueueEntry withDone(Set<String> accepted) {
        return new QueueEntry(
                id,
                dir,
                created,
                sender,
                recipients,
                size,
                messageId,
                forwardId,
                rule,
                attempts,
                nextTry,
                lastError,
                accepted);
    }

    QueueEntry in(Path newDir) {
        return new QueueEntry(
                id,
                newDir,
                created,
                sender,
                recipients,
                size,
                messageId,
                forwardId,
                rule,
                attempts,
                nextTry,
                lastError,
                done);
    }

    /** The metadata file's bytes. */
    byte[] format() {
        StringBuilder sb = new StringBuilder(MAGIC).append('\n');
        line(sb, "id", id);
        line(sb, "created", String.valueOf(created.toEpochMilli()));
        line(sb, "sender", sender);
        for (String r : recipients) {
            line(sb, "recipient", r);
        }
        line(sb, "size", String.valueOf(size));
        line(sb, "message-id", messageId);
        line(sb, "forward-id", forwardId);
        line(sb, "rule", rule);
        line(sb, "attempts", String.valueOf(attempts));
        line(sb, "next-try", String.valueOf(nextTry.toEpochMilli()));
        line(sb, "last-error", lastError);
        sb.append("end\n");
        return sb.toString().getBytes(StandardCharsets.US_ASCII);
    }

    private static void line(StringBuilder sb, String key, String value) {
        sb.append(key).append(' ').append(clean(value)).append('\n');
    }

    /** Printable ASCII only, bounded: a value never breaks its line. */
    static String clean(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(Math.min(s.length(), 1000));
        for (int i = 0; i < s.length() && sb.length() < 1000; i++) {
            char c = s.charAt(i);
            sb.append(c >= 32 && c < 127 ? c : '?');
        }
        return sb.toString();
    }

    /** Reads a metadata file; empty when it is not a complete one of ours. */
    static Optional<QueueEntry> parse(Path dir, byte[] bytes, Set<String> done) {
        String text = new String(bytes, StandardCharsets.US_ASCII);
        if (!text.startsWith(MAGIC + "\n") || !text.endsWith("\nend\n")) {
            return Optional.empty();
        }
        String id = null;
        Instant created = null;
        String sender = null;
        List<String> recipients = new ArrayList<>();
        long size = -1;
        String messageId = "";
        String forwardId = "";
        String rule = "";
        int attempts = 0;
        Instant next = null;
        String lastError = "";
        try {
            for (String line : text.split("\n")) {
                int sp = line.indexOf(' ');
                if (sp < 0) {
                    continue;
                }
                String key = line.substring(0, sp);
                String value = line.substring(sp + 1);
                switch (key) {
                    case "id" -> id = value;
                    case "created" -> created = Instant.ofEpochMilli(Long.parseLong(value));
                    case "sender" -> sender = value;
                    case "recipient" -> recipients.add(value);
                    case "size" -> size = Long.parseLong(value);
                    case "message-id" -> messageId = value;
                    case "forward-id" -> forwardId = value;
                    case "rule" -> rule = value;
                    case "attempts" -> attempts = Integer.parseInt(value);
                    case "next-try" -> next = Instant.ofEpochMilli(Long.parseLong(value));
                    case "last-error" -> lastError = value;
                    default -> {
                        // a field of a later version: ignored
                    }
                }
            }
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        if (id == null
                || created == null
                || sender == null
                || recipients.isEmpty()
                || size < 0
                || next == null
                || !id.equals(dir.getFileName().toString())) {
            return Optional.empty();
        }
        return Optional.of(new QueueEntry(
                id,
                dir,
                created,
                sender,
                recipients,
                size,
                messageId,
                forwardId,
                rule,
                attempts,
                next,
                lastError,
                new LinkedHashSet<>(done)));
    }
}
