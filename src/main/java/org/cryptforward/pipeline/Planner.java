package org.cryptforward.pipeline;

import java.io.IOException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.Date;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.cryptforward.Dates;
import org.cryptforward.Failure;
import org.cryptforward.config.Config;
import org.cryptforward.config.Rule;
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
    static final int FIELD_LIMIT = 64 * 1024;

    private final Config config;
    private final Clock clock;
    private final SecureRandom random;

    public Planner(Config config, Clock clock, SecureRandom random) {
        this.config = config;
        this.clock = clock;
        this.random = random;
    }

    public Plan plan(HeaderSection header, Envelope envelope, Optional<Rule> rule) throws IOException {
        if (rule.isEmpty()) {
            return plan(rule, true, Optional.empty(), "no rule matched: kept locally only");
        }
        Rule r = rule.get();
        boolean keepLocal = r.localCopy();
        Optional<String> loop = LoopDetector.loop(header, config.hostname(), r.forwardTo());
        if (loop.isPresent()) {
            // never dropped: without a local copy the message stays queued until the loop is resolved
            Optional<Failure> f = keepLocal
                    ? Optional.empty()
                    : Optional.of(Failure.temporary("4.4.6", "mail forwarding loop (" + loop.get() + ") and rule " + r.name()
                            + " keeps no local copy"));
            return new Plan(rule, keepLocal, Optional.empty(), "kept locally, not forwarded: " + loop.get(), f, false, Optional.empty(),
                    Optional.empty(), Optional.empty());
        }
        ForwardComposer composer = new ForwardComposer(config.hostname(), clock, random);
        String from = envelope.sender();
        Optional<EncryptedInput.Ciphertext> encrypted = EncryptedInput.detect(header);
        if (encrypted.isPresent()) {
            EncryptedInput.Ciphertext c = encrypted.get();
            return new Plan(rule, keepLocal, Optional.of((to, local) -> composer.passThrough(header, to, from, r.protectSubject(), c.wrapping(),
                            () -> EncryptedInput.open(header, c))), "forwarded as it is",
                    Optional.empty(), false, Optional.empty(), Optional.of("already encrypted (" + c.description() + "), forwarded as it is"),
                    Optional.empty());
        }
        RuleKeys keys = RuleKeys.resolve(config.keyring(), r, Date.from(clock.instant()));
        if (keys.temporary()) {
            // the keyring cannot be read (permissions, I/O): the next attempt may find the key, so defer
            String problem = keys.problem().orElse("the keyring cannot be read");
            return new Plan(rule, keepLocal, Optional.empty(), problem + "; nothing sent",
                    Optional.of(Failure.temporary("4.3.0", "cannot read the keyring for rule " + r.name() + ": " + problem)), false,
                    Optional.of(keys), Optional.empty(), Optional.of(problem));
        }
        if (keys.problem().isPresent()) {
            String problem = keys.problem().get();
            if (!keepLocal) {
                return new Plan(rule, false, Optional.empty(), problem + "; no local copy, so nothing sent",
                        Optional.of(Failure.temporary("4.7.5", "cannot encrypt for rule " + r.name() + ": " + problem)), false,
                        Optional.of(keys), Optional.empty(), Optional.of(problem));
            }
            String messageId = header.value("Message-ID", FIELD_LIMIT).orElse("(none)");
            String received = Dates.rfc5322(ZonedDateTime.now(clock));
            return new Plan(rule, true, Optional.of((to, local) -> composer.notice(to, messageId, from, received, local, problem)),
                    "notice without content sent", Optional.empty(), true, Optional.of(keys), Optional.empty(), Optional.of(problem));
        }
        List<PGPPublicKey> encryptionKeys = keys.encryptionKeys();
        boolean protect = r.protectSubject();
        Optional<String> note = Optional.empty();
        if (r.format() == Rule.Format.INLINE) {
            if (InlineBody.fits(header)) {
                return new Plan(rule, keepLocal, Optional.of((to, local) -> composer.inline(header, to, encryptionKeys, from, protect)),
                        "forwarded inline", Optional.empty(), false, Optional.of(keys), Optional.empty(), Optional.empty());
            }
            note = Optional.of("inline needs a text/plain message, this one is " + header.contentType().type() + ": sent as PGP/MIME");
        }
        return new Plan(rule, keepLocal, Optional.of((to, local) -> composer.pgpMime(header, to, encryptionKeys, from, protect)),
                "forwarded", Optional.empty(), false, Optional.of(keys), note, Optional.empty());
    }

    private static Plan plan(Optional<Rule> rule, boolean keepLocal, Optional<Plan.Forwarder> forwarder, String outcome) {
        return new Plan(rule, keepLocal, forwarder, outcome, Optional.empty(), false, Optional.empty(), Optional.empty(), Optional.empty());
    }
}
