package org.cryptforward.relay;

import org.cryptforward.Failure;
import org.cryptforward.message.OutboundMessage;

/**
 * The port through which a delivery hands its forwards on: {@link SmtpRelay} speaks SMTP to the
 * configured relay; unit tests of the order of side effects use one in memory. Every failure is a
 * {@link Failure} that says whether it is temporary or permanent.
 */
public interface RelayClient {

    /** The relay's address, for the log line. */
    String address();

    /** Opens a session ready to send (connected, TLS and AUTH done). */
    Connection connect() throws Failure;

    /** One open session. */
    interface Connection extends AutoCloseable {
        /**
         * Sends {@code message} to {@code recipient}; returns only once the relay accepted it (250).
         *
         * @param envelopeFrom the MAIL FROM address; {@code ""} for the null sender
         */
        void send(OutboundMessage message, String envelopeFrom, String recipient) throws Failure;

        /** Ends the session; never fails (what was sent is acknowledged already). */
        @Override
        void close();
    }
}
