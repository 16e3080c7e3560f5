package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.api.OpenPGPKey;
import org.bouncycastle.openpgp.api.OpenPGPKeyReader;
import org.cryptforward.keys.KeyIds;
import org.cryptforward.support.BcKeys;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code key} commands without external tools: IDs (fingerprint, suffix, address; ambiguous
 * and unknown ones), exit codes (64 usage, 65 bad input, 75 keyring I/O), the keyring on disk
 * (modes, atomic all-or-none writes even when a rename fails), re-import of the same key, export,
 * JSON, and a broken file in the keyring that does not hide the others.
 */
class KeyCommandsTest {
    @TempDir
    Path tmp;

    private static OpenPGPKey alice;
    private static OpenPGPKey aliceNew;
    private static OpenPGPKey bob;

    @BeforeAll
    static void keys() {
        alice = BcKeys.key(4, "Alice <alice@example.org>");
        aliceNew = BcKeys.key(4, "Alice (new) <alice@example.org>");
        bob = BcKeys.key(4, "Bob <bob@example.org>");
    }

    private Sandbox sandbox() {
        return new Sandbox(tmp.resolve("sb"), 25, "", true);
    }

    private static String fpr(OpenPGPKey k) {
        return KeyIds.fingerprint(k.toCertificate());
    }

    private static TreeMap<String, String> tree(Path dir) throws IOException {
        TreeMap<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                out.put(
                        dir.relativize(p).toString(),
                        Files.isRegularFile(p) ? new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1) : "/");
            }
        }
        return out;
    }

    @Test
    void idsNameKeysByFingerprintSuffixOrAddress() {
        Sandbox sb = sandbox();
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        String f = fpr(alice);
        for (String id : List.of(
                f,
                f.toLowerCase(),
                f.substring(24),
                "0x" + f.substring(20),
                "ALICE@example.org",
                "<alice@example.org>",
                f.replaceAll("(.{4})", "$1 ").strip())) {
            Sandbox.Run show = sb.run(new byte[0], "key", "show", id);
            assertEquals(0, show.exit(), () -> id + ": " + show.combined());
            assertTrue(show.out().contains("fingerprint: " + f), show::out);
        }
    }

    @Test
    void ambiguousAddressIsAnErrorListingTheCandidates() {
        Sandbox sb = sandbox();
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        Sandbox.Run second = sb.run(BcKeys.publicKey(aliceNew), "key", "import");
        assertEquals(0, second.exit(), second::combined);
        assertTrue(second.err().contains("warning: alice@example.org now names 2 keys"), second::err);

        for (String cmd : List.of("show", "export", "remove")) {
            Sandbox.Run run = sb.run(new byte[0], "key", cmd, "alice@example.org");
            assertEquals(64, run.exit(), run::combined);
            assertTrue(
                    run.err().startsWith("cryptforward: alice@example.org is ambiguous: it names 2 keys: "), run::err);
            assertTrue(run.err().contains(fpr(alice) + " (Alice <alice@example.org>)"), run::err);
            assertTrue(run.err().contains(fpr(aliceNew) + " (Alice (new) <alice@example.org>)"), run::err);
        }
        assertTrue(Files.exists(sb.keyring.resolve(fpr(alice) + ".asc")), "an ambiguous remove removes nothing");
        // the common prefix of nothing: a 16-digit suffix that matches no key
        Sandbox.Run unknown = sb.run(new byte[0], "key", "show", "0000000000000000");
        assertEquals(64, unknown.exit());
        assertTrue(
                unknown.err().startsWith("cryptforward: no key for 0000000000000000 in " + sb.keyring), unknown::err);
    }

    @Test
    void usageErrorsExit64() {
        Sandbox sb = sandbox();
        for (String[] args : List.of(
                new String[] {"key"},
                new String[] {"key", "show"},
                new String[] {"key", "frobnicate"},
                new String[] {"key", "show", "alice"},
                new String[] {"key", "show", "ABCDEF"},
                new String[] {"key", "list", "--bogus"})) {
            Sandbox.Run run = sb.run(new byte[0], args);
            assertEquals(64, run.exit(), () -> String.join(" ", args) + ": " + run.combined());
            assertTrue(run.err().startsWith("cryptforward: "), run::err);
            assertFalse(run.err().contains("\tat "), "no stack trace");
        }
        Sandbox.Run missingFile =
                sb.run(new byte[0], "key", "import", tmp.resolve("nope.asc").toString());
        assertEquals(65, missingFile.exit(), missingFile::combined);
        assertEquals("cryptforward: " + tmp.resolve("nope.asc") + ": no such file\n", missingFile.err());
    }

    @Test
    void keyringIsWrittenWithModes0644And0755AndNoLeftovers() throws Exception {
        Sandbox sb = sandbox();
        Path fresh = tmp.resolve("new-keyring");
        sb.writeConfig(
                Files.readString(sb.config).replace("keyring = \"" + sb.keyring + "\"", "keyring = \"" + fresh + "\""));
        Sandbox.Run run = sb.run(BcKeys.publicKey(alice), "key", "import");
        assertEquals(0, run.exit(), run::combined);
        assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh)));
        Path file = fresh.resolve(fpr(alice) + ".asc");
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        try (Stream<Path> s = Files.list(fresh)) {
            assertEquals(
                    List.of(".index", ".lock", fpr(alice) + ".asc"),
                    s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        OpenPGPCertificate stored = new OpenPGPKeyReader().parseCertificate(Files.readString(file));
        assertArrayEquals(alice.toCertificate().getEncoded(), stored.getEncoded());
        assertFalse(Files.readString(file).contains("PRIVATE"), "only the public key is stored");
    }

    @Test
    void reimportingTheSameKeyChangesNothing() throws Exception {
        Sandbox sb = sandbox();
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        TreeMap<String, String> before = tree(sb.keyring);
        Sandbox.Run again = sb.run(BcKeys.publicKey(alice), "key", "import", "-");
        assertEquals(0, again.exit(), again::combined);
        assertTrue(again.out().startsWith("unchanged " + fpr(alice) + " (already in the keyring)"), again::out);
        assertEquals(before, tree(sb.keyring));
    }

    @Test
    void aFailedRenameLeavesTheKeyringAsItWas() throws Exception {
        Sandbox sb = sandbox();
        Path a = BcKeys.write(tmp.resolve("a.asc"), BcKeys.publicKey(alice));
        Path b = BcKeys.write(tmp.resolve("b.asc"), BcKeys.publicKey(bob));
        // a directory (not empty) where bob's file must go: the rename onto it fails, even for root
        Files.createDirectories(sb.keyring.resolve(fpr(bob) + ".asc").resolve("in-the-way"));
        TreeMap<String, String> before = tree(sb.keyring);

        Sandbox.Run run = sb.run(new byte[0], "key", "import", a.toString(), b.toString());
        assertEquals(75, run.exit(), run::combined);
        assertTrue(run.err().startsWith("cryptforward: cannot write to keyring " + sb.keyring), run::err);
        TreeMap<String, String> after = tree(sb.keyring);
        after.remove(".lock");
        assertEquals(before, after, "alice's file, renamed first, was taken back; no temporary file left");
    }

    @Test
    void exportIsTheStoredCertificateWithCrc() throws Exception {
        Sandbox sb = sandbox();
        assertEquals(0, sb.run(BcKeys.publicKey(bob), "key", "import").exit());
        Sandbox.Run export = sb.run(new byte[0], "key", "export", "bob@example.org");
        assertEquals(0, export.exit());
        assertTrue(export.out().startsWith("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"), export::out);
        assertTrue(export.out().lines().anyMatch(l -> l.matches("=[A-Za-z0-9+/]{4}")), "CRC line for GnuPG 2.2");
        assertArrayEquals(
                bob.toCertificate().getEncoded(),
                new OpenPGPKeyReader().parseCertificate(export.out()).getEncoded());
    }

    @Test
    void removeDeletesOnlyThatKey() {
        Sandbox sb = sandbox();
        assertEquals(0, sb.run(BcKeys.publicKey(bob), "key", "import").exit());
        Sandbox.Run run = sb.run(new byte[0], "key", "remove", fpr(bob).substring(20));
        assertEquals(0, run.exit(), run::combined);
        assertEquals("removed " + fpr(bob) + " (Bob <bob@example.org>)\n", run.out());
        assertFalse(Files.exists(sb.keyring.resolve(fpr(bob) + ".asc")));
        assertTrue(Files.exists(sb.keyring.resolve(TestKeys.RSA.fingerprint + ".asc")));
        assertEquals(64, sb.run(new byte[0], "key", "remove", fpr(bob)).exit(), "gone");
    }

    @Test
    void listAsJson() {
        Sandbox sb = sandbox();
        assertEquals(0, sb.run(BcKeys.publicKey(bob), "key", "import").exit());
        Sandbox.Run json = sb.run(new byte[0], "key", "list", "--json");
        assertEquals(0, json.exit());
        String compact = json.out().replaceAll("\\s+", " ");
        assertTrue(compact.startsWith("[ {"), compact);
        assertTrue(
                compact.contains("\"fingerprint\": \"" + fpr(bob)
                        + "\", \"version\": 4, \"user_ids\": [ \"Bob <bob@example.org>\" ], "
                        + "\"algorithm\": \"Ed25519\", \"usable\": true, \"reason\": null, \"expires\": null"),
                compact);
        assertTrue(
                compact.contains(
                        "\"algorithm\": \"X25519\", \"usage\": \"encrypt\", \"created\": \"2020-01-01\", \"expires\": \"never\", "
                                + "\"state\": \"valid\""),
                compact);
    }

    @Test
    void aBrokenKeyringFileDoesNotHideTheOthers() throws Exception {
        Sandbox sb = sandbox();
        Files.writeString(sb.keyring.resolve("0000000000000000000000000000000000000000.asc"), "garbage\n");
        Sandbox.Run list = sb.run(new byte[0], "key", "list");
        assertEquals(0, list.exit(), list::combined);
        assertTrue(list.out().contains(TestKeys.ED.fingerprint + "  usable"), list::out);
        assertTrue(
                list.err()
                        .contains("warning: keyring file "
                                + sb.keyring.resolve("0000000000000000000000000000000000000000.asc")),
                list::err);
        Sandbox.Run show = sb.run(new byte[0], "key", "show", TestKeys.RSA.email);
        assertEquals(0, show.exit(), show::combined);
    }

    @Test
    void aSecretKeyIsRefusedWhateverItsVersion() throws Exception {
        for (int version : new int[] {4, 6}) {
            Sandbox sb = new Sandbox(tmp.resolve("v" + version), 25, "", true);
            TreeMap<String, String> before = tree(sb.dir);
            Sandbox.Run run = sb.run(BcKeys.secretKey(BcKeys.key(version, "S <s@example.org>")), "key", "import");
            assertEquals(65, run.exit(), run::combined);
            assertTrue(run.err().startsWith("cryptforward: standard input holds a secret key ("), run::err);
            assertEquals(before, tree(sb.dir));
        }
    }

    @Test
    void aSignOnlyKeyIsRefused() {
        Sandbox sb = sandbox();
        OpenPGPKey signer = BcKeys.signOnly(4, "Signer <signer@example.org>");
        Sandbox.Run run = sb.run(BcKeys.publicKey(signer), "key", "import");
        assertEquals(65, run.exit(), run::combined);
        assertEquals(
                "cryptforward: refusing key " + fpr(signer)
                        + " (Signer <signer@example.org>): it cannot be used for encryption: "
                        + "it has no encryption subkey (a sign-only key); nothing was stored\n",
                run.err());
    }

    @Test
    void updatesOfAV6KeyAreMerged() throws Exception {
        Sandbox sb = sandbox();
        OpenPGPKey six = BcKeys.key(6, "Six <six@example.org>");
        String f = fpr(six);
        assertEquals(0, sb.run(BcKeys.publicKey(six), "key", "import").exit());

        // a new encryption subkey
        OpenPGPKey more = new org.bouncycastle.openpgp.api.bc.BcOpenPGPApi()
                .editKey(six)
                .addEncryptionSubkey()
                .done();
        Sandbox.Run added = sb.run(BcKeys.publicKey(more), "key", "import");
        assertEquals(0, added.exit(), added::combined);
        assertTrue(added.out().startsWith("updated " + f), added::out);
        OpenPGPCertificate stored =
                new OpenPGPKeyReader().parseCertificate(Files.readString(sb.keyring.resolve(f + ".asc")));
        assertEquals(3, stored.getKeys().size(), "primary and both subkeys");
        assertEquals(2, stored.getEncryptionKeys(new java.util.Date()).size());

        // then a revocation, given as the old copy plus the revocation: the new subkey stays
        OpenPGPKey revoked = new org.bouncycastle.openpgp.api.bc.BcOpenPGPApi()
                .editKey(six)
                .revokeKey()
                .done();
        Sandbox.Run rev = sb.run(BcKeys.publicKey(revoked), "key", "import");
        assertEquals(0, rev.exit(), rev::combined);
        assertTrue(rev.out().contains("encryption:  NO: the key is revoked"), rev::out);
        assertTrue(rev.err().contains("warning: key " + f + " can no longer be used: the key is revoked"), rev::err);
        stored = new OpenPGPKeyReader().parseCertificate(Files.readString(sb.keyring.resolve(f + ".asc")));
        assertEquals(3, stored.getKeys().size());
        assertTrue(stored.getEncryptionKeys(new java.util.Date()).isEmpty());
    }

    @Test
    void controlCharactersInUserIdsAreNotPrinted() {
        Sandbox sb = sandbox();
        OpenPGPKey odd = BcKeys.key(4, "Evil \u001b[2J\u001b]0;pwned\u0007 <evil@example.org>");
        Sandbox.Run run = sb.run(BcKeys.publicKey(odd), "key", "import");
        assertEquals(0, run.exit(), run::combined);
        assertTrue(run.out().contains("user ID:     Evil ?[2J?]0;pwned? <evil@example.org>"), run::out);
        Sandbox.Run list = sb.run(new byte[0], "key", "list");
        assertFalse(list.out().contains("\u001b") || list.out().contains("\u0007"), list::out);
        assertTrue(list.out().contains("    Evil ?[2J?]0;pwned? <evil@example.org>"), list::out);
    }
}
