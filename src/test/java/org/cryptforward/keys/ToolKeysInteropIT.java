package org.cryptforward.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.cryptforward.support.ExternalTool;
import org.cryptforward.support.KeyTools;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Relay;
import org.cryptforward.support.Sandbox;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Keys made by the real tools — GnuPG (RSA 3072, Ed25519/Cv25519), Sequoia (Cv25519, RSA 3072)
 * and RNP (RSA 3072, EdDSA/ECDH in batch mode) — go through {@code key import}, {@code list},
 * {@code list --json}, {@code show} (by address and by fingerprint suffix) and {@code export};
 * {@code gpg --import} accepts the export; and a message delivered through {@code deliver} to
 * GreenMail decrypts, with the tool that made the key, to the original.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ToolKeysInteropIT {
    /** One key made by one tool, and how that tool decrypts. */
    record ToolKey(
            String label,
            String email,
            String userId,
            String fingerprint,
            byte[] publicKey,
            UnaryOperator<byte[]> decrypt) {
        @Override
        public String toString() {
            return label;
        }
    }

    @TempDir
    static Path tmp;

    private Relay relay;
    private KeyTools.Gpg gpg;

    private List<ToolKey> keys;

    @BeforeAll
    void start() {
        relay = new Relay();
        keys = makeKeys();
    }

    @AfterAll
    void stop() {
        relay.close();
        if (gpg != null) {
            gpg.close();
        }
    }

    Stream<ToolKey> keys() {
        return keys.stream();
    }

    private List<ToolKey> makeKeys() {
        Path dir = tmp.resolve("tools");
        Stream.Builder<ToolKey> out = Stream.builder();
        if (ExternalTool.available("gpg")) {
            gpg = new KeyTools.Gpg(dir.resolve("gpg"));
            String rsa =
                    gpg.generate(KeyTools.BIRTH, "GnuPG RSA <gpg-rsa@example.org>", "rsa3072", "cert,sign", "never");
            gpg.addSubkey(KeyTools.BIRTH, rsa, "rsa3072", "encr", "never");
            out.add(new ToolKey(
                    "gpg RSA 3072",
                    "gpg-rsa@example.org",
                    "GnuPG RSA <gpg-rsa@example.org>",
                    rsa,
                    gpg.exportPublic(rsa),
                    gpg::decrypt));
            String ed = gpg.generate(KeyTools.BIRTH, "GnuPG Ed <gpg-ed@example.org>", "ed25519", "cert,sign", "never");
            gpg.addSubkey(KeyTools.BIRTH, ed, "cv25519", "encr", "never");
            out.add(new ToolKey(
                    "gpg Ed25519/Cv25519",
                    "gpg-ed@example.org",
                    "GnuPG Ed <gpg-ed@example.org>",
                    ed,
                    gpg.exportPublic(ed),
                    gpg::decrypt));
        }
        if (ExternalTool.available("sq")) {
            KeyTools.Sq sq = new KeyTools.Sq(dir.resolve("sq"));
            for (String suite : List.of("cv25519", "rsa3k")) {
                String email = "sq-" + suite + "@example.org";
                Path key = sq.generate("<" + email + ">", suite);
                byte[] cert = sq.certificate(key);
                out.add(new ToolKey(
                        "sq " + suite, email, "<" + email + ">", fingerprintOf(cert), cert, m -> sq.decrypt(key, m)));
            }
        }
        if (ExternalTool.available("rnp")) {
            KeyTools.Rnp rnp = new KeyTools.Rnp(dir.resolve("rnp"));
            String rsa = rnp.generateRsa("RNP RSA <rnp-rsa@example.org>");
            out.add(new ToolKey(
                    "rnp RSA 3072",
                    "rnp-rsa@example.org",
                    "RNP RSA <rnp-rsa@example.org>",
                    rsa,
                    rnp.exportPublic("rnp-rsa@example.org"),
                    rnp::decrypt));
            String ed = rnp.generateEd25519("RNP Ed <rnp-ed@example.org>");
            out.add(new ToolKey(
                    "rnp EdDSA/ECDH",
                    "rnp-ed@example.org",
                    "RNP Ed <rnp-ed@example.org>",
                    ed,
                    rnp.exportPublic("rnp-ed@example.org"),
                    rnp::decrypt));
        }
        return out.build().toList();
    }

    private static String fingerprintOf(byte[] cert) {
        try {
            return KeyIds.fingerprint(new org.bouncycastle.openpgp.api.OpenPGPKeyReader().parseCertificate(cert));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("keys")
    void importListShowExportAndDeliver(ToolKey key) throws Exception {
        Path dir = tmp.resolve(key.label().replaceAll("[^A-Za-z0-9]", "_"));
        Sandbox sb = new Sandbox(dir, relay.port(), "", true, List.of(key.email()));
        Path file = dir.resolve("key.asc");
        Files.write(file, key.publicKey());

        Sandbox.Run imported = sb.run(new byte[0], "key", "import", file.toString());
        assertEquals(0, imported.exit(), imported::combined);
        assertTrue(imported.out().contains("imported " + key.fingerprint()), imported::out);
        assertTrue(imported.out().contains("user ID:     " + key.userId()), imported::out);
        assertTrue(imported.out().contains("encryption:  yes"), imported::out);
        assertTrue(Files.isRegularFile(sb.keyring.resolve(key.fingerprint() + ".asc")), "stored as FINGERPRINT.asc");

        Sandbox.Run list = sb.run(new byte[0], "key", "list");
        assertEquals(0, list.exit(), list::combined);
        assertTrue(list.out().lines().anyMatch(l -> l.startsWith(key.fingerprint() + "  usable")), list::out);
        Sandbox.Run json = sb.run(new byte[0], "key", "list", "--json");
        assertEquals(0, json.exit(), json::combined);
        String compact = json.out().replaceAll("\\s+", " ");
        assertTrue(
                compact.contains("\"fingerprint\": \"" + key.fingerprint() + "\", \"version\": 4, \"user_ids\": [ \""
                        + key.userId().replace("\"", "\\\"") + "\" ]"),
                json::out);

        Sandbox.Run byMail = sb.run(new byte[0], "key", "show", key.email().toUpperCase(Locale.ROOT));
        assertEquals(0, byMail.exit(), byMail::combined);
        assertTrue(byMail.out().contains("fingerprint: " + key.fingerprint()), byMail::out);
        Sandbox.Run bySuffix = sb.run(
                new byte[0], "key", "show", key.fingerprint().substring(24).toLowerCase(Locale.ROOT));
        assertEquals(0, bySuffix.exit(), bySuffix::combined);
        assertEquals(byMail.out(), bySuffix.out());

        Sandbox.Run export = sb.run(new byte[0], "key", "export", key.fingerprint());
        assertEquals(0, export.exit(), export::combined);
        assertTrue(export.out().startsWith("-----BEGIN PGP PUBLIC KEY BLOCK-----"), export::out);
        assertTrue(export.out().lines().anyMatch(l -> l.matches("=[A-Za-z0-9+/]{4}")), "armor with its CRC line");
        if (ExternalTool.available("gpg")) {
            try (KeyTools.Gpg fresh = new KeyTools.Gpg(dir.resolve("fresh-gpg"))) {
                fresh.importKeys(export.out().getBytes(StandardCharsets.US_ASCII))
                        .ok("gpg --import of the export");
                assertEquals(key.fingerprint(), fresh.fingerprint(key.fingerprint()));
                List<String> gpgListing = fresh.colons("--list-keys", key.fingerprint());
                assertTrue(
                        gpgListing.stream().anyMatch(l -> l.startsWith("sub:") && l.split(":")[11].contains("e")),
                        () -> "gpg sees an encryption subkey: " + gpgListing);
            }
        }

        relay.reset();
        byte[] message = ("From: Cron Daemon <root@host.example>\n"
                        + "To: root@host.example\n"
                        + "Subject: Cron <root@host> backup for " + key.label() + "\n"
                        + "Message-ID: <" + key.fingerprint() + "@host.example>\n"
                        + "Date: Mon, 3 Feb 2025 04:05:06 +0000\n"
                        + "\n"
                        + "backup finished for " + key.label() + "\n"
                        + "second line of the report\n")
                .getBytes(StandardCharsets.UTF_8);
        Sandbox.Run delivered = sb.deliver(message, "--recipient", "root@cf.test");
        assertEquals(0, delivered.exit(), delivered::combined);
        MimeMessage[] received = relay.received();
        assertEquals(1, received.length, "one forward");
        byte[] plain = key.decrypt().apply(PgpMime.encryptedPart(received[0]));
        assertTrue(
                Messages.isOriginalWithMark(message, plain),
                () -> key.label() + " decrypted something else:\n" + new String(plain, StandardCharsets.UTF_8));
        assertTrue(sb.logText().contains("keys=" + key.fingerprint()), sb::logText);
    }

    /**
     * One rule with a v6 key (Bouncy Castle) and a v4 key of each tool: the forward is SEIPD v1
     * with v3 PKESKs, and every tool decrypts it with its own key, skipping the PKESK for the v6
     * X25519 key it does not understand; Bouncy Castle decrypts it with the v6 key.
     */
    @org.junit.jupiter.api.Test
    void mixedV4AndV6RuleIsReadByEveryTool() throws Exception {
        org.bouncycastle.openpgp.api.OpenPGPKey v6 = org.cryptforward.support.BcKeys.key(6, "Six <six@example.org>");
        List<ToolKey> tools = keys.stream()
                .filter(k -> !k.label().contains("RSA") || k.label().startsWith("rnp"))
                .toList();
        List<String> ids = new java.util.ArrayList<>(List.of("six@example.org"));
        tools.forEach(k -> ids.add(k.fingerprint()));
        Path dir = tmp.resolve("mixed");
        Sandbox sb = new Sandbox(dir, relay.port(), "", true, ids);
        assertEquals(
                0,
                sb.run(org.cryptforward.support.BcKeys.publicKey(v6), "key", "import")
                        .exit());
        for (ToolKey k : tools) {
            Sandbox.Run r = sb.run(k.publicKey(), "key", "import");
            assertEquals(0, r.exit(), r::combined);
        }
        relay.reset();
        byte[] message =
                "From: root@host.example\nSubject: mixed\nMessage-ID: <mixed@host.example>\n\nfor old and new keys alike\n"
                        .getBytes(StandardCharsets.US_ASCII);
        Sandbox.Run run = sb.deliver(message, "--recipient", "root@cf.test");
        assertEquals(0, run.exit(), run::combined);
        byte[] armor = PgpMime.encryptedPart(relay.received()[0]);
        assertEquals(tools.size() + 1, ProblemKeysIT.recipients(armor).size(), "one PKESK per key");
        for (ToolKey k : tools) {
            byte[] plain = k.decrypt().apply(armor);
            assertTrue(
                    Messages.isOriginalWithMark(message, plain),
                    () -> k.label() + ": " + new String(plain, StandardCharsets.UTF_8));
        }
        org.cryptforward.support.BcKeys.Decrypted d = org.cryptforward.support.BcKeys.decrypt(v6, armor);
        assertEquals(
                org.bouncycastle.openpgp.api.EncryptedDataPacketType.SEIPDv1,
                d.mechanism().getMode());
        assertTrue(Messages.isOriginalWithMark(message, d.plaintext()));
        assertEquals(
                java.util.Set.of("gpg", "sq", "rnp"),
                tools.stream().map(k -> k.label().split(" ")[0]).collect(java.util.stream.Collectors.toSet()),
                "keys of all three tools took part");
    }
}
