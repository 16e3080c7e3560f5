package org.cryptforward.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.cryptforward.config.Config;
import org.cryptforward.config.Rule;
import org.cryptforward.core.Failure;
import org.cryptforward.core.IoErrors;
import org.cryptforward.core.Limits;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.EnvelopeResolver;
import org.cryptforward.rules.Router;

/**
 * The first half of every delivery, the same for {@code deliver}, {@code --dry-run} and
 * {@code test}: the whole input read (spooled, encrypted, beyond {@link Limits#spoolMemoryBytes}),
 * the header fields a delivery looks at parsed, the envelope found, and the rule that matches.
 * Nothing is written but the spool. Closing it removes the spool.
 *
 * @param match the matching rule and why it matched; empty when no rule matches
 */
public record Intake(InputMessage message, HeaderSection header, Envelope envelope, Optional<Router.Match> match)
        implements AutoCloseable {

    private static final Set<String> ALWAYS_WANTED = Set.of(
            "from",
            "subject",
            "to",
            "cc",
            "date",
            "message-id",
            "in-reply-to",
            "references",
            "content-type",
            "content-transfer-encoding",
            "mime-version",
            "delivered-to",
            "x-original-to",
            "return-path",
            Config.LOOP_HEADER.toLowerCase(Locale.ROOT));

    /**
     * Reads and routes one message.
     *
     * @param exim whether Exim runs us (its pipe leaves a trailing newline the message did not have)
     * @param tempDir where the spool goes
     */
    public static Intake read(
            Router router,
            InputStream in,
            Path tempDir,
            boolean exim,
            Map<String, String> env,
            Optional<String> recipient,
            Optional<String> sender)
            throws Failure, IOException {
        InputMessage message = readInput(in, tempDir, exim);
        try {
            HeaderSection header = HeaderSection.parse(message, wantedHeaders(router));
            Envelope envelope =
                    EnvelopeResolver.resolve(recipient.orElse(null), sender.orElse(null), env, header, message);
            return new Intake(message, header, envelope, router.route(envelope, header));
        } catch (IOException | RuntimeException e) {
            try {
                message.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** The matching rule, if any. */
    public Optional<Rule> rule() {
        return match.map(Router.Match::rule);
    }

    /** The Message-ID as written, or empty. */
    public Optional<String> messageId() throws IOException {
        return header.value("Message-ID", Limits.DEFAULT.fieldBytes());
    }

    @Override
    public void close() throws IOException {
        message.close();
    }

    /** The header fields a delivery looks at: the ones always needed and those the rules name. */
    static Set<String> wantedHeaders(Router router) {
        Set<String> wanted = new HashSet<>(ALWAYS_WANTED);
        wanted.addAll(router.headerNames());
        return wanted;
    }

    private static InputMessage readInput(InputStream stdin, Path tempDir, boolean exim) throws Failure {
        try {
            return InputMessage.read(stdin, tempDir, Limits.DEFAULT.spoolMemoryBytes(), exim);
        } catch (IOException e) {
            throw Failure.temporary("4.3.0", "cannot read the message: " + IoErrors.describe(e), e);
        } catch (RuntimeException e) {
            if (e.getCause() instanceof IOException io) {
                throw IoErrors.temporary("4.3.0", "cannot spool the message in " + tempDir, io);
            }
            throw e;
        }
    }
}
