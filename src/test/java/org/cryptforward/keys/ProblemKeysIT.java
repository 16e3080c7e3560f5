package org.cryptforward.keys;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.bouncycastle.openpgp.PGPEncryptedData;
import org.bouncycastle.openpgp.PGPEncryptedDataList;
import org.bouncycastle.openpgp.PGPObjectFactory;
import org.bouncycastle.openpgp.PGPPublicKeyEncryptedData;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.cryptforward.support.ExternalTool;
import org.cryptforward.support.KeyTools;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Relay;
import org.cryptforward.support.Sandbox;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keys that cannot (all) be used, made by GnuPG at faked times in the past, and bad input: each
 * gives the documented outcome and message, and a refused import leaves the keyring as it was.
 *
 * <ul>
 *   <li>expired key, revoked key, key whose only encryption subkey is revoked, sign-only key:
 *       refused (exit 65) with the reason;
 *   <li>a key with an expired encryption subkey and a newer valid one: imported, and a delivery
 *       addresses only the newer subkey (checked in the PKESK packets), which gpg decrypts;
 *   <li>secret key (armored and binary), garbage, an empty file: refused (exit 65), nothing written;
 *   <li>re-import merges: a renewed expiry makes a stored expired key usable again, a revocation
 *       makes a stored key unusable (and a bare revocation certificate does too);
 *   <li>a delivery to a rule whose key expired sends the content-free notice and exits 0 with the
 *       local copy kept.
 * </ul>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ProblemKeysIT {
    /** While the keys made at {@link KeyTools#BIRTH} were all still valid. */
    static final Clock BACK_THEN = Clock.fixed(Instant.parse("2020-06-01T00:00:00Z"), ZoneOffset.UTC);

    @TempDir
    static Path tmp;

    private Relay relay;
    private KeyTools.Gpg gpg;
    private int sandboxes;

    private String expired;
    private String revoked;
    private String revokedSubkey;
    private String revokedSubkeySub;
    private String signOnly;
    private String rotated;
    private String rotatedOld;
    private String rotatedNew;

    @BeforeAll
    void makeKeys() {
        ExternalTool.require("gpg");
        relay = new Relay();
        gpg = new KeyTools.Gpg(tmp.resolve("gpg"));
        String t0 = KeyTools.BIRTH;

        expired = gpg.generate(t0, "Expired <expired@example.org>", "ed25519", "cert,sign", "1y");
        gpg.addSubkey(t0, expired, "cv25519", "encr", "1y");

        revoked = gpg.generate(t0, "Revoked <revoked@example.org>", "ed25519", "cert,sign", "never");
        gpg.addSubkey(t0, revoked, "cv25519", "encr", "never");

        revokedSubkey = gpg.generate(t0, "Revoked Subkey <revsub@example.org>", "ed25519", "cert,sign", "never");
        revokedSubkeySub = gpg.addSubkey(t0, revokedSubkey, "cv25519", "encr", "never");
        gpg.revokeSubkey("20200301T000000", revokedSubkey, revokedSubkeySub);

        signOnly = gpg.generate(t0, "Sign Only <signonly@example.org>", "ed25519", "cert,sign", "never");

        rotated = gpg.generate(t0, "Rotated <rotated@example.org>", "rsa3072", "cert,sign", "never");
        rotatedOld = gpg.addSubkey(t0, rotated, "rsa3072", "encr", "1y");
        rotatedNew = gpg.addSubkey("20201201T000000", rotated, "rsa3072", "encr", "never");
    }

    @AfterAll
    void stop() {
        if (relay != null) {
            relay.close();
        }
        if (gpg != null) {
            gpg.close();
        }
    }

    private Sandbox sandbox(String... keys) {
        Path dir = tmp.resolve("sb" + (++sandboxes));
        return keys.length == 0
                ? new Sandbox(dir, relay.port(), "", true)
                : new Sandbox(dir, relay.port(), "", true, List.of(keys));
    }

    private static Path write(Sandbox sb, String name, byte[] bytes) throws IOException {
        Path f = sb.dir.resolve(name);
        Files.write(f, bytes);
        return f;
    }

    /** Every file under a directory with its bytes. */
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

    private Sandbox.Run refusedImport(Sandbox sb, Path file) throws IOException {
        TreeMap<String, String> before = tree(sb.dir);
        Sandbox.Run run = sb.run(new byte[0], "key", "import", file.toString());
        assertEquals(65, run.exit(), run::combined);
        assertEquals(before, tree(sb.dir), "a refused import changes nothing, leaves no temporary file");
        assertEquals("", run.out(), "nothing reported as imported");
        assertEquals(1, run.err().lines().count(), () -> "one line: " + run.err());
        assertFalse(run.err().contains("Exception") || run.err().contains("\tat "), run::err);
        return run;
    }

    @Test
    void expiredKeyIsRefused() throws Exception {
        Sandbox sb = sandbox();
        Sandbox.Run run = refusedImport(sb, write(sb, "expired.asc", gpg.exportPublic(expired)));
        assertEquals(
                "cryptforward: refusing key " + expired
                        + " (Expired <expired@example.org>): it cannot be used for encryption: "
                        + "the key expired on 2020-12-31; nothing was stored\n",
                run.err());
    }

    @Test
    void revokedKeyIsRefused() throws Exception {
        KeyTools.Gpg own = new KeyTools.Gpg(tmp.resolve("gpg-revoked"));
        try (own) {
            own.importKeys(gpg.exportSecret(revoked, true)).ok("import");
            own.importKeys(gpg.revocationCertificate(revoked)).ok("import the revocation");
            Sandbox sb = sandbox();
            Sandbox.Run run = refusedImport(sb, write(sb, "revoked.asc", own.exportPublic(revoked)));
            assertTrue(
                    run.err()
                            .startsWith("cryptforward: refusing key " + revoked
                                    + " (Revoked <revoked@example.org>): it cannot be used "
                                    + "for encryption: the key is revoked"),
                    run::err);
        }
    }

    @Test
    void keyWhoseEncryptionSubkeyIsRevokedIsRefused() throws Exception {
        Sandbox sb = sandbox();
        Sandbox.Run run = refusedImport(sb, write(sb, "revsub.asc", gpg.exportPublic(revokedSubkey)));
        assertTrue(
                run.err()
                        .contains(": it cannot be used for encryption: its encryption subkey " + revokedSubkeySub
                                + " is revoked"),
                run::err);
    }

    @Test
    void signOnlyKeyIsRefused() throws Exception {
        Sandbox sb = sandbox();
        Sandbox.Run run = refusedImport(sb, write(sb, "signonly.asc", gpg.exportPublic(signOnly)));
        assertTrue(
                run.err()
                        .endsWith(
                                ": it cannot be used for encryption: it has no encryption subkey (a sign-only key); nothing was stored\n"),
                run::err);
    }

    @Test
    void secretKeyIsRefusedAndNothingIsWritten() throws Exception {
        for (boolean armor : new boolean[] {true, false}) {
            Sandbox sb = sandbox();
            Sandbox.Run run = refusedImport(
                    sb, write(sb, "secret" + (armor ? ".asc" : ".gpg"), gpg.exportSecret(rotated, armor)));
            assertTrue(
                    run.err().contains("holds a secret key (" + rotated + "); refusing it, nothing was stored"),
                    run::err);
            // the same through standard input
            TreeMap<String, String> before = tree(sb.dir);
            Sandbox.Run stdin = sb.run(gpg.exportSecret(rotated, armor), "key", "import");
            assertEquals(65, stdin.exit(), stdin::combined);
            assertTrue(stdin.err().startsWith("cryptforward: standard input holds a secret key"), stdin::err);
            assertEquals(before, tree(sb.dir));
        }
    }

    @Test
    void garbageAndEmptyInputAreRefused() throws Exception {
        Sandbox sb = sandbox();
        Sandbox.Run garbage = refusedImport(
                sb, write(sb, "garbage.asc", "this is not a key\n\u0001\u0002binary".getBytes(StandardCharsets.UTF_8)));
        assertTrue(
                garbage.err()
                        .startsWith("cryptforward: " + sb.dir.resolve("garbage.asc") + " is not an OpenPGP public key"),
                garbage::err);
        Sandbox.Run empty = refusedImport(sb, write(sb, "empty.asc", new byte[0]));
        assertEquals("cryptforward: " + sb.dir.resolve("empty.asc") + " is empty: no OpenPGP key in it\n", empty.err());
        byte[] brokenArmor = new String(gpg.exportPublic(rotated), StandardCharsets.US_ASCII)
                .replaceFirst("\n[A-Za-z0-9+/]{20}", "\n!!!!")
                .getBytes(StandardCharsets.US_ASCII);
        Sandbox.Run broken = refusedImport(sb, write(sb, "broken.asc", brokenArmor));
        assertTrue(broken.err().contains(" is not an OpenPGP public key"), broken::err);
    }

    @Test
    void importIsAllOrNothing() throws Exception {
        Sandbox sb = sandbox();
        Path good = write(sb, "good.asc", gpg.exportPublic(rotated));
        Path bad = write(sb, "bad.asc", gpg.exportPublic(signOnly));
        refusedImport(sb, good, bad);
        // several keys in one input, the second bad
        refusedImport(sb, write(sb, "both.asc", gpg.exportPublic(rotated, signOnly)));
        // several armor blocks concatenated, the second a secret key
        byte[] concatenated = concat(gpg.exportPublic(rotated), gpg.exportSecret(expired, true));
        Sandbox.Run run = refusedImport(sb, write(sb, "concat.asc", concatenated));
        assertTrue(run.err().contains("holds a secret key (" + expired + ")"), run::err);
    }

    private Sandbox.Run refusedImport(Sandbox sb, Path first, Path second) throws IOException {
        TreeMap<String, String> before = tree(sb.dir);
        Sandbox.Run run = sb.run(new byte[0], "key", "import", first.toString(), second.toString());
        assertEquals(65, run.exit(), run::combined);
        assertTrue(run.err().contains("refusing key " + signOnly), run::err);
        assertEquals(before, tree(sb.dir), "nothing stored when one of the keys is bad");
        return run;
    }

    @Test
    void severalKeysInOneInputAndSeveralArmorBlocks() throws Exception {
        Sandbox sb = sandbox();
        Sandbox.Run run = sb.run(gpg.exportPublic(rotated), "key", "import");
        assertEquals(0, run.exit(), run::combined);
        // one gpg export with two keys, then a second armor block
        KeyTools.Gpg other = new KeyTools.Gpg(tmp.resolve("gpg-several"));
        try (other) {
            String a = other.generate(KeyTools.BIRTH, "A <a@example.org>", "ed25519", "cert,sign", "never");
            other.addSubkey(KeyTools.BIRTH, a, "cv25519", "encr", "never");
            String b = other.generate(KeyTools.BIRTH, "B <b@example.org>", "ed25519", "cert,sign", "never");
            other.addSubkey(KeyTools.BIRTH, b, "cv25519", "encr", "never");
            byte[] input = concat(other.exportPublic(a, b), gpg.exportPublic(rotated));
            Sandbox.Run both = sb.run(input, "key", "import");
            assertEquals(0, both.exit(), both::combined);
            assertTrue(both.out().contains("imported " + a), both::out);
            assertTrue(both.out().contains("imported " + b), both::out);
            assertTrue(both.out().contains("unchanged " + rotated), both::out);
            for (String f : List.of(a, b, rotated)) {
                assertTrue(Files.isRegularFile(sb.keyring.resolve(f + ".asc")), f);
            }
        }
    }

    @Test
    void newerEncryptionSubkeyIsUsedNotTheExpiredOne() throws Exception {
        Sandbox sb = sandbox("rotated@example.org");
        Sandbox.Run imported = sb.run(
                new byte[0],
                "key",
                "import",
                write(sb, "rotated.asc", gpg.exportPublic(rotated)).toString());
        assertEquals(0, imported.exit(), imported::combined);
        assertTrue(imported.out().contains("encryption:  yes"), imported::out);
        Sandbox.Run show = sb.run(new byte[0], "key", "show", "rotated@example.org");
        assertTrue(show.out().lines().anyMatch(l -> l.contains(rotatedOld) && l.endsWith("expired")), show::out);
        assertTrue(
                show.out()
                        .lines()
                        .anyMatch(l -> l.contains(rotatedNew) && l.endsWith("valid") && l.contains("[encrypt]")),
                show::out);

        relay.reset();
        byte[] message = "From: root@host\nSubject: rotation\nMessage-ID: <rot@host>\n\nrotated body\n"
                .getBytes(StandardCharsets.US_ASCII);
        Sandbox.Run run = sb.deliver(message, "--recipient", "root@cf.test");
        assertEquals(0, run.exit(), run::combined);
        byte[] armor = PgpMime.encryptedPart(relay.received()[0]);
        assertEquals(List.of(rotatedNew.substring(24)), recipients(armor), "one PKESK, for the newer subkey");
        assertTrue(Messages.isOriginalWithMark(message, gpg.decrypt(armor)));
    }

    @Test
    void reimportMergesRenewedExpiry() throws Exception {
        KeyTools.Gpg own = new KeyTools.Gpg(tmp.resolve("gpg-renew"));
        try (own) {
            own.importKeys(gpg.exportSecret(expired, true)).ok("import");
            Sandbox sb = sandbox("expired@example.org");
            sb.clock(BACK_THEN);
            Sandbox.Run first = sb.run(
                    new byte[0],
                    "key",
                    "import",
                    write(sb, "v1.asc", own.exportPublic(expired)).toString());
            assertEquals(0, first.exit(), first::combined);
            sb.clock(Clock.systemUTC());
            Sandbox.Run list = sb.run(new byte[0], "key", "list");
            assertTrue(list.out().contains(expired + "  NOT USABLE: the key expired on 2020-12-31"), list::out);

            own.at("20230101T000000", new byte[0], "--quick-set-expire", expired, "never")
                    .ok("renew primary");
            // gpg's "*" skips subkeys that have already expired: name it
            String sub = own.subkeys(expired).get(0);
            own.at("20230101T000000", new byte[0], "--quick-set-expire", expired, "never", sub)
                    .ok("renew the subkey");
            Sandbox.Run renewed = sb.run(
                    new byte[0],
                    "key",
                    "import",
                    write(sb, "v2.asc", own.exportPublic(expired)).toString());
            assertEquals(0, renewed.exit(), renewed::combined);
            assertTrue(renewed.out().contains("updated " + expired), renewed::out);
            assertTrue(renewed.out().contains("encryption:  yes"), renewed::out);
            assertTrue(sb.run(new byte[0], "key", "list").out().contains(expired + "  usable  no expiry"));

            relay.reset();
            byte[] message = "From: root@host\nSubject: renewed\n\nafter renewal\n".getBytes(StandardCharsets.US_ASCII);
            assertEquals(0, sb.deliver(message, "--recipient", "root@cf.test").exit());
            assertTrue(Messages.isOriginalWithMark(message, own.decrypt(PgpMime.encryptedPart(relay.received()[0]))));
        }
    }

    @Test
    void reimportMergesRevocation() throws Exception {
        KeyTools.Gpg own = new KeyTools.Gpg(tmp.resolve("gpg-revoke"));
        try (own) {
            own.importKeys(gpg.exportSecret(revoked, true)).ok("import");
            Sandbox sb = sandbox("revoked@example.org");
            assertEquals(0, sb.run(own.exportPublic(revoked), "key", "import").exit());
            byte[] before = Files.readAllBytes(sb.keyring.resolve(revoked + ".asc"));

            // a bare revocation certificate, as gpg writes it when it makes the key
            Sandbox.Run bare = sb.run(gpg.revocationCertificate(revoked), "key", "import");
            assertEquals(0, bare.exit(), bare::combined);
            assertTrue(bare.out().contains("updated " + revoked), bare::out);
            assertTrue(bare.out().contains("encryption:  NO: the key is revoked"), bare::out);
            assertTrue(
                    bare.err().contains("warning: key " + revoked + " can no longer be used: the key is revoked"),
                    bare::err);

            // the same revocation in a full export merges into the same result
            own.importKeys(gpg.revocationCertificate(revoked)).ok("import the revocation");
            Sandbox.Run again = sb.run(own.exportPublic(revoked), "key", "import");
            assertEquals(0, again.exit(), again::combined);
            assertFalse(java.util.Arrays.equals(before, Files.readAllBytes(sb.keyring.resolve(revoked + ".asc"))));
            Sandbox.Run list = sb.run(new byte[0], "key", "list");
            assertTrue(list.out().contains(revoked + "  NOT USABLE: the key is revoked"), list::out);
        }
    }

    @Test
    void deliveryToAnExpiredKeySendsTheNoticeAndKeepsTheCopy() throws Exception {
        Sandbox sb = sandbox("expired@example.org");
        sb.clock(BACK_THEN);
        assertEquals(0, sb.run(gpg.exportPublic(expired), "key", "import").exit());
        sb.clock(Clock.systemUTC());
        relay.reset();
        byte[] message = ("From: Cron Daemon <root@host.example>\n"
                        + "Subject: Cron <root@host> secret-subject-words\n"
                        + "Message-ID: <expired-test@host.example>\n"
                        + "\n"
                        + "secret body words that must not leave\n")
                .getBytes(StandardCharsets.US_ASCII);
        Sandbox.Run run = sb.deliver(message, "--recipient", "root@cf.test", "--sender", "cron@host.example");
        assertEquals(0, run.exit(), run::combined);
        assertEquals(1, sb.maildirMessages().size(), "local copy kept");
        assertArrayEquals(message, Files.readAllBytes(sb.maildirMessages().get(0)));
        MimeMessage[] received = relay.received();
        assertEquals(1, received.length, "one notice");
        String notice = new String(PgpMime.bytes(received[0]), StandardCharsets.UTF_8);
        assertFalse(notice.contains("secret-subject-words"), notice);
        assertFalse(notice.contains("secret body words"), notice);
        assertFalse(notice.contains("BEGIN PGP"), notice);
        assertTrue(notice.contains("<expired-test@host.example>"), notice);
        assertTrue(notice.contains("cron@host.example"), notice);
        assertTrue(notice.contains(sb.maildirMessages().get(0).toString()), notice);
        assertTrue(notice.contains("key " + expired) && notice.contains("the key expired on 2020-12-31"), notice);
        assertEquals("admin@example.org", received[0].getHeader("To", null));
        String log = sb.logText();
        assertTrue(
                log.contains("status=sent") && log.contains("key " + expired) && log.contains("expired on 2020-12-31"),
                log);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** The key IDs the PKESK packets of a message address, as 16 upper-case hex digits. */
    static List<String> recipients(byte[] armored) throws Exception {
        PGPObjectFactory f = new PGPObjectFactory(
                PGPUtil.getDecoderStream(new ByteArrayInputStream(armored)), new BcKeyFingerprintCalculator());
        Object o = f.nextObject();
        while (o != null && !(o instanceof PGPEncryptedDataList)) {
            o = f.nextObject();
        }
        List<String> out = new ArrayList<>();
        for (Iterator<PGPEncryptedData> it = ((PGPEncryptedDataList) o).getEncryptedDataObjects(); it.hasNext(); ) {
            PGPEncryptedData d = it.next();
            if (d instanceof PGPPublicKeyEncryptedData pk) {
                out.add(String.format(
                        Locale.ROOT, "%016X", pk.getKeyIdentifier().getKeyId()));
            }
        }
        return out;
    }
}
