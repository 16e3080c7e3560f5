package org.cryptforward.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.cryptforward.support.Corpus;
import org.cryptforward.support.ExternalTool;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Relay;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.cryptforward.support.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The relayed forwards decrypt with the real GnuPG, Sequoia and RNP command-line tools, to the
 * original message: a spread sample of at least 30 corpus messages per tool, each encrypted to
 * the RSA 3072 and the Ed25519/Cv25519 key; each tool decrypts half the sample with one key
 * and half with the other.
 */
class DecryptWithToolsIT {
    static final int SAMPLE = 36;

    @TempDir
    static Path tmp;

    private static Relay relay;
    private static List<Forward> forwards;

    record Forward(String name, byte[] original, byte[] armor) {}

    @BeforeAll
    static void deliverSample() {
        relay = new Relay();
        forwards = new ArrayList<>();
        int i = 0;
        java.util.Set<String> alreadyEncrypted = alreadyEncrypted();
        for (Path p : Corpus.sample(SAMPLE)) {
            if (alreadyEncrypted.contains(Corpus.name(p))) {
                continue; // forwarded as it is, not encrypted by cryptforward: nothing to decrypt with our keys
            }
            byte[] input = Corpus.read(p);
            Sandbox sb = new Sandbox(tmp.resolve("s" + i++), relay.port(), "", true);
            relay.reset();
            Sandbox.Run run = sb.deliver(input, "--recipient", "root@cf.test");
            assertEquals(0, run.exit(), () -> Corpus.name(p) + ": " + run.combined());
            MimeMessage[] got = relay.received();
            assertEquals(1, got.length, Corpus.name(p));
            forwards.add(
                    new Forward(Corpus.name(p), Messages.withoutEnvelopeLine(input), PgpMime.encryptedPart(got[0])));
        }
        assertTrue(forwards.size() >= 30, "sample of at least 30, got " + forwards.size());
    }

    /** The corpus messages that are already encrypted (listed for CorpusDeliveryTest). */
    static java.util.Set<String> alreadyEncrypted() {
        try (var in = DecryptWithToolsIT.class.getResourceAsStream("/encrypted-corpus.txt")) {
            java.util.Set<String> out = new java.util.HashSet<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    out.add(line.strip());
                }
            }
            return out;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @AfterAll
    static void stop() {
        relay.close();
    }

    @Test
    void gnupgDecryptsEveryForward() throws Exception {
        Path home = Files.createDirectories(tmp.resolve("gnupg"));
        Files.setPosixFilePermissions(home, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        Map<String, String> env = Map.of("GNUPGHOME", home.toString());
        for (TestKeys k : List.of(TestKeys.RSA, TestKeys.ED)) {
            Tools.Result r = Tools.run(tmp, k.secretKey(), List.of("gpg", "--batch", "--import"), env);
            assertEquals(0, r.exit(), r.err());
        }
        decryptAll(
                "gpg", (key, armor) -> Tools.run(tmp, armor, List.of("gpg", "--batch", "--quiet", "--decrypt"), env));
    }

    @Test
    void sequoiaDecryptsEveryForward() {
        Path rsa = TestKeys.RSA.secretKeyFile(tmp);
        Path ed = TestKeys.ED.secretKeyFile(tmp);
        decryptAll(
                "sq",
                (key, armor) -> Tools.run(
                        tmp, armor, "sq", "decrypt", "--recipient-key", (key == TestKeys.RSA ? rsa : ed).toString()));
    }

    @Test
    void rnpDecryptsEveryForward() {
        Path rsa = TestKeys.RSA.secretKeyFile(tmp);
        Path ed = TestKeys.ED.secretKeyFile(tmp);
        decryptAll(
                "rnp",
                (key, armor) -> Tools.run(
                        tmp,
                        armor,
                        "rnp",
                        "--keyfile",
                        (key == TestKeys.RSA ? rsa : ed).toString(),
                        "--decrypt",
                        "--output",
                        "-"));
    }

    interface Decryptor {
        Tools.Result decrypt(TestKeys key, byte[] armor);
    }

    private static void decryptAll(String tool, Decryptor d) {
        ExternalTool.require(tool);
        List<String> failures = new ArrayList<>();
        int i = 0;
        for (Forward f : forwards) {
            TestKeys key = i++ % 2 == 0 ? TestKeys.RSA : TestKeys.ED;
            Tools.Result r = d.decrypt(key, f.armor());
            if (r.exit() != 0) {
                failures.add(f.name() + " with " + key + ": exit " + r.exit() + ": "
                        + r.err().strip());
            } else if (!Messages.isOriginalWithMark(f.original(), r.out())) {
                failures.add(f.name() + " with " + key + ": decrypted text differs from the original: "
                        + new String(r.out(), 0, Math.min(200, r.out().length), StandardCharsets.ISO_8859_1));
            }
        }
        assertEquals(List.of(), failures, tool + " failed on " + failures.size() + " of " + forwards.size());
    }
}
