package org.cryptforward.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.internet.MimeMessage;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.bcpg.BCPGKey;
import org.bouncycastle.bcpg.ECDHPublicBCPGKey;
import org.bouncycastle.bcpg.HashAlgorithmTags;
import org.bouncycastle.bcpg.KeyIdentifier;
import org.bouncycastle.bcpg.PublicKeyAlgorithmTags;
import org.bouncycastle.bcpg.RSAPublicBCPGKey;
import org.bouncycastle.bcpg.SymmetricKeyAlgorithmTags;
import org.bouncycastle.bcpg.sig.KeyFlags;
import org.bouncycastle.bcpg.sig.RevocationReasonTags;
import org.bouncycastle.openpgp.PGPEncryptedDataList;
import org.bouncycastle.openpgp.PGPObjectFactory;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.api.OpenPGPKey;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.cryptforward.support.BcKeys;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Relay;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.Splice;
import org.cryptforward.support.Splice.Packet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crafted and damaged keys (made with Bouncy Castle and spliced packet by packet, see
 * {@link Splice}) against {@code key import}, {@code key list}/{@code show}, {@code check} and
 * {@code deliver}:
 *
 * <ul>
 *   <li>only user IDs bound by a valid, unexpired, unrevoked self-signature name a key — an unsigned
 *       one, one certified only by a stranger, a revoked one and an expired one do not, and a
 *       stranger's certification cannot make the admin's address ambiguous; only self-signatures
 *       are stored;
 *   <li>a forged (unverifiable) key revocation, direct-key signature, newer user ID
 *       self-signature, newer binding or subkey revocation added by an update changes nothing;
 *   <li>bad key material (Cv25519 point of the wrong length, prefix or low order, a P-256 point off
 *       the curve, RSA with e = 1, an even or huge e, an even modulus or one with a small factor, a
 *       32768-bit modulus, ElGamal of 8192 bits) is skipped with its reason beside a good subkey, refused on its own, and
 *       a planted key of only such material gets a notice from deliver and the same words from check;
 *   <li>the bounds on subkeys, user IDs, signatures and input size; a flood of third-party
 *       certifications is dropped;
 *   <li>a keyring file whose content is another key, a symbolic link, a FIFO, a link to
 *       {@code /dev/zero}; a symbolic link planted at the lock file;
 *   <li>messages: an unbound or damaged only-subkey is not called sign-only; a secret subkey packet
 *       is named; JSON escapes DEL, C1 and bidirectional controls; a user ID that is not UTF-8 is
 *       listed, escaped.
 * </ul>
 */
class KeyDefectsTest {
    static final byte[] MESSAGE = ("From: Cron Daemon <root@host.example>\n"
                    + "To: root@host.example\n"
                    + "Subject: key defects\n"
                    + "Message-ID: <key-defects@host.example>\n"
                    + "\n"
                    + "confidential body words\n")
            .getBytes(StandardCharsets.US_ASCII);
    static final Date LATER = new Date(BcKeys.BIRTH.getTime() + 86_400_000L);
    static final Date LATEST = new Date(BcKeys.BIRTH.getTime() + 2 * 86_400_000L);

    private static Relay relay;
    private static OpenPGPKey alice;
    private static OpenPGPKey mallory;

    @TempDir
    Path tmp;

    private int sandboxes;

    @BeforeAll
    static void start() {
        relay = new Relay();
        alice = BcKeys.key(4, "Alice <alice@example.org>");
        mallory = BcKeys.key(4, "Mallory <mallory@example.org>");
    }

    @AfterAll
    static void stop() {
        relay.close();
    }

    @BeforeEach
    void reset() {
        relay.reset();
    }

    private Sandbox sandbox(String... keys) {
        return new Sandbox(
                tmp.resolve("sb" + sandboxes++),
                relay.port(),
                "",
                true,
                keys.length == 0 ? List.of(org.cryptforward.support.TestKeys.ED.email) : List.of(keys));
    }

    private static String fpr(OpenPGPKey k) {
        return KeyIds.fingerprint(k.toCertificate());
    }

    private static PGPPublicKey primary(OpenPGPKey k) {
        return k.getPrimaryKey().getPGPPublicKey();
    }

    /** The public key of {@code key}, its packets edited by {@code edit}, armored. */
    private static byte[] edited(OpenPGPKey key, Consumer<List<Packet>> edit) {
        List<Packet> p = new ArrayList<>(Splice.packets(BcKeys.publicKey(key)));
        edit.accept(p);
        return Splice.armored(p);
    }

    /** Where the subkey packet is (BcKeys keys: primary, direct-key sig, user ID, its sig, subkey, binding). */
    private static int subkeyIndex(List<Packet> p) {
        return Splice.indexOf(p, Splice.PUBLIC_SUBKEY, 0);
    }

    private Sandbox.Run deliver(Sandbox sb) {
        return sb.deliver(MESSAGE, "--recipient", "root@cf.test", "--sender", "cron@host.example");
    }

    /** The one forward, decrypted with {@code key}; and how many PKESK packets it has. */
    private static int decryptsWith(OpenPGPKey key) throws Exception {
        MimeMessage[] received = relay.received();
        assertEquals(1, received.length, "one forward");
        byte[] encrypted = PgpMime.encryptedPart(received[0]);
        byte[] plain = BcKeys.decrypt(key, encrypted).plaintext();
        assertTrue(new String(plain, StandardCharsets.UTF_8).contains("confidential body words"));
        PGPObjectFactory f = new PGPObjectFactory(
                PGPUtil.getDecoderStream(new ByteArrayInputStream(encrypted)), new BcKeyFingerprintCalculator());
        Object o;
        while ((o = f.nextObject()) != null && !(o instanceof PGPEncryptedDataList)) {
            // skip markers
        }
        return ((PGPEncryptedDataList) o).size();
    }

    private static String notice() throws Exception {
        MimeMessage[] received = relay.received();
        assertEquals(1, received.length, "one notice");
        assertEquals("cryptforward: a message could not be encrypted", received[0].getSubject());
        return new String(PgpMime.bytes(received[0]), StandardCharsets.UTF_8);
    }

    /** Every signature in a stored keyring file is by the key itself and verifies. */
    private static void onlyVerifiedSelfSignatures(Path file, PGPPublicKey primary) throws Exception {
        List<Packet> stored = Splice.packets(Files.readAllBytes(file));
        KeyIdentifier self = primary.getKeyIdentifier();
        int sigs = 0;
        for (Packet p : stored) {
            if (p.tag() == Splice.SIGNATURE) {
                PGPSignature s = new PGPObjectFactory(p.encoded(), new BcKeyFingerprintCalculator()).nextObject()
                                instanceof org.bouncycastle.openpgp.PGPSignatureList l
                        ? l.get(0)
                        : null;
                assertTrue(
                        s != null && s.getKeyIdentifiers().stream().allMatch(id -> id.matches(self)),
                        "only the key's own signatures are stored");
                sigs++;
            }
        }
        assertTrue(sigs > 0);
        // and the stored certificate is exactly what the keyring reads back
        assertEquals(KeyIds.hex(primary.getFingerprint()), KeyIds.fingerprint(Keyring.read(file)));
    }

    // 1. user IDs

    @Test
    void onlyBoundUserIdsNameAKey() throws Exception {
        PGPPublicKey pk = primary(alice);
        byte[] unsigned = "Unsigned <unsigned@example.org>".getBytes(StandardCharsets.UTF_8);
        byte[] stranger = "Stranger <stranger@example.org>".getBytes(StandardCharsets.UTF_8);
        byte[] revoked = "Revoked <revoked@example.org>".getBytes(StandardCharsets.UTF_8);
        byte[] expired = "Expired <expired@example.org>".getBytes(StandardCharsets.UTF_8);
        byte[] bound = "Bound <bound@example.org>".getBytes(StandardCharsets.UTF_8);
        byte[] key = edited(alice, p -> {
            int at = subkeyIndex(p);
            p.addAll(
                    at,
                    List.of(
                            Splice.userId(unsigned),
                            Splice.userId(stranger),
                            Splice.packet(Splice.certification(
                                    mallory, pk, stranger, PGPSignature.POSITIVE_CERTIFICATION, LATER, sp -> {})),
                            Splice.userId(revoked),
                            Splice.packet(Splice.certification(
                                    alice, pk, revoked, PGPSignature.POSITIVE_CERTIFICATION, BcKeys.BIRTH, sp -> {})),
                            Splice.packet(Splice.certification(
                                    alice, pk, revoked, PGPSignature.CERTIFICATION_REVOCATION, LATER, sp -> {})),
                            Splice.userId(expired),
                            Splice.packet(Splice.certification(
                                    alice,
                                    pk,
                                    expired,
                                    PGPSignature.POSITIVE_CERTIFICATION,
                                    BcKeys.BIRTH,
                                    sp -> sp.setSignatureExpirationTime(true, 3600))),
                            Splice.userId(bound),
                            Splice.packet(Splice.certification(
                                    alice, pk, bound, PGPSignature.POSITIVE_CERTIFICATION, BcKeys.BIRTH, sp -> {}))));
        });
        Sandbox sb = sandbox("unsigned@example.org");
        Sandbox.Run imported = sb.run(key, "key", "import");
        assertEquals(0, imported.exit(), imported::combined);
        for (String gone : List.of("unsigned", "stranger", "revoked", "expired")) {
            Sandbox.Run show = sb.run(new byte[0], "key", "show", gone + "@example.org");
            assertEquals(64, show.exit(), () -> gone + ": " + show.combined());
            assertTrue(show.err().startsWith("cryptforward: no key for " + gone + "@example.org"), show::err);
            assertFalse(imported.out().contains(gone + "@example.org"), imported::out);
        }
        assertEquals(0, sb.run(new byte[0], "key", "show", "bound@example.org").exit());
        Sandbox.Run list = sb.run(new byte[0], "key", "list");
        assertTrue(list.out().contains("    Alice <alice@example.org>\n    Bound <bound@example.org>\n"), list::out);
        for (String gone : List.of("unsigned", "stranger", "revoked", "expired")) {
            assertFalse(list.out().contains(gone), list::out);
            assertFalse(sb.run(new byte[0], "key", "list", "--json").out().contains(gone + "@"));
        }
        onlyVerifiedSelfSignatures(sb.keyring.resolve(fpr(alice) + ".asc"), pk);

        // a rule naming the unsigned address gets no key: a notice, never a forward encrypted to alice
        Sandbox.Run run = deliver(sb);
        assertEquals(0, run.exit(), run::combined);
        assertTrue(
                notice().contains("key unsigned@example.org: no key for unsigned@example.org"),
                relay.received()[0]::toString);
    }

    @Test
    void aStrangersCertificationCannotMakeTheAdminsAddressAmbiguous() throws Exception {
        OpenPGPKey admin = BcKeys.key(4, "Admin <admin-key@example.org>");
        byte[] claim = "Admin <admin-key@example.org>".getBytes(StandardCharsets.UTF_8);
        // mallory's own key, with the admin's address certified by mallory's other key... by a stranger
        OpenPGPKey decoy = BcKeys.key(4, "Decoy <decoy@example.org>");
        byte[] decoyWithClaim = edited(
                decoy,
                p -> p.addAll(
                        subkeyIndex(p),
                        List.of(
                                Splice.userId(claim),
                                Splice.packet(Splice.certification(
                                        mallory,
                                        primary(decoy),
                                        claim,
                                        PGPSignature.POSITIVE_CERTIFICATION,
                                        LATER,
                                        sp -> {})))));
        Sandbox sb = sandbox("admin-key@example.org");
        assertEquals(0, sb.run(BcKeys.publicKey(admin), "key", "import").exit());
        Sandbox.Run second = sb.run(decoyWithClaim, "key", "import");
        assertEquals(0, second.exit(), second::combined);
        assertFalse(second.err().contains("now names 2 keys"), second::err);
        Sandbox.Run show = sb.run(new byte[0], "key", "show", "admin-key@example.org");
        assertEquals(0, show.exit(), show::combined);
        assertTrue(show.out().contains("fingerprint: " + fpr(admin)), show::out);
        assertEquals(0, deliver(sb).exit());
        assertEquals(1, decryptsWith(admin));
    }

    // 2. forged signatures

    @Test
    void forgedSignaturesInAnUpdateChangeNothing() throws Exception {
        PGPPublicKey pk = primary(alice);
        Iterator<PGPPublicKey> it = alice.toCertificate().getPGPPublicKeyRing().getPublicKeys();
        it.next();
        PGPPublicKey subkey = it.next();
        List<Packet> forgeries = List.of(
                Splice.damaged(Splice.packet(Splice.direct(
                        alice,
                        PGPSignature.KEY_REVOCATION,
                        LATER,
                        sp -> sp.setRevocationReason(true, RevocationReasonTags.KEY_COMPROMISED, "forged")))),
                Splice.damaged(Splice.packet(
                        Splice.direct(alice, PGPSignature.DIRECT_KEY, LATER, sp -> sp.setKeyExpirationTime(true, 60)))),
                Splice.damaged(Splice.packet(Splice.certification(
                        alice,
                        pk,
                        "Alice <alice@example.org>".getBytes(StandardCharsets.UTF_8),
                        PGPSignature.POSITIVE_CERTIFICATION,
                        LATER,
                        sp -> sp.setKeyExpirationTime(true, 60)))),
                Splice.damaged(Splice.packet(
                        Splice.binding(alice, subkey, LATER, sp -> sp.setKeyFlags(true, KeyFlags.SIGN_DATA)))),
                Splice.damaged(Splice.packet(Splice.subkeyRevocation(alice, subkey, LATER))));
        for (int i = 0; i < forgeries.size(); i++) {
            Packet forged = forgeries.get(i);
            int kind = i;
            Sandbox sb = sandbox("alice@example.org");
            assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
            // on the primary key, after the user ID's self-signature, or after the subkey's binding
            byte[] update = edited(
                    alice,
                    p -> p.add(kind < 2 ? 1 : kind == 2 ? Splice.indexOf(p, Splice.USER_ID, 0) + 1 : p.size(), forged));
            Sandbox.Run run = sb.run(update, "key", "import");
            assertEquals(0, run.exit(), run::combined);
            assertTrue(run.out().startsWith("unchanged " + fpr(alice)), () -> "forgery " + forged + ": " + run.out());
            assertTrue(run.out().contains("encryption:  yes"), run::out);
            // a new key that arrives with a forgery is imported as the owner made it
            Sandbox fresh = sandbox("alice@example.org");
            Sandbox.Run first = fresh.run(update, "key", "import");
            assertEquals(0, first.exit(), first::combined);
            assertTrue(first.out().contains("encryption:  yes"), first::out);
            onlyVerifiedSelfSignatures(fresh.keyring.resolve(fpr(alice) + ".asc"), pk);
            relay.reset();
            assertEquals(0, deliver(fresh).exit());
            assertEquals(1, decryptsWith(alice));
        }
    }

    // 3 and 4. key material

    private static final ASN1ObjectIdentifier CURVE25519 = new ASN1ObjectIdentifier("1.3.6.1.4.1.3029.1.5.1");
    private static final ASN1ObjectIdentifier P256 = new ASN1ObjectIdentifier("1.2.840.10045.3.1.7");

    private static BCPGKey cv25519(byte[] point) {
        return new ECDHPublicBCPGKey(
                CURVE25519, new BigInteger(1, point), HashAlgorithmTags.SHA256, SymmetricKeyAlgorithmTags.AES_128);
    }

    private static byte[] bytes(int first, int n, int fill) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) fill);
        b[0] = (byte) first;
        return b;
    }

    /** Bad subkeys by name, with a word their reason must contain. */
    private static List<Object[]> badMaterial() {
        BigInteger n = Splice.rsaModulus(2048, 16);
        byte[] offCurve = new byte[65];
        offCurve[0] = 4;
        Arrays.fill(offCurve, 1, 65, (byte) 0x11);
        return List.of(
                new Object[] {
                    "Cv25519 without the 0x40 prefix",
                    PublicKeyAlgorithmTags.ECDH,
                    cv25519(bytes(0x9A, 32, 0x21)),
                    "malformed Curve25519"
                },
                new Object[] {
                    "Cv25519 with a wrong prefix",
                    PublicKeyAlgorithmTags.ECDH,
                    cv25519(bytes(0x41, 33, 0x21)),
                    "malformed Curve25519"
                },
                new Object[] {
                    "Cv25519 of low order (zero)",
                    PublicKeyAlgorithmTags.ECDH,
                    cv25519(bytes(0x40, 33, 0)),
                    "cannot be encrypted to"
                },
                new Object[] {
                    "P-256 point off the curve",
                    PublicKeyAlgorithmTags.ECDH,
                    new ECDHPublicBCPGKey(
                            P256,
                            new BigInteger(1, offCurve),
                            HashAlgorithmTags.SHA256,
                            SymmetricKeyAlgorithmTags.AES_128),
                    "cannot be encrypted to"
                },
                new Object[] {
                    "RSA e = 1",
                    PublicKeyAlgorithmTags.RSA_GENERAL,
                    new RSAPublicBCPGKey(n, BigInteger.ONE),
                    "exponent 1"
                },
                new Object[] {
                    "RSA even e",
                    PublicKeyAlgorithmTags.RSA_GENERAL,
                    new RSAPublicBCPGKey(n, BigInteger.valueOf(65536)),
                    "even RSA public exponent"
                },
                new Object[] {
                    "RSA huge e",
                    PublicKeyAlgorithmTags.RSA_GENERAL,
                    new RSAPublicBCPGKey(n, BigInteger.ONE.shiftLeft(300).add(BigInteger.ONE)),
                    "exponent of 301 bits"
                },
                new Object[] {
                    "RSA even modulus",
                    PublicKeyAlgorithmTags.RSA_GENERAL,
                    new RSAPublicBCPGKey(n.shiftLeft(1), BigInteger.valueOf(65537)),
                    "modulus that is even"
                },
                new Object[] {
                    "RSA modulus with a small factor",
                    PublicKeyAlgorithmTags.RSA_GENERAL,
                    new RSAPublicBCPGKey(n.multiply(BigInteger.valueOf(7)), BigInteger.valueOf(65537)),
                    "small prime factor"
                },
                new Object[] {
                    "ElGamal of 8192 bits",
                    PublicKeyAlgorithmTags.ELGAMAL_ENCRYPT,
                    new org.bouncycastle.bcpg.ElGamalPublicBCPGKey(
                            BigInteger.ONE.shiftLeft(8191).add(BigInteger.valueOf(12345)),
                            BigInteger.TWO,
                            BigInteger.valueOf(12345)),
                    "ElGamal of 8192 bits"
                },
                new Object[] {
                    "RSA 32768 bits",
                    PublicKeyAlgorithmTags.RSA_GENERAL,
                    new RSAPublicBCPGKey(
                            BigInteger.ONE.shiftLeft(32767).add(BigInteger.valueOf(12345)), BigInteger.valueOf(65537)),
                    "32768 bits"
                });
    }

    @Test
    void badKeyMaterialIsSkippedBesideAGoodSubkeyAndRefusedAlone() throws Exception {
        for (Object[] bad : badMaterial()) {
            String what = (String) bad[0];
            PGPPublicKey sub = Splice.subkey((Integer) bad[1], (BCPGKey) bad[2], LATER);
            String subFpr = KeyIds.hex(sub.getFingerprint());
            Packet binding = Splice.packet(Splice.encryptionBinding(alice, sub, LATER));

            // beside the good subkey: imported, the bad one skipped with its reason, the forward to the good one only
            byte[] both = edited(alice, p -> p.addAll(List.of(Splice.subkeyPacket(sub), binding)));
            Sandbox sb = sandbox("alice@example.org");
            Sandbox.Run run = sb.run(both, "key", "import");
            assertEquals(0, run.exit(), () -> what + ": " + run.combined());
            assertTrue(run.out().contains("encryption:  yes"), run::out);
            assertTrue(
                    run.err().contains("warning: key " + fpr(alice) + ": its encryption subkey " + subFpr + " "),
                    () -> what + ": " + run.err());
            assertTrue(run.err().contains((String) bad[3]), () -> what + ": " + run.err());
            Sandbox.Run show = sb.run(new byte[0], "key", "show", "alice@example.org");
            assertTrue(show.out().lines().anyMatch(l -> l.contains(subFpr) && l.contains("not used: ")), show::out);
            relay.reset();
            Sandbox.Run sent = deliver(sb);
            assertEquals(0, sent.exit(), () -> what + ": " + sent.combined());
            assertEquals(1, decryptsWith(alice), what + ": one PKESK, to the good subkey only");

            // alone: refused at import, with the reason
            byte[] alone = edited(alice, p -> {
                int s = subkeyIndex(p);
                p.subList(s, p.size()).clear();
                p.addAll(List.of(Splice.subkeyPacket(sub), binding));
            });
            Sandbox sb2 = sandbox("alice@example.org");
            Sandbox.Run refused = sb2.run(alone, "key", "import");
            assertEquals(65, refused.exit(), () -> what + ": " + refused.combined());
            String reason = "its encryption subkey " + subFpr + " ";
            assertTrue(refused.err().contains(": it cannot be used for encryption: " + reason), refused::err);
            assertTrue(refused.err().contains((String) bad[3]), refused::err);

            // planted in the keyring behind import's back: deliver sends a notice naming the key (not a
            // relay failure), and check says the same
            Files.write(sb2.keyring.resolve(fpr(alice) + ".asc"), alone);
            relay.reset();
            Sandbox.Run noticed = deliver(sb2);
            assertEquals(0, noticed.exit(), () -> what + ": " + noticed.combined());
            String words = "key " + fpr(alice) + " (alice@example.org) cannot be used: " + reason;
            assertTrue(notice().contains(words), what);
            Sandbox.Run check = sb2.run(new byte[0], "check");
            assertTrue(
                    check.out().contains("error: key alice@example.org (" + fpr(alice) + ") cannot be used: " + reason),
                    check::out);
            String noticeReason = notice().replaceAll("\\s+", " ");
            String checkLine = check.out()
                    .lines()
                    .filter(l -> l.contains(reason))
                    .findFirst()
                    .orElseThrow();
            String checkReason = checkLine.substring(checkLine.indexOf(reason)).replaceFirst(" \\(rule [^)]*\\)$", "");
            assertTrue(noticeReason.contains(checkReason), () -> "same words: " + checkReason + " / " + noticeReason);
        }
    }

    // 5. bounds

    @Test
    void keysBeyondTheBoundsAreRefusedWithTheReason() throws Exception {
        PGPPublicKey pk = primary(alice);
        Iterator<PGPPublicKey> keys =
                alice.toCertificate().getPGPPublicKeyRing().getPublicKeys();
        keys.next();
        PGPPublicKey good = keys.next();
        byte[] manySubkeys = edited(alice, p -> {
            for (int i = 1; i <= KeyReader.MAX_SUBKEYS; i++) {
                PGPPublicKey copy = Splice.subkey(
                        good.getAlgorithm(),
                        good.getPublicKeyPacket().getKey(),
                        new Date(BcKeys.BIRTH.getTime() + i * 1000L));
                p.add(Splice.subkeyPacket(copy));
                p.add(Splice.packet(Splice.encryptionBinding(alice, copy, LATER)));
            }
        });
        byte[] manyUserIds = edited(alice, p -> {
            for (int i = 0; i < KeyReader.MAX_USER_IDS; i++) {
                byte[] uid = ("U" + i + " <u" + i + "@example.org>").getBytes(StandardCharsets.US_ASCII);
                p.add(subkeyIndex(p), Splice.userId(uid));
                p.add(
                        subkeyIndex(p),
                        Splice.packet(Splice.certification(
                                alice, pk, uid, PGPSignature.POSITIVE_CERTIFICATION, LATER, sp -> {})));
            }
        });
        Packet junk = Splice.damaged(Splice.packet(Splice.direct(alice, PGPSignature.DIRECT_KEY, LATER, sp -> {})));
        byte[] manyClaims = edited(alice, p -> {
            for (int i = 0; i <= KeyReader.MAX_CLAIMED_SELF_SIGNATURES; i++) {
                p.add(1, junk);
            }
        });
        for (Object[] c : List.of(
                new Object[] {manySubkeys, "more than " + KeyReader.MAX_SUBKEYS + " subkeys"},
                new Object[] {manyUserIds, "more than " + KeyReader.MAX_USER_IDS + " user IDs"},
                new Object[] {
                    manyClaims,
                    "more than " + KeyReader.MAX_CLAIMED_SELF_SIGNATURES + " signatures that claim to be its own"
                })) {
            Sandbox sb = sandbox("alice@example.org");
            Sandbox.Run run = sb.run((byte[]) c[0], "key", "import");
            assertEquals(65, run.exit(), run::combined);
            assertEquals(
                    "cryptforward: standard input: refusing key " + fpr(alice) + ": it has " + c[1]
                            + " (cryptforward's limit); nothing was stored\n",
                    run.err());
            assertFalse(Files.exists(sb.keyring.resolve(fpr(alice) + ".asc")));
        }

        // planted in the keyring behind import's back, two such keys: listed as refused, and a delivery
        // whose rule names one by address sends a notice instead of failing
        Sandbox planted = sandbox("alice@example.org");
        Files.write(planted.keyring.resolve(fpr(alice) + ".asc"), manySubkeys);
        OpenPGPKey other = BcKeys.key(4, "Other <other@example.org>");
        byte[] otherHuge = edited(other, p -> {
            for (int i = 0; i <= KeyReader.MAX_USER_IDS; i++) {
                byte[] uid = ("O" + i + " <alice@example.org>").getBytes(StandardCharsets.US_ASCII);
                p.add(subkeyIndex(p), Splice.userId(uid));
                p.add(
                        subkeyIndex(p),
                        Splice.packet(Splice.certification(
                                other, primary(other), uid, PGPSignature.POSITIVE_CERTIFICATION, LATER, sp -> {})));
            }
        });
        Files.write(planted.keyring.resolve(fpr(other) + ".asc"), otherHuge);
        Sandbox.Run list = planted.run(new byte[0], "key", "list");
        assertEquals(0, list.exit(), list::combined);
        assertTrue(
                list.err()
                        .contains("warning: keyring file " + planted.keyring.resolve(fpr(alice) + ".asc")
                                + ": refusing key " + fpr(alice) + ": it has more than " + KeyReader.MAX_SUBKEYS
                                + " subkeys"),
                list::err);
        assertTrue(
                list.err()
                        .contains("refusing key " + fpr(other) + ": it has more than " + KeyReader.MAX_USER_IDS
                                + " user IDs"),
                list::err);
        Sandbox.Run delivered = deliver(planted);
        assertEquals(0, delivered.exit(), delivered::combined);
        assertTrue(notice().contains("no key for alice@example.org"));
        relay.reset();

        // a flood of third-party certifications is dropped, not stored
        PGPSignature cert = Splice.certification(
                mallory,
                pk,
                "Alice <alice@example.org>".getBytes(StandardCharsets.UTF_8),
                PGPSignature.CASUAL_CERTIFICATION,
                LATER,
                sp -> {});
        byte[] flood = edited(alice, p -> {
            int uidSig = Splice.indexOf(p, Splice.USER_ID, 0) + 1;
            for (int i = 0; i < 30_000; i++) {
                p.add(uidSig, Splice.packet(cert));
            }
        });
        Sandbox sb = sandbox("alice@example.org");
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        Sandbox.Run run = sb.run(flood, "key", "import");
        assertEquals(0, run.exit(), run::combined);
        assertTrue(run.out().startsWith("unchanged"), run::out);
        assertTrue(Files.size(sb.keyring.resolve(fpr(alice) + ".asc")) < 4096);

        // more than 64 MB: refused as such, read as a stream (a valid key, then a 65 MB photo packet)
        byte[] head = Splice.binary(Splice.packets(BcKeys.publicKey(alice)));
        int photo = 65 << 20;
        byte[] huge = new byte[head.length + 6 + photo];
        System.arraycopy(head, 0, huge, 0, head.length);
        int o = head.length;
        huge[o] = (byte) (0xC0 | 17);
        huge[o + 1] = (byte) 255;
        huge[o + 2] = (byte) (photo >>> 24);
        huge[o + 3] = (byte) (photo >>> 16);
        huge[o + 4] = (byte) (photo >>> 8);
        huge[o + 5] = (byte) photo;
        Sandbox.Run big = sb.run(huge, "key", "import");
        assertEquals(65, big.exit(), big::combined);
        assertEquals("cryptforward: standard input is larger than 64 MB: not a public key\n", big.err());
    }

    @Test
    void aLookupByAddressReadsOnlyTheKeysTheIndexNames() throws Exception {
        OpenPGPKey bob = BcKeys.key(4, "Bob <bob@example.org>");
        Sandbox sb = sandbox("alice@example.org");
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        assertEquals(0, sb.run(BcKeys.publicKey(bob), "key", "import").exit());
        assertEquals(
                java.util.Optional.of(List.of(fpr(alice) + ".asc")),
                KeyringIndex.candidates(sb.keyring, "alice@example.org"));
        assertEquals(java.util.Optional.of(List.of()), KeyringIndex.candidates(sb.keyring, "nobody@example.org"));
        // a file the index does not describe (added by hand) makes it stale: then every file is read
        Files.copy(sb.keyring.resolve(fpr(bob) + ".asc"), sb.dir.resolve("bob.asc"));
        Files.delete(sb.keyring.resolve(fpr(bob) + ".asc"));
        Files.copy(sb.dir.resolve("bob.asc"), sb.keyring.resolve(fpr(bob) + ".asc"));
        assertEquals(java.util.Optional.empty(), KeyringIndex.candidates(sb.keyring, "alice@example.org"));
        assertEquals(0, sb.run(new byte[0], "key", "show", "bob@example.org").exit());
        // a tampered index only narrows the search: it cannot hide a key
        Files.writeString(
                sb.keyring.resolve(".index"),
                Files.readString(sb.keyring.resolve(".index")).replace("alice@example.org", "x@y"));
        assertEquals(0, sb.run(new byte[0], "key", "show", "alice@example.org").exit());
        // an import rebuilds it
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        assertEquals(
                java.util.Optional.of(List.of(fpr(bob) + ".asc")),
                KeyringIndex.candidates(sb.keyring, "bob@example.org"));
    }

    // 6 and 7. keyring files

    @Test
    void aKeyringFileMustHoldTheKeyItsNameSays() throws Exception {
        OpenPGPKey bob = BcKeys.key(4, "Bob <bob@example.org>");
        Sandbox sb = sandbox(fpr(bob));
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        assertEquals(0, sb.run(BcKeys.publicKey(bob), "key", "import").exit());
        Path bobs = sb.keyring.resolve(fpr(bob) + ".asc");
        Files.copy(sb.keyring.resolve(fpr(alice) + ".asc"), bobs, StandardCopyOption.REPLACE_EXISTING);
        Sandbox.Run show = sb.run(new byte[0], "key", "show", fpr(bob));
        assertEquals(64, show.exit(), show::combined);
        assertTrue(
                show.err()
                        .contains("keyring file " + bobs + " holds key " + fpr(alice) + ", not the key its name says"),
                show::err);
        assertEquals(0, deliver(sb).exit());
        assertTrue(notice().contains("not the key its name says"), "a notice, not a forward encrypted to alice");

        Files.delete(bobs);
        Files.createSymbolicLink(bobs, sb.keyring.resolve(fpr(alice) + ".asc"));
        Sandbox.Run link = sb.run(new byte[0], "key", "show", fpr(bob));
        assertEquals(64, link.exit(), link::combined);
        assertTrue(
                link.err().contains("keyring file " + bobs + " is a symbolic link, which cryptforward does not follow"),
                link::err);
    }

    @Test
    void specialFilesInTheKeyringHangNothing() throws Exception {
        Sandbox sb = sandbox("alice@example.org");
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        Path fifo = sb.keyring.resolve("1111111111111111111111111111111111111111.asc");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assertEquals(0, mk.waitFor());
        Path zero = sb.keyring.resolve("2222222222222222222222222222222222222222.asc");
        Files.createSymbolicLink(zero, Path.of("/dev/zero"));
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            Sandbox.Run list = sb.run(new byte[0], "key", "list");
            assertEquals(0, list.exit(), list::combined);
            assertTrue(list.out().contains(fpr(alice) + "  usable"), list::out);
            assertTrue(list.err().contains("keyring file " + fifo + " is not a regular file"), list::err);
            assertTrue(list.err().contains("keyring file " + zero + " is a symbolic link"), list::err);
            Sandbox.Run check = sb.run(new byte[0], "check");
            assertTrue(check.out().contains("error: keyring file " + fifo + " is not a regular file"), check::out);
            assertTrue(check.out().contains("key alice@example.org (" + fpr(alice) + ") is usable"), check::out);
            Sandbox.Run run = deliver(sb);
            assertEquals(0, run.exit(), run::combined);
        });
        assertEquals(1, decryptsWith(alice));
    }

    // 8 (issue 11, defect 5). the lock file

    @Test
    void aSymbolicLinkAtTheLockFileIsNotFollowed() throws Exception {
        Sandbox sb = sandbox("alice@example.org");
        Path target = sb.dir.resolve("victim");
        Files.writeString(target, "precious\n");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-------"));
        Path lock = sb.keyring.resolve(".lock");
        Files.createSymbolicLink(lock, target);
        Sandbox.Run run = sb.run(BcKeys.publicKey(alice), "key", "import");
        assertEquals(75, run.exit(), run::combined);
        assertTrue(run.err().contains(lock + " is a symbolic link, which cryptforward does not follow"), run::err);
        assertEquals(
                "rw-------",
                PosixFilePermissions.toString(Files.getPosixFilePermissions(target)),
                "the link's target is untouched");
        assertEquals("precious\n", Files.readString(target));
        assertFalse(Files.exists(sb.keyring.resolve(fpr(alice) + ".asc")));

        Files.delete(lock);
        Path dangling = sb.dir.resolve("created-through-the-link");
        Files.createSymbolicLink(lock, dangling);
        assertEquals(75, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        assertFalse(Files.exists(dangling), "nothing is created through a dangling link");
        assertEquals(75, sb.run(new byte[0], "key", "remove", TestKeysFpr.ED).exit());
    }

    @Test
    void aHardLinkAtTheLockFileIsRefusedAndTheKeyringOwnersLockIsShared() throws Exception {
        Sandbox sb = sandbox("alice@example.org");
        Path lock = sb.keyring.resolve(".lock");
        Path target = sb.dir.resolve("victim");
        Files.writeString(target, "precious\n");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
        Files.deleteIfExists(lock);
        Files.createLink(lock, target);
        Sandbox.Run run = sb.run(BcKeys.publicKey(alice), "key", "import");
        assertEquals(75, run.exit(), run::combined);
        assertTrue(run.err().contains(lock + " has other names (a hard link)"), run::err);
        assertEquals(
                "rw-r--r--",
                PosixFilePermissions.toString(Files.getPosixFilePermissions(target)),
                "the other name's mode is untouched");
        Files.delete(lock);

        org.junit.jupiter.api.Assumptions.assumeTrue(
                "root".equals(System.getProperty("user.name")), "changing owners needs root");
        java.nio.file.attribute.UserPrincipalLookupService users =
                sb.keyring.getFileSystem().getUserPrincipalLookupService();
        // the keyring belongs to the service user, whose lock root then shares (key import run as root)
        Files.setOwner(sb.keyring, users.lookupPrincipalByName("nobody"));
        Files.writeString(lock, "");
        Files.setOwner(lock, users.lookupPrincipalByName("nobody"));
        assertEquals(0, sb.run(BcKeys.publicKey(alice), "key", "import").exit());
        assertTrue(Files.exists(sb.keyring.resolve(fpr(alice) + ".asc")));
        // a lock of a third user's is not
        Files.setOwner(lock, users.lookupPrincipalByName("daemon"));
        Sandbox.Run third = sb.run(new byte[0], "key", "remove", fpr(alice));
        assertEquals(75, third.exit(), third::combined);
        assertTrue(third.err().contains("neither this user"), third::err);
    }

    /** A fingerprint of a key every sandbox holds. */
    private static final class TestKeysFpr {
        static final String ED = org.cryptforward.support.TestKeys.ED.fingerprint;
    }

    // 9. messages

    @Test
    void anUnboundOrDamagedOnlySubkeyIsNotCalledSignOnly() {
        for (boolean damaged : new boolean[] {false, true}) {
            byte[] key = edited(alice, p -> {
                int binding = p.size() - 1;
                if (damaged) {
                    p.set(binding, Splice.damaged(p.get(binding)));
                } else {
                    p.remove(binding);
                }
            });
            Iterator<PGPPublicKey> it =
                    alice.toCertificate().getPGPPublicKeyRing().getPublicKeys();
            it.next();
            String sub = KeyIds.hex(it.next().getFingerprint());
            Sandbox.Run run = sandbox().run(key, "key", "import");
            assertEquals(65, run.exit(), run::combined);
            assertEquals(
                    "cryptforward: refusing key " + fpr(alice)
                            + " (Alice <alice@example.org>): it cannot be used for encryption: its subkey "
                            + sub
                            + " is not bound to it by a valid signature (unsigned, forged or damaged), so it has no encryption key;"
                            + " nothing was stored\n",
                    run.err());
        }
    }

    @Test
    void aSecretSubkeyPacketIsNamedAsASecretKey() {
        List<Packet> secret = Splice.packets(BcKeys.secretKey(alice));
        Packet secretSub = secret.get(Splice.indexOf(secret, Splice.SECRET_SUBKEY, 0));
        byte[] key = edited(alice, p -> p.add(p.size(), secretSub));
        Sandbox sb = sandbox();
        Sandbox.Run run = sb.run(key, "key", "import");
        assertEquals(65, run.exit(), run::combined);
        assertTrue(
                run.err()
                        .startsWith(
                                "cryptforward: standard input holds a secret key (" + fpr(alice) + "); refusing it"),
                run::err);
        assertFalse(run.err().contains("@"), "no object identity in the message: " + run.err());
    }

    @Test
    void jsonEscapesControlsAndBidiAndNonUtf8UserIdsAreListed() throws Exception {
        OpenPGPKey odd = BcKeys.key(4, "Odd\u007f\u0085\u202eevil\u2066 <odd@example.org>");
        byte[] latin1 = "Caf\u00e9 <cafe@example.org>".getBytes(StandardCharsets.ISO_8859_1);
        byte[] key = edited(
                odd,
                p -> p.addAll(
                        subkeyIndex(p),
                        List.of(
                                Splice.userId(latin1),
                                Splice.packet(Splice.certification(
                                        odd,
                                        primary(odd),
                                        latin1,
                                        PGPSignature.POSITIVE_CERTIFICATION,
                                        LATER,
                                        sp -> {})))));
        Sandbox sb = sandbox();
        assertEquals(0, sb.run(key, "key", "import").exit());
        for (String[] cmd : List.of(
                new String[] {"key", "list", "--json"}, new String[] {"key", "show", "--json", "odd@example.org"})) {
            Sandbox.Run json = sb.run(new byte[0], cmd);
            assertEquals(0, json.exit(), json::combined);
            assertTrue(json.out().contains("Odd\\u007f\\u0085\\u202eevil\\u2066 <odd@example.org>"), json::out);
            for (char c : new char[] {'\u007f', '\u0085', '\u202e', '\u2066'}) {
                assertFalse(json.out().indexOf(c) >= 0, () -> "raw U+" + Integer.toHexString(c) + " in " + json.out());
            }
            assertTrue(json.out().contains("Caf\\\\xE9 <cafe@example.org>"), json::out);
        }
        Sandbox.Run list = sb.run(new byte[0], "key", "list");
        assertTrue(list.out().contains("    Odd???evil? <odd@example.org>"), list::out);
        assertTrue(list.out().contains("    Caf\\xE9 <cafe@example.org>"), list::out);
        assertEquals(0, sb.run(new byte[0], "key", "show", "cafe@example.org").exit());
    }
}
