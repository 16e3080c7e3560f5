package org.cryptforward.pipeline;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.config.ConfigException;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.config.ConfigProblem;
import org.cryptforward.config.RelayConfig;
import org.cryptforward.config.Rule;
import org.cryptforward.core.Deadline;
import org.cryptforward.core.Failure;
import org.cryptforward.keys.KeyDescription;
import org.cryptforward.keys.KeyImporter;
import org.cryptforward.keys.KeyStatus;
import org.cryptforward.keys.Keyring;
import org.cryptforward.keys.KeyringException;
import org.cryptforward.keys.KeyringModes;
import org.cryptforward.relay.PasswordFile;
import org.cryptforward.relay.SmtpRelay;

/**
 * {@code check}: everything the configuration points to, checked, and every problem listed.
 * Errors are what would make deliveries defer or fail, or send a notice instead of the message
 * (a key that is missing, ambiguous, expired, revoked or cannot encrypt; a keyring file that
 * cannot be read or that others may write); warnings are what will soon (a key that expires
 * within 30 days) or what looks unwise. Each judgement that a delivery also makes is made by the
 * same code ({@link ConfigLoader} for the configuration and its addresses, {@link RuleKeys} and
 * {@link KeyringModes} for the keys, {@link PasswordFile} for the password file), so that a
 * {@code check} without errors means no delivery fails for those reasons.
 */
public final class Checker {
    static final Duration EXPIRY_WARNING = KeyImporter.EXPIRY_WARNING;

    /** One finding. */
    public record Finding(Level level, String text) {
        @Override
        public String toString() {
            return level.name().toLowerCase(java.util.Locale.ROOT) + ": " + text;
        }
    }

    public enum Level {
        OK,
        WARNING,
        ERROR
    }

    private final Clock clock;
    private final List<Finding> findings = new ArrayList<>();

    public Checker(Clock clock) {
        this.clock = clock;
    }

    public List<Finding> check(Path configFile, boolean relay) {
        Config config;
        try {
            config = ConfigLoader.load(configFile);
            ok("configuration " + configFile + " is valid (" + config.rules().size() + " rule"
                    + (config.rules().size() == 1 ? "" : "s") + ")");
        } catch (ConfigException e) {
            for (ConfigProblem p : e.problems()) {
                error(p.toString());
            }
            return findings;
        }
        if (config.rules().isEmpty()) {
            warning("no [[rule]]: every message is only kept locally");
        }
        if (config.deadline().toSeconds() >= 1000) {
            warning(
                    "deadline_seconds = " + config.deadline().toSeconds()
                            + " is not below Postfix's command_time_limit (1000 s): Postfix would kill and bounce a slow delivery");
        }
        checkKeys(config);
        checkMailbox(config);
        checkStateDir(config);
        checkQueue(config);
        checkRelayFiles(config.relay());
        checkLog(config);
        if (relay) {
            checkRelay(config);
        }
        return findings;
    }

    /**
     * The keys judged exactly as a delivery judges them ({@link RuleKeys}, and its
     * {@link KeyringModes}), each key ID once, whichever rules name it.
     */
    private void checkKeys(Config config) {
        Keyring keyring = new Keyring(config.keyring());
        if (!Files.isDirectory(config.keyring())) {
            error("keyring " + config.keyring() + " does not exist; import a key with: cryptforward key import");
        } else {
            checkKeyringFiles(keyring);
            Date now = Date.from(clock.instant());
            Map<String, RuleKeys.Verdict> verdicts = new LinkedHashMap<>();
            for (Rule r : config.rules()) {
                for (RuleKeys.Verdict v :
                        RuleKeys.resolve(config.keyring(), r, now).verdicts()) {
                    verdicts.putIfAbsent(v.id(), v);
                }
            }
            for (RuleKeys.Verdict v : verdicts.values()) {
                String id = v.id();
                if (v.fingerprint().isEmpty()) {
                    error("key " + id + ": " + v.problem().orElse("not found") + rulesNaming(config, id));
                    continue;
                }
                String fpr = v.fingerprint().get();
                String named = id.equalsIgnoreCase(fpr) ? "key " + fpr : "key " + id + " (" + fpr + ")";
                Optional<Date> expires = v.status().flatMap(KeyStatus::expires);
                if (v.problem().isPresent()) {
                    error(named + " cannot be used: " + v.problem().get() + rulesNaming(config, id));
                } else if (expires.isPresent()
                        && expires.get().toInstant().isBefore(clock.instant().plus(EXPIRY_WARNING))) {
                    warning(named + " expires on " + KeyDescription.day(expires.get())
                            + ": renew it and import it again" + rulesNaming(config, id));
                } else {
                    ok(named + " is usable"
                            + expires.map(d -> ", expires " + KeyDescription.day(d))
                                    .orElse(""));
                }
            }
        }
        for (Rule r : config.rules()) {
            if (!r.localCopy()) {
                warning("rule " + r.name()
                        + " keeps no local copy: when its key cannot be used, mail waits in the MTA's queue");
            }
        }
    }

    /** Keyring files that cannot be read, and modes that let others plant a key (the rule deliver applies to the keys it uses). */
    private void checkKeyringFiles(Keyring keyring) {
        try {
            Keyring.Listing listing = keyring.list();
            for (String p : listing.problems()) {
                error(p);
            }
            KeyringModes.directoryProblem(keyring.dir()).ifPresent(this::error);
            for (Keyring.Entry e : listing.entries()) {
                KeyringModes.fileProblem(e.file()).ifPresent(this::error);
            }
        } catch (KeyringException e) {
            error(e.getMessage());
        }
    }

    /** " (rule a, rule b)": which rules a problem with a key affects. */
    private static String rulesNaming(Config config, String id) {
        List<String> names = new ArrayList<>();
        for (Rule r : config.rules()) {
            if (r.keys().contains(id)) {
                names.add(r.name());
            }
        }
        return names.isEmpty() ? "" : " (rule " + String.join(", rule ", names) + ")";
    }

    private void checkMailbox(Config config) {
        // checked even when every rule says local_copy = false: mail that no rule matches is kept there
        Path mailbox = config.local().mailbox();
        if (config.local().maildir()) {
            if (Files.isSymbolicLink(mailbox)) {
                error("Maildir " + mailbox + " is a symbolic link; cryptforward refuses to follow it");
            } else if (Files.isDirectory(mailbox, LinkOption.NOFOLLOW_LINKS)) {
                for (String sub : new String[] {"tmp", "new", "cur"}) {
                    Path p = mailbox.resolve(sub);
                    if (Files.exists(p, LinkOption.NOFOLLOW_LINKS) && !Files.isWritable(p)) {
                        error("Maildir folder " + p + " is not writable by this user");
                        return;
                    }
                }
                if (!Files.isWritable(mailbox)) {
                    error("Maildir " + mailbox + " is not writable by this user");
                } else {
                    ok("Maildir " + mailbox + " is writable");
                }
            } else {
                creatable("Maildir " + mailbox, mailbox);
            }
        } else {
            if (Files.isSymbolicLink(mailbox)) {
                error("mbox " + mailbox + " is a symbolic link; cryptforward refuses to follow it");
            } else if (Files.exists(mailbox)) {
                if (!Files.isRegularFile(mailbox)) {
                    error("mbox " + mailbox + " is not a regular file");
                } else if (!Files.isWritable(mailbox)) {
                    error("mbox " + mailbox + " is not writable by this user");
                } else {
                    ok("mbox " + mailbox + " is writable");
                }
            } else {
                creatable("mbox " + mailbox, mailbox);
            }
        }
    }

    private void creatable(String what, Path p) {
        Path parent = p.toAbsolutePath().getParent();
        while (parent != null && !Files.exists(parent)) {
            parent = parent.getParent();
        }
        if (parent != null && Files.isWritable(parent)) {
            ok(what + " does not exist yet; it will be created");
        } else {
            error(what + " does not exist and cannot be created (" + parent + " is not writable by this user)");
        }
    }

    private void checkStateDir(Config config) {
        Path state = config.stateDir();
        if (!Files.isDirectory(state)) {
            error("state_dir " + state + " does not exist");
        } else if (!Files.isWritable(state)) {
            error("state_dir " + state + " is not writable by this user");
        } else {
            ok("state_dir " + state + " is writable");
        }
    }

    /** sendmail's queue: how much waits and since when; what was given up. Silent where there is no queue. */
    private void checkQueue(Config config) {
        org.cryptforward.queue.Queue queue =
                new org.cryptforward.queue.Queue(config.stateDir(), clock, new java.security.SecureRandom());
        if (!Files.isDirectory(queue.dir())) {
            return;
        }
        List<org.cryptforward.queue.QueueEntry> waiting;
        List<org.cryptforward.queue.QueueEntry> aside;
        try {
            waiting = queue.entries();
            aside = queue.aside();
        } catch (Failure f) {
            error("queue: " + f.getMessage());
            return;
        }
        if (waiting.isEmpty()) {
            ok("queue " + queue.dir() + " is empty");
        } else {
            org.cryptforward.queue.QueueEntry oldest = waiting.get(0);
            Duration age = Duration.between(oldest.created(), clock.instant());
            String text = "queue: " + waiting.size() + " forward" + (waiting.size() == 1 ? "" : "s")
                    + " waiting for the relay, the oldest (" + oldest.id() + ") for " + human(age)
                    + (oldest.lastError().isEmpty() ? "" : "; last error: " + oldest.lastError());
            if (age.compareTo(QUEUE_WARNING) > 0) {
                warning(text + " (cryptforward queue list)");
            } else {
                ok(text);
            }
        }
        if (!aside.isEmpty()) {
            error("queue: " + aside.size() + " forward" + (aside.size() == 1 ? " was" : "s were")
                    + " given up and kept aside (the oldest " + aside.get(0).id()
                    + "; a notice is in the local mailbox): see cryptforward queue list, then queue remove ID");
        }
        for (Path d : queue.damaged()) {
            warning("queue: " + d + " is not a readable queue entry");
        }
    }

    /** A forward waiting longer than this makes check warn. */
    static final Duration QUEUE_WARNING = Duration.ofHours(1);

    static String human(Duration d) {
        if (d.toDays() > 0) {
            return d.toDays() + " d " + d.toHoursPart() + " h";
        }
        if (d.toHours() > 0) {
            return d.toHours() + " h " + d.toMinutesPart() + " min";
        }
        return Math.max(0, d.toMinutes()) + " min";
    }

    private void checkRelayFiles(RelayConfig relay) {
        if (relay.passwordFile().isPresent()) {
            Path p = relay.passwordFile().get();
            try {
                PasswordFile.read(p); // the rule deliver applies before it logs in
                ok("password file " + p + " is private");
            } catch (Failure f) {
                error(f.getMessage());
            }
        }
        if (relay.caFile().isPresent() && !Files.isReadable(relay.caFile().get())) {
            error("ca_file " + relay.caFile().get() + " is not readable");
        }
        if (relay.security() == RelayConfig.Security.NONE && relay.allowPlaintext()) {
            warning("relay " + relay.address() + " is reached without TLS (allow_plaintext = true)");
        }
    }

    private void checkLog(Config config) {
        if (config.logFile().isPresent()) {
            Path f = config.logFile().get();
            if (Files.isSymbolicLink(f)) {
                error("log_file " + f
                        + " is a symbolic link; cryptforward refuses to follow it, so log lines would be lost");
            } else if (Files.exists(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                    && !Files.isRegularFile(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                error("log_file " + f + " is not a regular file");
            } else if (Files.exists(f)
                    ? !Files.isWritable(f)
                    : !Files.isWritable(f.toAbsolutePath().getParent())) {
                error("log_file " + f + " is not writable by this user");
            }
        } else if (!Files.exists(config.syslogSocket())) {
            warning("no syslog socket " + config.syslogSocket()
                    + ": log lines will be lost (set log_file, or start a syslog daemon)");
        }
    }

    private void checkRelay(Config config) {
        SmtpRelay relay = new SmtpRelay(
                config.relay(),
                config.hostname(),
                new Deadline(clock, config.relay().timeout().multipliedBy(2)));
        try (SmtpRelay.Connection c = relay.connect()) {
            ok("relay " + relay.address() + " accepted the connection"
                    + (config.relay().security() != RelayConfig.Security.NONE ? " with TLS" : "")
                    + (config.relay().username().isPresent() ? " and the login" : ""));
        } catch (Failure f) {
            error(f.getMessage());
        }
    }

    private void ok(String s) {
        findings.add(new Finding(Level.OK, s));
    }

    private void warning(String s) {
        findings.add(new Finding(Level.WARNING, s));
    }

    private void error(String s) {
        findings.add(new Finding(Level.ERROR, s));
    }
}
