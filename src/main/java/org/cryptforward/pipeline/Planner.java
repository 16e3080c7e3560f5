package org.cryptforward.pipeline;

import java.io.IOException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.Date;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.cryptforward.config.Config;
import org.cryptforward.config.Rule;
import org.cryptforward.core.Dates;
import org.cryptforward.core.Failure;
import org.cryptforward.core.Limits;
import org.cryptforward.message.ForwardComposer;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InlineBody;
import org.cryptforward.rules.EncryptedInput;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.LoopDetector;

/**
 * Decides what happens to a message, in this order: no rule → keep locally only; a loop → keep
 * locally, do not forward; already encrypted → forward it as it is; a keyring that cannot be
 * read → defer; a rule key that cannot be used → a content-free notice (or, without a local
 * copy, defer); otherwise the encrypted
 * forward, inline where asked for and possible, else PGP/MIME. Reads the keyring; writes nothing.
 */
public final class Planner {
    private final Config config;
    private final Clock clock;
    private final SecureRandom random;

    public Planner(Config config, Clock clock, SecureRandom random) {
        this.config = config;
        this.clock = clock;
        this.random = random;
    }

    /** The one decision of a delivery: {@code deliver}, {@code deliver --dry-run} and {@code test} all make it here. */
    public Plan plan(HeaderSection header, Envelope envelope, Optional<Rule> rule) throws IOException {
        if (rule.isEmpty()) {
            return new Plan.KeepOnly(rule, "no rule matched: kept locally only");
        }
        Rule r = rule.get();
        boolean keepLocal = r.localCopy();
        Optional<String> loop = LoopDetector.loop(header, config.hostname(), r.forwardTo());
        if (loop.isPresent()) {
            String outcome = "kept locally, not forwarded: " + loop.get();
            if (keepLocal) {
                return new Plan.KeepOnly(rule, outcome);
            }
            // never dropped: without a local copy the message stays queued until the loop is resolved
            return new Plan.Defer(
                    rule,
                    false,
                    Failure.temporary(
                            "4.4.6",
                            "mail forwarding loop (" + loop.get() + ") and rule " + r.name() + " keeps no local copy"),
                    outcome,
                    Optional.empty(),
                    Optional.empty());
        }
        ForwardComposer composer = new ForwardComposer(config.hostname(), clock, random);
        String from = envelope.sender();
        Optional<EncryptedInput.Ciphertext> encrypted = EncryptedInput.detect(header);
        if (encrypted.isPresent()) {
            EncryptedInput.Ciphertext c = encrypted.get();
            return new Plan.PassThrough(
                    r,
                    c.description(),
                    (to, local) -> composer.passThrough(
                            header, to, from, r.protectSubject(), c.wrapping(), () -> EncryptedInput.open(header, c)));
        }
        RuleKeys keys = RuleKeys.resolve(config.keyring(), r, Date.from(clock.instant()));
        if (keys.temporary()) {
            // the keyring cannot be read (permissions, I/O): the next attempt may find the key, so defer
            String problem = keys.problem().orElse("the keyring cannot be read");
            return new Plan.Defer(
                    rule,
                    keepLocal,
                    Failure.temporary("4.3.0", "cannot read the keyring for rule " + r.name() + ": " + problem),
                    problem + "; nothing sent",
                    Optional.of(keys),
                    Optional.of(problem));
        }
        if (keys.problem().isPresent()) {
            String problem = keys.problem().get();
            if (!keepLocal) {
                return new Plan.Defer(
                        rule,
                        false,
                        Failure.temporary("4.7.5", "cannot encrypt for rule " + r.name() + ": " + problem),
                        problem + "; no local copy, so nothing sent",
                        Optional.of(keys),
                        Optional.of(problem));
            }
            String messageId =
                    header.value("Message-ID", Limits.DEFAULT.fieldBytes()).orElse("(none)");
            String received = Dates.rfc5322(ZonedDateTime.now(clock));
            return new Plan.Notice(
                    r, keys, problem, (to, local) -> composer.notice(to, messageId, from, received, local, problem));
        }
        List<PGPPublicKey> encryptionKeys = keys.encryptionKeys();
        boolean protect = r.protectSubject();
        Optional<String> fallback = Optional.empty();
        if (r.format() == Rule.Format.INLINE) {
            if (InlineBody.fits(header)) {
                return new Plan.Encrypt(
                        r,
                        Plan.Format.INLINE,
                        keys,
                        Optional.empty(),
                        (to, local) -> composer.inline(header, to, encryptionKeys, from, protect));
            }
            fallback = Optional.of("inline needs a text/plain message, this one is "
                    + header.contentType().type() + ": sent as PGP/MIME");
        }
        return new Plan.Encrypt(
                r,
                Plan.Format.PGP_MIME,
                keys,
                fallback,
                (to, local) -> composer.pgpMime(header, to, encryptionKeys, from, protect));
    }
}
