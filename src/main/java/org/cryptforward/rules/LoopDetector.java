package org.cryptforward.rules;

import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.core.Limits;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.HeaderValues;

/**
 * Recognises mail that would loop if forwarded: a message that carries this host's own loop
 * marker (one of our forwards came back), and, as Postfix's local(8) does, a message whose
 * {@code Delivered-To} already names a forward address.
 */
public final class LoopDetector {
    static final int VALUE_LIMIT = Limits.DEFAULT.loopValueBytes();

    private LoopDetector() {}

    /** Why forwarding this message would loop, or empty. */
    public static Optional<String> loop(HeaderSection header, String hostname, List<String> forwardTo)
            throws IOException {
        for (HeaderSection.Field f : header.all(Config.LOOP_HEADER)) {
            if (header.value(f, VALUE_LIMIT).equalsIgnoreCase(hostname)) {
                return Optional.of("it carries this host's " + Config.LOOP_HEADER + " marker");
            }
        }
        for (HeaderSection.Field f : header.all("Delivered-To")) {
            for (String a : HeaderValues.addresses(header.value(f, VALUE_LIMIT))) {
                for (String target : forwardTo) {
                    if (a.equals(target.toLowerCase(Locale.ROOT))) {
                        return Optional.of("mail forwarding loop: Delivered-To already names " + target);
                    }
                }
            }
        }
        return Optional.empty();
    }
}
