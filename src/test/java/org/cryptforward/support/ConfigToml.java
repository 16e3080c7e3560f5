package org.cryptforward.support;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A configuration file for a {@link Sandbox} when the sandbox's default one does not fit: another
 * mailbox, lock timeout, deadline or retention, or other rules. Keyring, state directory and log
 * file stay the sandbox's.
 */
public final class ConfigToml {
    private final Sandbox sandbox;
    private int relayPort = 25;
    private Path mailbox;
    private boolean maildir;
    private int lockTimeoutSeconds = 10;
    private int deadlineSeconds = 60;
    private Integer retentionDays;
    private final List<String> rules = new ArrayList<>();

    public ConfigToml(Sandbox sandbox) {
        this.sandbox = sandbox;
        this.mailbox = sandbox.mailbox;
    }

    public ConfigToml relayPort(int port) {
        this.relayPort = port;
        return this;
    }

    public ConfigToml mailbox(Path path, boolean isMaildir) {
        this.mailbox = path;
        this.maildir = isMaildir;
        return this;
    }

    public ConfigToml lockTimeoutSeconds(int s) {
        this.lockTimeoutSeconds = s;
        return this;
    }

    public ConfigToml deadlineSeconds(int s) {
        this.deadlineSeconds = s;
        return this;
    }

    public ConfigToml retentionDays(int d) {
        this.retentionDays = d;
        return this;
    }

    /** A rule for {@code root} / {@code root@*}, encrypted to the ED and RSA test keys. */
    public ConfigToml rootRule(boolean localCopy, String... forwardTo) {
        StringBuilder to = new StringBuilder();
        for (String f : forwardTo) {
            to.append(to.length() == 0 ? "" : ", ").append('"').append(f).append('"');
        }
        rules.add("[[rule]]\n"
                + "name = \"root-to-admin\"\n"
                + "recipient = [\"root\", \"root@*\"]\n"
                + "forward_to = [" + to + "]\n"
                + "keys = [\"" + TestKeys.ED.email + "\", \"" + TestKeys.RSA.email + "\"]\n"
                + "local_copy = " + localCopy + "\n");
        return this;
    }

    public String toml() {
        return "keyring = \"" + sandbox.keyring + "\"\n"
                + "state_dir = \"" + sandbox.state + "\"\n"
                + "log_file = \"" + sandbox.log + "\"\n"
                + "hostname = \"cf.test\"\n"
                + "deadline_seconds = " + deadlineSeconds + "\n"
                + (retentionDays == null ? "" : "state_retention_days = " + retentionDays + "\n")
                + "[local]\n"
                + "mailbox = \"" + mailbox + (maildir ? "/" : "") + "\"\n"
                + "lock_timeout_seconds = " + lockTimeoutSeconds + "\n"
                + "[relay]\n"
                + "host = \"127.0.0.1\"\n"
                + "port = " + relayPort + "\n"
                + "timeout_seconds = 10\n"
                + "envelope_from = \"cryptforward@cf.test\"\n"
                + String.join("", rules);
    }

    /** Writes the file the sandbox runs with. */
    public Sandbox write() {
        sandbox.writeConfig(toml());
        return sandbox;
    }
}
