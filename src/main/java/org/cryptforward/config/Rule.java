package org.cryptforward.config;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * One {@code [[rule]]}: which mail it takes and where its encrypted forward goes.
 *
 * @param recipients globs on the envelope recipient and the To/Cc addresses (any may match);
 *     empty = every message
 * @param headers regexes on decoded header values, by field name; all must match
 * @param keys e-mail addresses or fingerprints; every forward is encrypted to all of them
 */
public record Rule(
        String name,
        List<Glob> recipients,
        Map<String, Pattern> headers,
        List<String> forwardTo,
        List<String> keys,
        Format format,
        boolean localCopy,
        boolean protectSubject) {

    public Rule {
        recipients = List.copyOf(recipients);
        headers = Map.copyOf(headers);
        forwardTo = List.copyOf(forwardTo);
        keys = List.copyOf(keys);
    }

    /** How the forward is encrypted. */
    public enum Format {
        PGP_MIME("pgp-mime"),
        INLINE("inline");

        private final String word;

        Format(String word) {
            this.word = word;
        }

        public String word() {
            return word;
        }
    }
}
