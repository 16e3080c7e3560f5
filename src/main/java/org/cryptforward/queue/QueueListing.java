package org.cryptforward.queue;

import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;

/**
 * {@code queue list} and {@code mailq}: the queue as Postfix's {@code mailq} shows it — queue ID,
 * size, arrival time and sender on one line, the last error in parentheses below, then the
 * recipients not yet accepted; a summary line at the end, or {@code Mail queue is empty}. An entry
 * the queue gave up on (kept aside) is marked {@code !}, as Postfix marks a held message.
 */
public final class QueueListing {
    private static final DateTimeFormatter ARRIVAL = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss", Locale.ROOT);
    private static final String INDENT = " ".repeat(42);

    private QueueListing() {}

    public static String format(List<QueueEntry> waiting, List<QueueEntry> aside, ZoneId zone) {
        if (waiting.isEmpty() && aside.isEmpty()) {
            return "Mail queue is empty\n";
        }
        StringBuilder sb =
                new StringBuilder("-Queue ID-      --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
        long bytes = 0;
        for (QueueEntry e : waiting) {
            entry(sb, e, ' ', zone);
            bytes += e.size();
        }
        for (QueueEntry e : aside) {
            entry(sb, e, '!', zone);
            bytes += e.size();
        }
        int n = waiting.size() + aside.size();
        sb.append("-- ")
                .append((bytes + 1023) / 1024)
                .append(" Kbytes in ")
                .append(n)
                .append(n == 1 ? " Request.\n" : " Requests.\n");
        return sb.toString();
    }

    private static void entry(StringBuilder sb, QueueEntry e, char mark, ZoneId zone) {
        sb.append(String.format(
                Locale.ROOT,
                "%-15s %8d %20s  %s%n",
                e.id() + mark,
                e.size(),
                ARRIVAL.format(e.created().atZone(zone)),
                e.sender().isEmpty() ? "MAILER-DAEMON" : e.sender()));
        if (mark == '!') {
            sb.append("(given up, kept aside: ")
                    .append(e.lastError().isEmpty() ? "see the notice in the local mailbox" : e.lastError())
                    .append(")\n");
        } else if (!e.lastError().isEmpty()) {
            sb.append('(').append(e.lastError()).append(")\n");
        }
        for (String r : e.pending()) {
            sb.append(INDENT).append(r).append('\n');
        }
        sb.append('\n');
    }
}
