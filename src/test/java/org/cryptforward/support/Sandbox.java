package org.cryptforward.support;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.cryptforward.cli.Cli;

/**
 * A private installation in a temporary directory: keyring, state directory, mailbox, log file
 * and a configuration file pointing at a relay on 127.0.0.1; runs commands in-process through
 * {@code Cli.run}, as the process would, without {@code System.exit} or global streams.
 */
public final class Sandbox {
    public final Path dir;
    public final Path keyring;
    public final Path state;
    public final Path mailbox;
    public final Path log;
    public final Path config;
    private final Map<String, String> env = new HashMap<>();
    private Clock clock = Clock.systemDefaultZone();

    /** The result of one command. */
    public record Run(int exit, String out, String err) {
        public String combined() {
            return out + err;
        }
    }

    public Sandbox(Path dir, int relayPort, String extraToml, boolean maildir) {
        this(dir, relayPort, extraToml, maildir, List.of(TestKeys.ED.email, TestKeys.RSA.email));
    }

    public Sandbox(Path dir, int relayPort, String extraToml, boolean maildir, List<String> keys) {
        this.dir = dir;
        this.keyring = dir.resolve("keyring");
        this.state = dir.resolve("state");
        this.mailbox = maildir ? dir.resolve("Maildir") : dir.resolve("mbox");
        this.log = dir.resolve("cryptforward.log");
        this.config = dir.resolve("cryptforward.toml");
        try {
            Files.createDirectories(keyring);
            Files.createDirectories(state);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (TestKeys k : TestKeys.values()) {
            k.installPublicKey(keyring);
        }
        List<String> quoted = new ArrayList<>();
        keys.forEach(k -> quoted.add("\"" + k + "\""));
        writeConfig("keyring = \"" + keyring + "\"\n"
                + "state_dir = \"" + state + "\"\n"
                + "log_file = \"" + log + "\"\n"
                + "hostname = \"cf.test\"\n"
                + "deadline_seconds = 60\n"
                + "[local]\n"
                + "mailbox = \"" + mailbox + (maildir ? "/" : "") + "\"\n"
                + "lock_timeout_seconds = 10\n"
                + "[relay]\n"
                + "host = \"127.0.0.1\"\n"
                + "port = " + relayPort + "\n"
                + "timeout_seconds = 10\n"
                + "envelope_from = \"cryptforward@cf.test\"\n"
                + "[[rule]]\n"
                + "name = \"root-to-admin\"\n"
                + "recipient = [\"root\", \"root@*\"]\n"
                + "forward_to = [\"admin@example.org\"]\n"
                + "keys = [" + String.join(", ", quoted) + "]\n"
                + extraToml);
    }

    public void writeConfig(String toml) {
        try {
            Files.writeString(config, toml);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Sandbox env(String key, String value) {
        env.put(key, value);
        return this;
    }

    public Sandbox clock(Clock c) {
        this.clock = c;
        return this;
    }

    /** Runs {@code cryptforward ARGS} with {@code --config} of this sandbox added after the command. */
    public Run run(byte[] stdin, String... args) {
        List<String> full = new ArrayList<>();
        boolean inserted = false;
        for (String a : args) {
            full.add(a);
            if (!inserted && !a.startsWith("-") && !a.equals("key")) {
                full.add("--config");
                full.add(config.toString());
                inserted = true;
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = Cli.run(new ByteArrayInputStream(stdin), o, e, env, clock, false, full.toArray(new String[0]));
        }
        if (full.contains("deliver")) {
            MtaExitCodes.check(code, String.join(" ", full));
        }
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    public Run deliver(byte[] message, String... extra) {
        String[] args = new String[extra.length + 1];
        args[0] = "deliver";
        System.arraycopy(extra, 0, args, 1, extra.length);
        return run(message, args);
    }

    public String logText() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The files in the Maildir's new/ (and cur/), sorted. */
    public List<Path> maildirMessages() {
        List<Path> out = new ArrayList<>();
        for (String sub : new String[] {"new", "cur"}) {
            Path d = mailbox.resolve(sub);
            if (Files.isDirectory(d)) {
                try (var s = Files.list(d)) {
                    s.sorted().forEach(out::add);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        return out;
    }
}
