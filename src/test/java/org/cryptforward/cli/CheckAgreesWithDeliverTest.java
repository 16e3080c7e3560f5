package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code check} and {@code deliver} judge alike, because they call the same code: what
 * {@code check} calls an error is what makes {@code deliver} defer or send a notice instead of the
 * message, in the same words; what it calls fine, {@code deliver} uses.
 */
class CheckAgreesWithDeliverTest {
    static final byte[] MESSAGE = "From: cron@host.example\nTo: root\nSubject: nightly\n\nthe secret body\n"
            .getBytes(StandardCharsets.US_ASCII);

    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    @TempDir
    Path tmp;

    Sandbox withPasswordFile(String mode, String content) throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", false);
        Path pw = Files.writeString(tmp.resolve("password"), content);
        Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString(mode));
        sb.writeConfig(Files.readString(sb.config)
                .replace(
                        "envelope_from = ",
                        "username = \"relay-user\"\npassword_file = \"" + pw + "\"\nenvelope_from = "));
        return sb;
    }

    @ParameterizedTest(name = "mode {0}")
    @ValueSource(strings = {"rw--w----", "rw-r-----", "rw----r--", "rw-----w-"})
    void aPasswordFileOthersMayReadOrWriteIsAnErrorInCheckAndADeferralInDeliver(String mode) throws Exception {
        Sandbox sb = withPasswordFile(mode, "secret\n");
        Path pw = tmp.resolve("password");
        Sandbox.Run check = sb.run(new byte[0], "check");
        assertEquals(78, check.exit(), check::combined);
        String problem = "password file " + pw + " is "
                + (mode.charAt(3) == 'r' || mode.charAt(6) == 'r' ? "readable" : "writable")
                + " by group or others; chmod 600 it";
        assertTrue(check.out().contains("error: " + problem), check::out);
        assertFalse(check.out().contains("is private"), check::out);

        Sandbox.Run deliver = sb.deliver(MESSAGE, "--recipient", "root");
        assertEquals(75, deliver.exit(), deliver::combined);
        assertTrue(deliver.err().startsWith("4.3.5 cryptforward: " + problem), deliver::err);
        assertEquals(0, relay.received().length, "nothing sent");
        assertFalse(
                check.combined().contains("secret") || deliver.combined().contains("secret\n"),
                "the password is never shown");
    }

    @Test
    void anEmptyPasswordFileIsAnErrorInBoth() throws Exception {
        Sandbox sb = withPasswordFile("rw-------", "\n");
        Sandbox.Run check = sb.run(new byte[0], "check");
        assertEquals(78, check.exit(), check::combined);
        assertTrue(check.out().contains("error: password file " + tmp.resolve("password") + " is empty"), check::out);
        assertEquals(75, sb.deliver(MESSAGE, "--recipient", "root").exit());
    }

    @Test
    void aPrivatePasswordFileIsFineForBoth() throws Exception {
        Sandbox sb = withPasswordFile("r--------", "secret\n");
        Sandbox.Run check = sb.run(new byte[0], "check");
        assertTrue(check.out().contains("ok: password file " + tmp.resolve("password") + " is private"), check::out);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"file", "directory"})
    void aKeyOthersMayReplaceIsAnErrorInCheckAndIsNotUsedByDeliver(String what) throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", false);
        Path loose = what.equals("file") ? sb.keyring.resolve(TestKeys.RSA.fingerprint + ".asc") : sb.keyring;
        Files.setPosixFilePermissions(
                loose, PosixFilePermissions.fromString(what.equals("file") ? "rw-rw-r--" : "rwxrwxr-x"));
        String problem = what.equals("file")
                ? "keyring file " + loose + " is writable by group or others, who could replace the key; chmod 644 it"
                : "keyring " + loose + " is writable by group or others, who could replace a key; chmod 755 it";

        Sandbox.Run check = sb.run(new byte[0], "check");
        assertEquals(78, check.exit(), check::combined);
        assertTrue(check.out().contains("error: " + problem), check::out);
        assertTrue(
                check.out()
                        .contains("error: key " + TestKeys.RSA.email + " (" + TestKeys.RSA.fingerprint
                                + ") cannot be used: " + problem),
                check::out);

        Sandbox.Run deliver = sb.deliver(MESSAGE, "--recipient", "root");
        assertEquals(0, deliver.exit(), deliver::combined);
        MimeMessage[] got = relay.received();
        assertEquals(1, got.length);
        byte[] raw = PgpMime.bytes(got[0]);
        String text = new String(raw, StandardCharsets.UTF_8);
        assertTrue(
                text.contains("Subject: cryptforward: a message could not be encrypted"),
                "a notice, not the message: " + text);
        assertFalse(text.contains("the secret body"), "and without its content");
        assertFalse(text.contains("BEGIN PGP MESSAGE"), "nothing encrypted to a key that may have been replaced");
        assertTrue(sb.logText().contains(problem), sb.logText());

        Files.setPosixFilePermissions(
                loose, PosixFilePermissions.fromString(what.equals("file") ? "rw-r--r--" : "rwxr-xr-x"));
        assertEquals(0, sb.run(new byte[0], "check").exit(), "fixed, check passes");
    }
}
