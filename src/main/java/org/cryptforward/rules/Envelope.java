package org.cryptforward.rules;

import java.util.Optional;

/**
 * Who the message is for and from, as the MTA sees it.
 *
 * @param recipient the envelope recipient, if any source named one
 * @param recipientSource where it came from: {@code --recipient}, {@code $ORIGINAL_RECIPIENT}, ...
 * @param sender the envelope sender; {@code ""} is the null sender {@code <>}
 * @param senderSource where it came from
 */
public record Envelope(Optional<String> recipient, String recipientSource, String sender, String senderSource) {}
