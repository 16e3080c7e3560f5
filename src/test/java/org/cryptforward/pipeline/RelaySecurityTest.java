package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.TestCertificates;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS and AUTH towards the relay: implicit TLS and STARTTLS with the certificate trusted through
 * {@code ca_file}; an untrusted or wrong-host certificate, a rejected login and a password file
 * that others can read all end in 75 without sending anything; the password never shows.
 */
class RelaySecurityTest {
    static final String PASSWORD = "s3cret-Pa55word-never-shown";
    static final byte[] MESSAGE = ("From: root@host.example\nTo: root@host.example\nSubject: disk\n"
                    + "Message-ID: <security@host.example>\n\nsecret body line for the TLS test\n")
            .getBytes(StandardCharsets.US_ASCII);

    @TempDir
    static Path certs;

    @TempDir
    Path tmp;

    static TestCertificates.Identity localhost;
    static TestCertificates.Identity wrongHost;

    @BeforeAll
    static void makeCertificates() {
        localhost = TestCertificates.selfSigned(certs, "localhost", "dns:localhost,ip:127.0.0.1");
        wrongHost = TestCertificates.selfSigned(certs, "wrong.example", "dns:wrong.example");
    }

    private Sandbox sandbox(ScriptedRelay relay, String relayLines) throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", true);
        String cfg = Files.readString(sb.config).replace("host = \"127.0.0.1\"", "host = \"localhost\"");
        sb.writeConfig(cfg.replace("[relay]\n", "[relay]\n" + relayLines));
        return sb;
    }

    private static void assertDelivered(Sandbox.Run run, ScriptedRelay relay) {
        assertEquals(0, run.exit(), run.combined());
        assertEquals(1, relay.accepted().size());
        byte[] plain = TestKeys.RSA.decrypt(
                PgpMime.encryptedPart(PgpMime.parse(relay.accepted().get(0))));
        assertTrue(Messages.isOriginalWithMark(MESSAGE, plain));
    }

    private static void assertDeferred(Sandbox.Run run, ScriptedRelay relay, String status, String text) {
        assertEquals(75, run.exit(), run.combined());
        assertTrue(run.err().startsWith(status + " cryptforward: "), run.err());
        assertTrue(run.err().contains(text), run.err());
        assertEquals(0, relay.accepted().size(), "nothing accepted");
        assertFalse(run.combined().contains(PASSWORD), "password never in the output");
    }

    @Test
    void implicitTlsWithCaFileDelivers() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay(localhost.serverContext(), true)) {
            Sandbox sb = sandbox(relay, "security = \"tls\"\nca_file = \"" + localhost.certificatePem() + "\"\n");
            assertDelivered(sb.deliver(MESSAGE, "--recipient", "root"), relay);
        }
    }

    @Test
    void starttlsWithCaFileDeliversOnlyAfterTheHandshake() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay(localhost.serverContext(), false)) {
            Sandbox sb = sandbox(relay, "security = \"starttls\"\nca_file = \"" + localhost.certificatePem() + "\"\n");
            assertDelivered(sb.deliver(MESSAGE, "--recipient", "root"), relay);
            List<String> cmds = relay.commands();
            assertTrue(
                    cmds.indexOf("STARTTLS") >= 0 && cmds.indexOf("STARTTLS") < indexOfPrefix(cmds, "MAIL"),
                    cmds.toString());
        }
    }

    @Test
    void selfSignedWithoutCaFileIsRefused() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay(localhost.serverContext(), true)) {
            Sandbox sb = sandbox(relay, "security = \"tls\"\n");
            assertDeferred(
                    sb.deliver(MESSAGE, "--recipient", "root"),
                    relay,
                    "4.7.0",
                    "TLS with relay localhost:" + relay.port());
            assertEquals(1, sb.maildirMessages().size(), "local copy kept");
        }
    }

    @Test
    void certificateForAnotherHostIsRefused() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay(wrongHost.serverContext(), false)) {
            Sandbox sb = sandbox(relay, "security = \"starttls\"\nca_file = \"" + wrongHost.certificatePem() + "\"\n");
            assertDeferred(sb.deliver(MESSAGE, "--recipient", "root"), relay, "4.7.0", "TLS");
            assertEquals(-1, indexOfPrefix(relay.commands(), "MAIL"), "no MAIL after a failed handshake");
        }
    }

    @Test
    void loginWithPasswordFileDelivers() throws Exception {
        try (ScriptedRelay relay =
                new ScriptedRelay(localhost.serverContext(), false).requireAuth("forwarder", PASSWORD)) {
            Path pw = Files.writeString(tmp.resolve("password"), PASSWORD + "\n");
            Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
            Sandbox sb = sandbox(
                    relay,
                    "security = \"starttls\"\nca_file = \"" + localhost.certificatePem() + "\"\n"
                            + "username = \"forwarder\"\npassword_file = \"" + pw + "\"\n");
            assertDelivered(sb.deliver(MESSAGE, "--recipient", "root"), relay);
            assertFalse(sb.logText().contains(PASSWORD), "password never logged");
        }
    }

    @Test
    void aConfiguredLoginIsNeverSkippedWhenTheRelayOffersNoAuth() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay(localhost.serverContext(), false)) {
            Path pw = Files.writeString(tmp.resolve("password"), PASSWORD + "\n");
            Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
            Sandbox sb = sandbox(
                    relay,
                    "security = \"starttls\"\nca_file = \"" + localhost.certificatePem() + "\"\n"
                            + "username = \"forwarder\"\npassword_file = \"" + pw + "\"\n");
            assertDeferred(sb.deliver(MESSAGE, "--recipient", "root"), relay, "4.7.0", "does not offer AUTH");
            Sandbox.Run check = sb.run(new byte[0], "check", "--relay");
            assertTrue(check.exit() != 0, check.combined());
            assertTrue(check.combined().contains("does not offer AUTH"), check.combined());
        }
    }

    @Test
    void thePasswordNeverShowsInCheckOrDryRun() throws Exception {
        try (ScriptedRelay relay =
                new ScriptedRelay(localhost.serverContext(), false).requireAuth("forwarder", PASSWORD)) {
            Path pw = Files.writeString(tmp.resolve("password"), PASSWORD + "\n");
            Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
            Sandbox sb = sandbox(
                    relay,
                    "security = \"starttls\"\nca_file = \"" + localhost.certificatePem() + "\"\n"
                            + "username = \"forwarder\"\npassword_file = \"" + pw + "\"\n");
            Sandbox.Run check = sb.run(new byte[0], "check", "--relay");
            assertTrue(check.out().contains("accepted the connection with TLS and the login"), check.combined());
            Sandbox.Run dry = sb.deliver(MESSAGE, "--recipient", "root", "--dry-run");
            assertEquals(0, dry.exit(), dry.combined());
            Sandbox.Run debug = sb.run(MESSAGE, "--debug", "deliver", "--recipient", "root", "--dry-run");
            for (Sandbox.Run r : List.of(check, dry, debug)) {
                assertFalse(r.combined().contains(PASSWORD), "password never in output");
            }
            Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-r-----"));
            Sandbox.Run refused = sb.run(new byte[0], "check", "--relay");
            assertTrue(
                    refused.out().contains("password file " + pw + " is readable by group or others"),
                    refused.combined());
            assertFalse(refused.combined().contains(PASSWORD));
        }
    }

    @Test
    void rejectedLoginDefers() throws Exception {
        try (ScriptedRelay relay =
                new ScriptedRelay(localhost.serverContext(), false).requireAuth("forwarder", "another")) {
            Path pw = Files.writeString(tmp.resolve("password"), PASSWORD);
            Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
            Sandbox sb = sandbox(
                    relay,
                    "security = \"starttls\"\nca_file = \"" + localhost.certificatePem() + "\"\n"
                            + "username = \"forwarder\"\npassword_file = \"" + pw + "\"\n");
            assertDeferred(
                    sb.deliver(MESSAGE, "--recipient", "root"), relay, "4.7.0", "rejected authentication as forwarder");
            assertFalse(sb.logText().contains(PASSWORD), "password never logged");
        }
    }

    @Test
    void passwordFileReadableByOthersIsRefused() throws Exception {
        try (ScriptedRelay relay =
                new ScriptedRelay(localhost.serverContext(), false).requireAuth("forwarder", PASSWORD)) {
            Path pw = Files.writeString(tmp.resolve("password"), PASSWORD);
            Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-r--r--"));
            Sandbox sb = sandbox(
                    relay,
                    "security = \"starttls\"\nca_file = \"" + localhost.certificatePem() + "\"\n"
                            + "username = \"forwarder\"\npassword_file = \"" + pw + "\"\n");
            assertDeferred(sb.deliver(MESSAGE, "--recipient", "root"), relay, "4.3.5", "chmod 600");
            assertEquals(0, relay.sessions(), "no connection made");
        }
    }

    @Test
    void plaintextToARemoteHostIsAConfigurationError() throws Exception {
        try (ScriptedRelay relay = new ScriptedRelay()) {
            Sandbox sb = sandbox(relay, "");
            sb.writeConfig(Files.readString(sb.config).replace("host = \"localhost\"", "host = \"smtp.example.net\""));
            Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root");
            assertEquals(75, run.exit());
            assertTrue(run.err().startsWith("4.3.5 cryptforward: configuration error: " + sb.config + ":"), run.err());
            assertTrue(run.err().contains("allow_plaintext"), run.err());
        }
    }

    private static int indexOfPrefix(List<String> list, String prefix) {
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i).toUpperCase().startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }
}
