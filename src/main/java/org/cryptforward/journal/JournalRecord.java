package org.cryptforward.journal;

import java.util.Optional;

/**
 * One thing a delivery has done, as the journal remembers it. Each kind has one line form on
 * disk, the same text earlier versions wrote ({@code local PATH}, {@code maildir-intent NAME},
 * {@code sent ADDRESS}, {@code notice ADDRESS}), so a state directory left by an earlier version
 * in the middle of its retries is read as it is: an upgrade between two attempts repeats nothing
 * and loses nothing. A line of no known kind is kept in the entry and ignored.
 */
public sealed interface JournalRecord {

    /** The local copy is complete and fsynced at {@code location} (the Maildir file or the mbox). */
    record LocalCopy(String location) implements JournalRecord {
        @Override
        public String line() {
            return "local " + location;
        }
    }

    /** A Maildir copy is about to be written under {@code name}: a retry looks for it. */
    record MaildirIntent(String name) implements JournalRecord {
        @Override
        public String line() {
            return "maildir-intent " + name;
        }
    }

    /** The encrypted (or passed-through) forward to {@code address} got its 250. */
    record Forwarded(String address) implements JournalRecord {
        @Override
        public String line() {
            return "sent " + address;
        }
    }

    /** The content-free notice to {@code address} got its 250. */
    record NoticeSent(String address) implements JournalRecord {
        @Override
        public String line() {
            return "notice " + address;
        }
    }

    /** The record as one line of the journal file (before escaping). */
    String line();

    /** The record a line holds, or empty if it is of no kind this version knows. */
    static Optional<JournalRecord> parse(String line) {
        int sp = line.indexOf(' ');
        if (sp <= 0 || sp == line.length() - 1) {
            return Optional.empty();
        }
        String value = line.substring(sp + 1);
        return switch (line.substring(0, sp)) {
            case "local" -> Optional.of(new LocalCopy(value));
            case "maildir-intent" -> Optional.of(new MaildirIntent(value));
            case "sent" -> Optional.of(new Forwarded(value));
            case "notice" -> Optional.of(new NoticeSent(value));
            default -> Optional.empty();
        };
    }
}
