package org.cryptforward.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The configuration loader: defaults, relative paths, and every problem reported with file, line and key. */
class ConfigLoaderTest {
    @TempDir
    Path dir;

    private Path write(String toml) throws Exception {
        Path f = dir.resolve("cryptforward.toml");
        Files.writeString(f, toml);
        return f;
    }

    private List<String> problems(String toml) throws Exception {
        Path f = write(toml);
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(f));
        return e.problems().stream().map(ConfigProblem::toString).collect(Collectors.toList());
    }

    @Test
    void defaultsAndRelativePaths() throws Exception {
        Path f = write(
                "keyring = \"keys\"\n[[rule]]\nname = \"r\"\nrecipient = \"root\"\nforward_to = \"a@example.org\"\nkeys = \"a@example.org\"\n");
        Config c = ConfigLoader.load(f);
        assertEquals(dir.resolve("keys"), c.keyring(), "relative to the configuration file's directory");
        assertEquals(Path.of("/var/lib/cryptforward/state"), c.stateDir());
        assertEquals(Duration.ofSeconds(600), c.deadline());
        assertEquals(Path.of("/var/lib/cryptforward/Maildir"), c.local().mailbox());
        assertTrue(c.local().maildir());
        assertEquals("localhost", c.relay().host());
        assertEquals(25, c.relay().port());
        assertEquals(RelayConfig.Security.NONE, c.relay().security());
        assertEquals(Duration.ofDays(14), c.stateRetention());
        Rule r = c.rules().get(0);
        assertEquals(List.of("a@example.org"), r.forwardTo());
        assertEquals(Rule.Format.PGP_MIME, r.format());
        assertTrue(r.localCopy());
        assertTrue(r.recipients().get(0).matches("ROOT"));
    }

    @Test
    void tlsDefaultsToPort465AndMboxWithoutSlash() throws Exception {
        Config c = ConfigLoader.load(write(
                "[relay]\nhost = \"smtp.example.org\"\nsecurity = \"tls\"\n[local]\nmailbox = \"/var/mail/cf\"\n"));
        assertEquals(465, c.relay().port());
        assertTrue(!c.local().maildir());
    }

    @Test
    void everyProblemHasFileLineAndKey() throws Exception {
        List<String> p = problems(
                "keyring = 5\n" // 1
                        + "[relay]\n" // 2
                        + "port = \"x\"\n" // 3
                        + "securty = \"tls\"\n" // 4
                        + "[[rule]]\n" // 5
                        + "name = \"a\"\n" // 6
                        + "header = { Subject = \"(\" }\n" // 7
                        + "forward_to = [\"nobody\"]\n" // 8
                        + "keys = []\n"); // 9
        String f = dir.resolve("cryptforward.toml").toString();
        assertTrue(p.contains(f + ":1: keyring: must be a string, not an integer"), p.toString());
        assertTrue(p.contains(f + ":3: relay.port: must be an integer, not a string"), p.toString());
        assertTrue(p.contains(f + ":4: relay.securty: unknown key (did you mean security?)"), p.toString());
        assertTrue(
                p.stream().anyMatch(s -> s.startsWith(f + ":7: rule[1].header.Subject: bad regular expression")),
                p.toString());
        assertTrue(p.contains(f + ":8: rule[1].forward_to: not an e-mail address: \"nobody\""), p.toString());
        assertTrue(p.contains(f + ":9: rule[1].keys: must not be empty"), p.toString());
        assertEquals(6, p.size(), p.toString());
    }

    @Test
    void syntaxErrorsNameTheirLine() throws Exception {
        List<String> p = problems("keyring = \"/k\"\n\n[relay\nhost = 1\n");
        assertTrue(p.get(0).startsWith(dir.resolve("cryptforward.toml") + ":3: TOML syntax: "), p.toString());
        List<String> dup = problems("[relay]\nport = 25\nport = 26\n");
        assertTrue(dup.get(0).startsWith(dir.resolve("cryptforward.toml") + ":3: TOML syntax: "), dup.toString());
    }

    @Test
    void missingRequiredRuleKeysNameTheRule() throws Exception {
        List<String> p = problems(
                "[[rule]]\nname = \"x\"\n[[rule]]\nname = \"x\"\nforward_to = \"a@b.example\"\nkeys = \"a@b.example\"\n");
        String f = dir.resolve("cryptforward.toml").toString();
        assertTrue(p.contains(f + ":1: rule[1].forward_to: required"), p.toString());
        assertTrue(p.contains(f + ":1: rule[1].keys: required"), p.toString());
        assertTrue(p.contains(f + ":4: rule[2].name: duplicate rule name \"x\""), p.toString());
    }

    @Test
    void plaintextOnlyToLoopbackUnlessAllowed() throws Exception {
        List<String> p = problems("[relay]\nhost = \"mail.example.org\"\n");
        assertTrue(p.get(0).contains("relay.security: \"none\" sends over the network in the clear"), p.toString());
        ConfigLoader.load(write("[relay]\nhost = \"mail.example.org\"\nallow_plaintext = true\n"));
        ConfigLoader.load(write("[relay]\nhost = \"127.0.0.1\"\n"));
        ConfigLoader.load(write("[relay]\nhost = \"[::1]\"\n"));
    }

    @Test
    void missingAndUnreadableFiles() throws Exception {
        ConfigException missing =
                assertThrows(ConfigException.class, () -> ConfigLoader.load(dir.resolve("nope.toml")));
        assertEquals(
                dir.resolve("nope.toml") + ": no such file",
                missing.problems().get(0).toString());
    }

    @Test
    void locateFollowsOptionThenEnvironmentThenDefault() {
        assertEquals(
                Path.of("/a.toml"),
                ConfigLoader.locate(Path.of("/a.toml"), java.util.Map.of("CRYPTFORWARD_CONFIG", "/b.toml")));
        assertEquals(Path.of("/b.toml"), ConfigLoader.locate(null, java.util.Map.of("CRYPTFORWARD_CONFIG", "/b.toml")));
        assertEquals(ConfigLoader.DEFAULT_PATH, ConfigLoader.locate(null, java.util.Map.of()));
    }
}
