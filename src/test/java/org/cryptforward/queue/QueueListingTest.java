package org.cryptforward.queue;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@code mailq}'s layout, as Postfix prints it: ID, size, arrival, sender; the error; the recipients still due; the total. */
class QueueListingTest {
    static QueueEntry entry(String id, long size, String error, Set<String> done) {
        return new QueueEntry(
                id,
                Path.of("/q", id),
                Instant.parse("2026-12-01T08:30:05Z"),
                "root@host.example",
                List.of("ed@example.org", "ops@example.org"),
                size,
                "<m@x>",
                "<f@x>",
                "root-to-admin",
                2,
                Instant.parse("2026-12-01T08:33:05Z"),
                error,
                done);
    }

    @Test
    void anEmptyQueue() {
        assertEquals("Mail queue is empty\n", QueueListing.format(List.of(), List.of(), ZoneOffset.UTC));
    }

    @Test
    void waitingAndGivenUpEntries() {
        String out = QueueListing.format(
                List.of(entry(
                        "6B0E8D827D0F23",
                        1774,
                        "4.4.1 cryptforward: relay 127.0.0.1:25 refused connection",
                        Set.of("ops@example.org"))),
                List.of(entry("6B0E8D827D0F99", 2048, "", Set.of())),
                ZoneOffset.UTC);
        assertEquals(
                "-Queue ID-      --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
                        + "6B0E8D827D0F23      1774  Tue Dec  1 08:30:05  root@host.example\n"
                        + "(4.4.1 cryptforward: relay 127.0.0.1:25 refused connection)\n"
                        + "                                          ed@example.org\n"
                        + "\n"
                        + "6B0E8D827D0F99!     2048  Tue Dec  1 08:30:05  root@host.example\n"
                        + "(given up, kept aside: see the notice in the local mailbox)\n"
                        + "                                          ed@example.org\n"
                        + "                                          ops@example.org\n"
                        + "\n"
                        + "-- 4 Kbytes in 2 Requests.\n",
                out,
                "the recipient the relay accepted is not listed");
    }
}
