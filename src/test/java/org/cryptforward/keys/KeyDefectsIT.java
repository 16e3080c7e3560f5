package org.cryptforward.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.cryptforward.support.KeyTools;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.Splice;
import org.cryptforward.support.Splice.Packet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Key defects with keys made by the real tools: a third-party certification made by gpg is not
 * stored (and its address binds nothing of its own); a forged revocation spliced into an update
 * leaves a file that cryptforward, gpg and sq all see as valid; the policy refusals (a DSA
 * primary key, RSA of 1024 bits, SHA-1 self-signatures — made by gpg) are named as such; and
 * revocation certificates from gpg and sq still revoke.
 */
class KeyDefectsIT {
    @TempDir
    Path tmp;

    private Sandbox sandbox(String name, String key) {
        return new Sandbox(tmp.resolve(name), 25, "", true, List.of(key));
    }

    @Test
    void aThirdPartyCertificationByGpgIsNotStored() throws Exception {
        assumeTrue(KeyTools.installed("gpg"), "gpg is installed (CI installs it)");
        try (KeyTools.Gpg gpg = new KeyTools.Gpg(tmp.resolve("gpg"))) {
            String owner = gpg.generate(KeyTools.BIRTH, "Owner <owner@example.org>", "ed25519", "cert,sign", "never");
            gpg.addSubkey(KeyTools.BIRTH, owner, "cv25519", "encr", "never");
            String stranger =
                    gpg.generate(KeyTools.BIRTH, "Stranger <stranger@example.org>", "ed25519", "cert,sign", "never");
            gpg.at(KeyTools.BIRTH, new byte[0], "--default-key", stranger, "--quick-sign-key", owner)
                    .ok("gpg --quick-sign-key");
            byte[] exported = gpg.exportPublic(owner);
            long before = Splice.packets(exported).stream()
                    .filter(p -> p.tag() == Splice.SIGNATURE)
                    .count();

            Sandbox sb = sandbox("third", "owner@example.org");
            Sandbox.Run run = sb.run(exported, "key", "import");
            assertEquals(0, run.exit(), run::combined);
            Path stored = sb.keyring.resolve(owner + ".asc");
            long after = Splice.packets(Files.readAllBytes(stored)).stream()
                    .filter(p -> p.tag() == Splice.SIGNATURE)
                    .count();
            assertEquals(before - 1, after, "the stranger's certification is left out, the owner's signatures kept");
            String packets = gpg.at(null, Files.readAllBytes(stored), "--list-packets")
                    .ok("gpg --list-packets")
                    .text();
            assertFalse(packets.contains(stranger.substring(24)), packets);
            assertTrue(packets.contains("sigclass 0x13"), packets);
            // gpg reads what is stored as the valid key it was
            try (KeyTools.Gpg fresh = new KeyTools.Gpg(tmp.resolve("fresh"))) {
                fresh.importKeys(Files.readAllBytes(stored)).ok("gpg --import");
                assertTrue(fresh.colons("--list-keys", owner).stream()
                        .anyMatch(l -> l.startsWith("sub:") && l.split(":")[11].contains("e")));
            }
        }
    }

    @Test
    void aForgedRevocationLeavesAFileThatGpgAndSqSeeAsValid() throws Exception {
        assumeTrue(
                KeyTools.installed("gpg") && KeyTools.installed("sq"), "gpg and sq are installed (CI installs them)");
        try (KeyTools.Gpg gpg = new KeyTools.Gpg(tmp.resolve("gpg2"))) {
            String k = gpg.generate(KeyTools.BIRTH, "Victim <victim@example.org>", "ed25519", "cert,sign", "never");
            gpg.addSubkey(KeyTools.BIRTH, k, "cv25519", "encr", "never");
            byte[] key = gpg.exportPublic(k);
            // gpg's own revocation certificate, its signature damaged: what a forger can make
            Packet revocation = Splice.packets(gpg.revocationCertificate(k)).get(0);
            List<Packet> p = new ArrayList<>(Splice.packets(key));
            p.add(1, Splice.damaged(revocation));
            Sandbox sb = sandbox("forged", "victim@example.org");
            assertEquals(0, sb.run(key, "key", "import").exit());
            Sandbox.Run run = sb.run(Splice.armored(p), "key", "import");
            assertEquals(0, run.exit(), run::combined);
            assertTrue(run.out().startsWith("unchanged " + k), run::out);
            assertTrue(run.out().contains("encryption:  yes"), run::out);
            Sandbox.Run bare = sb.run(Splice.armored(List.of(Splice.damaged(revocation))), "key", "import");
            assertEquals(65, bare.exit(), bare::combined);
            assertTrue(bare.err().contains("has no valid signature; nothing was stored"), bare::err);

            byte[] file = Files.readAllBytes(sb.keyring.resolve(k + ".asc"));
            String sq = KeyTools.exec(tmp, file, List.of("sq", "inspect"))
                    .ok("sq inspect")
                    .text();
            assertFalse(sq.toLowerCase(java.util.Locale.ROOT).contains("revoked"), sq);
            try (KeyTools.Gpg fresh = new KeyTools.Gpg(tmp.resolve("fresh2"))) {
                fresh.importKeys(file).ok("gpg --import");
                String pub = fresh.colons("--list-keys", k).stream()
                        .filter(l -> l.startsWith("pub:"))
                        .findFirst()
                        .orElseThrow();
                assertFalse(pub.split(":")[1].equals("r"), pub);
            }
            // and the real revocation still revokes
            Sandbox.Run real = sb.run(gpg.revocationCertificate(k), "key", "import");
            assertEquals(0, real.exit(), real::combined);
            assertTrue(real.out().contains("encryption:  NO: the key is revoked"), real::out);
        }
    }

    @Test
    void policyRefusalsNameThePolicy() {
        assumeTrue(KeyTools.installed("gpg"), "gpg is installed (CI installs it)");
        try (KeyTools.Gpg gpg = new KeyTools.Gpg(tmp.resolve("gpg3"))) {
            String dsa = gpg.generate(KeyTools.BIRTH, "DSA <dsa@example.org>", "dsa2048", "cert,sign", "never");
            gpg.addSubkey(KeyTools.BIRTH, dsa, "elg2048", "encr", "never");
            String rsa1024 = gpg.generate(KeyTools.BIRTH, "Small <small@example.org>", "rsa1024", "cert,sign", "never");
            gpg.addSubkey(KeyTools.BIRTH, rsa1024, "rsa2048", "encr", "never");
            // SHA-1 self-signatures made now (the policy accepts old ones for a while)
            gpg.at(
                            null,
                            new byte[0],
                            "--cert-digest-algo",
                            "SHA1",
                            "--quick-gen-key",
                            "Old <sha1@example.org>",
                            "rsa2048",
                            "cert,sign",
                            "never")
                    .ok("gpg --quick-gen-key SHA-1");
            String sha1 = gpg.fingerprint("sha1@example.org");
            gpg.at(null, new byte[0], "--cert-digest-algo", "SHA1", "--quick-add-key", sha1, "rsa2048", "encr", "never")
                    .ok("gpg --quick-add-key");
            for (String[] c : List.of(
                    new String[] {
                        dsa, "its primary key is DSA 2048, an algorithm the signature policy no longer accepts"
                    },
                    new String[] {rsa1024, "its primary key is RSA 1024, too weak for the signature policy"},
                    new String[] {sha1, "its self-signatures use SHA-1, which the signature policy no longer accepts"
                    })) {
                Sandbox sb = sandbox("policy-" + c[0], "x@example.org");
                Sandbox.Run run = sb.run(gpg.exportPublic(c[0]), "key", "import");
                assertEquals(65, run.exit(), run::combined);
                assertTrue(run.err().contains(": it cannot be used for encryption: " + c[1]), run::err);
                assertFalse(run.err().contains("no valid self-signature"), run::err);
            }
        }
    }

    @Test
    void revocationCertificatesFromGpgAndSqStillRevoke() throws Exception {
        assumeTrue(
                KeyTools.installed("gpg") && KeyTools.installed("sq"), "gpg and sq are installed (CI installs them)");
        try (KeyTools.Gpg gpg = new KeyTools.Gpg(tmp.resolve("gpg4"))) {
            String k = gpg.generate(KeyTools.BIRTH, "Rev <rev@example.org>", "ed25519", "cert,sign", "never");
            gpg.addSubkey(KeyTools.BIRTH, k, "cv25519", "encr", "never");
            Sandbox sb = sandbox("gpgrev", "rev@example.org");
            assertEquals(0, sb.run(gpg.exportPublic(k), "key", "import").exit());
            Sandbox.Run rev = sb.run(gpg.revocationCertificate(k), "key", "import");
            assertEquals(0, rev.exit(), rev::combined);
            assertTrue(rev.out().contains("encryption:  NO: the key is revoked"), rev::out);
        }
        KeyTools.Sq sq = new KeyTools.Sq(tmp.resolve("sq"));
        Path key = sq.generate("<sqrev@example.org>", "cv25519");
        byte[] cert = sq.certificate(key);
        Sandbox sb = sandbox("sqrev", "sqrev@example.org");
        assertEquals(0, sb.run(cert, "key", "import").exit());
        byte[] revocation = KeyTools.exec(
                        tmp,
                        new byte[0],
                        List.of(
                                "sq",
                                "revoke",
                                "certificate",
                                "--certificate",
                                key.toString(),
                                "compromised",
                                "lost the laptop"))
                .ok("sq revoke certificate")
                .out();
        Sandbox.Run run = sb.run(revocation, "key", "import");
        assertEquals(0, run.exit(), run::combined);
        assertTrue(run.out().contains("encryption:  NO: the key is revoked (compromised: lost the laptop)"), run::out);
    }
}
