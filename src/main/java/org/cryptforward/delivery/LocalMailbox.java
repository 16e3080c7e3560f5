package org.cryptforward.delivery;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import org.cryptforward.core.Failure;
import org.cryptforward.journal.DeliveryJournal;

/**
 * The local plaintext copy: the one place the plaintext of a message is written. A port of the
 * delivery: {@link Maildir} and {@link Mbox} are the adapters, each with its own protocol for
 * recording the copy in the message's journal entry so that a retry, also after a run killed in
 * the middle, ends with exactly one copy.
 */
public interface LocalMailbox {
    /** The message, readable as often as needed (an mbox reads it twice: to measure, then to write). */
    @FunctionalInterface
    interface MessageSource {
        InputStream open() throws IOException;
    }

    /**
     * Stores the message durably: when this returns, the copy is complete and fsynced; when it
     * throws, nothing of it is left (an mbox is truncated back to its former length).
     *
     * @param message the message without envelope line
     * @param envelopeSender for an mbox {@code From } line; {@code ""} is the null sender
     * @return where the copy is (the Maildir file, or the mbox)
     */
    Path store(MessageSource message, String envelopeSender) throws Failure;

    /**
     * Writes the copy unless {@code entry} shows it written, and records it there once it is
     * fsynced. Recognises what a run killed in the middle left (see each adapter).
     *
     * @return where the copy is
     */
    Path deliverOnce(MessageSource message, String envelopeSender, DeliveryJournal.Entry entry) throws Failure;

    /** The configured mailbox path. */
    Path path();
}
