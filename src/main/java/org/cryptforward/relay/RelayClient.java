package org.cryptforward.relay;

import org.cryptforward.core.Failure;
import org.cryptforward.message.OutboundMessage;

/**
 * The port through which a delivery hands its forwards on: {@link SmtpRelay} speaks SMTP to the
 * configured relay; unit tests of the order of side effects use one in memory. Every failure is a
 * {@link Failure} that says whether it is temporary or permanent.
 */
public interface RelayClient {

    /** The relay's address, for the log line. */
    String address();

    /**
     * Opens a session ready to send mail from {@code envelopeFrom} (connected, TLS and AUTH done;
     * SMTPUTF8 asked for when the sender needs it).
     */
    Connection connect(String envelopeFrom) throws Failure;

    /** One open session. */
    interface Connection extends AutoCloseable {
        /**
         * Sends {@code message} to {@code recipient}; returns only once the relay accepted it (250).
         *
         * @param envelopeFrom the MAIL FROM address; {@code ""} for the null sender
         */
        void send(OutboundMessage message, String envelopeFrom, String recipient) throws Failure;

        /** What became of a sender that could not be sent as it is, for the log line; null if nothing. */
        String senderNote();

        /** Ends the session; never fails (what was sent is acknowledged already). */
        @Override
        void close();
    }
}
