package org.cryptforward.journal;

import java.util.Optional;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;

/**
 * The port through which a delivery remembers what it has done, so that a retry does only what
 * is missing. {@link Journal} keeps it in files under {@code state_dir}; unit tests of the order
 * of side effects use one in memory.
 */
public interface DeliveryJournal {

    /** Opens (creating) the entry for {@code key} and holds it exclusively, waiting at most until the deadline. */
    Entry open(String key, Deadline deadline) throws Failure;

    /** Housekeeping after a delivery; never fails one. Returns how many old entries went. */
    int prune();

    /** The exclusively held entry of one message. */
    interface Entry extends AutoCloseable {
        /** The journal key this entry belongs to. */
        String key();

        /** Whether exactly this record exists. */
        boolean has(JournalRecord record);

        /** The last record of this kind, if any. */
        <R extends JournalRecord> Optional<R> last(Class<R> kind);

        /** Appends a record; it is durable when this returns. */
        void record(JournalRecord record) throws Failure;

        @Override
        void close();
    }
}
