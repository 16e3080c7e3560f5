package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.bouncycastle.openpgp.api.OpenPGPKey;
import org.cryptforward.keys.KeyIds;
import org.cryptforward.support.BcKeys;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code check}: exit 0 and "all good" when everything holds (with {@code --relay}, the relay
 * answered too); every problem listed, not only the first, and exit 78 otherwise; a key that
 * expires within 30 days is a warning, not an error.
 */
class CheckCommandTest {
    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    private static OpenPGPKey expiring;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        expiring = BcKeys.key(4, "Expiring <expiring@example.org>", BcKeys.BIRTH, Duration.ofDays(365));
    }

    @Test
    void allGood() {
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true);
        Sandbox.Run run = sb.run(new byte[0], "check", "--relay");
        assertEquals(0, run.exit(), run::combined);
        assertTrue(
                run.out().contains("ok: key " + TestKeys.ED.email + " (" + TestKeys.ED.fingerprint + ") is usable"),
                run::out);
        assertTrue(
                run.out().contains("ok: key " + TestKeys.RSA.email + " (" + TestKeys.RSA.fingerprint + ") is usable"),
                run::out);
        assertTrue(run.out().contains("ok: relay 127.0.0.1:" + relay.port() + " accepted the connection"), run::out);
        assertTrue(run.out().lines().noneMatch(l -> l.startsWith("error:")), run::out);
        assertTrue(run.out().endsWith("all good\n"), run::out);
    }

    @Test
    void everyProblemIsListed() throws Exception {
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true, List.of("missing@example.org", TestKeys.ED.email));
        sb.clock(Clock.fixed(Instant.parse("2020-06-01T00:00:00Z"), ZoneOffset.UTC));
        assertEquals(0, sb.run(BcKeys.publicKey(expiring), "key", "import").exit());
        sb.clock(Clock.systemUTC());
        OpenPGPKey other = BcKeys.key(4, "Other Ed <" + TestKeys.ED.email + ">");
        assertEquals(0, sb.run(BcKeys.publicKey(other), "key", "import").exit());
        Path password = tmp.resolve("password");
        Files.writeString(password, "secret\n");
        Files.setPosixFilePermissions(password, PosixFilePermissions.fromString("rw-r--r--"));
        Path loose = sb.keyring.resolve(TestKeys.RSA.fingerprint + ".asc");
        Files.setPosixFilePermissions(loose, PosixFilePermissions.fromString("rw-rw-rw-"));
        Files.writeString(sb.keyring.resolve("broken.asc"), "no key here\n");
        Files.delete(sb.state);
        sb.writeConfig(
                Files.readString(sb.config)
                                .replace(
                                        "envelope_from = ",
                                        "username = \"relay-user\"\npassword_file = \"" + password
                                                + "\"\nenvelope_from = ")
                        + "[[rule]]\nname = \"ops\"\nrecipient = [\"ops\"]\nforward_to = [\"ops@example.org\"]\nkeys = [\"expiring@example.org\"]\n");

        Sandbox.Run run = sb.run(new byte[0], "check");
        assertEquals(78, run.exit(), run::combined);
        String fpr = KeyIds.fingerprint(expiring.toCertificate());
        List<String> errors =
                run.out().lines().filter(l -> l.startsWith("error: ")).toList();
        List<String> expected = List.of(
                "error: keyring file " + sb.keyring.resolve("broken.asc") + " is not an OpenPGP certificate",
                "error: keyring file " + loose
                        + " is writable by group or others, who could replace the key; chmod 644 it",
                "error: key missing@example.org: no key for missing@example.org in " + sb.keyring,
                "error: key " + TestKeys.ED.email + ": " + TestKeys.ED.email + " is ambiguous: it names 2 keys: ",
                "error: key expiring@example.org (" + fpr
                        + ") cannot be used: the key expired on 2020-12-31 (rule ops)",
                "error: state_dir " + sb.state + " does not exist",
                "error: password file " + password + " is readable by group or others; chmod 600 it");
        for (String e : expected) {
            assertTrue(errors.stream().anyMatch(l -> l.startsWith(e)), () -> "missing \"" + e + "\" in:\n" + run.out());
        }
        assertEquals(expected.size(), errors.size(), run::out);
        assertTrue(run.out().endsWith(expected.size() + " problems found\n"), run::out);
    }

    @Test
    void aKeyThatExpiresWithin30DaysIsAWarning() {
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true, List.of("expiring@example.org"));
        sb.clock(Clock.fixed(Instant.parse("2020-12-15T00:00:00Z"), ZoneOffset.UTC));
        Sandbox.Run imported = sb.run(BcKeys.publicKey(expiring), "key", "import");
        assertEquals(0, imported.exit(), imported::combined);
        assertTrue(
                imported.err()
                        .contains("warning: key " + KeyIds.fingerprint(expiring.toCertificate())
                                + " expires on 2020-12-31"),
                imported::err);

        Sandbox.Run run = sb.run(new byte[0], "check");
        assertEquals(0, run.exit(), run::combined);
        assertTrue(
                run.out()
                        .contains("warning: key expiring@example.org (" + KeyIds.fingerprint(expiring.toCertificate())
                                + ") expires on 2020-12-31: renew it and import it again (rule root-to-admin)"),
                run::out);
        assertTrue(run.out().endsWith("all good (1 warning)\n"), run::out);

        sb.clock(Clock.fixed(Instant.parse("2020-11-15T00:00:00Z"), ZoneOffset.UTC));
        Sandbox.Run earlier = sb.run(new byte[0], "check");
        assertTrue(
                earlier.out()
                        .contains("ok: key expiring@example.org (" + KeyIds.fingerprint(expiring.toCertificate())
                                + ") is usable, expires 2020-12-31"),
                earlier::out);
        assertTrue(earlier.out().endsWith("all good\n"), earlier::out);
    }
}
