package org.cryptforward.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The SMTP relay the encrypted forwards go to.
 *
 * @param envelopeFrom the MAIL FROM address; empty = the original envelope sender; {@code ""}
 *     inside = the null sender
 */
public record RelayConfig(
        String host,
        int port,
        Security security,
        boolean allowPlaintext,
        Optional<String> username,
        Optional<Path> passwordFile,
        Optional<Path> caFile,
        Duration timeout,
        Optional<String> envelopeFrom) {

    /** How the connection to the relay is protected. */
    public enum Security {
        NONE("none"),
        STARTTLS("starttls"),
        TLS("tls");

        private final String word;

        Security(String word) {
            this.word = word;
        }

        public String word() {
            return word;
        }
    }

    public String address() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}
