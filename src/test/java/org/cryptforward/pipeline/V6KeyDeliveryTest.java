package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.bouncycastle.openpgp.PGPEncryptedData;
import org.bouncycastle.openpgp.PGPEncryptedDataList;
import org.bouncycastle.openpgp.PGPObjectFactory;
import org.bouncycastle.openpgp.PGPPublicKeyEncryptedData;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.api.EncryptedDataPacketType;
import org.bouncycastle.openpgp.api.OpenPGPCertificate;
import org.bouncycastle.openpgp.api.OpenPGPKey;
import org.bouncycastle.openpgp.api.OpenPGPKeyReader;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.cryptforward.keys.KeyIds;
import org.cryptforward.support.BcKeys;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * v6 (RFC 9580) keys, made with Bouncy Castle because Debian 12's gpg, sq and rnp cannot:
 * imported, listed, shown, exported (armor without a CRC line, as RFC 9580 section 6.1 asks);
 * a forward to a v6 key alone is SEIPD v2 (OCB) with a v6 PKESK, and decrypts to the original;
 * a forward to a v4 and a v6 key is SEIPD v1 with a v3 PKESK for each, and both keys decrypt it.
 */
class V6KeyDeliveryTest {
    private static final byte[] MESSAGE = ("From: Cron Daemon <root@host.example>\n"
                    + "Subject: Cron <root@host> v6 report\n"
                    + "Message-ID: <v6-report@host.example>\n"
                    + "\n"
                    + "the body of the v6 report\n")
            .getBytes(StandardCharsets.US_ASCII);

    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    private static OpenPGPKey v6;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        v6 = BcKeys.key(6, "Six <six@example.org>");
    }

    @Test
    void v6KeyIsImportedListedShownAndExportedWithoutCrc() throws Exception {
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true, List.of("six@example.org"));
        String fpr = KeyIds.fingerprint(v6.toCertificate());
        assertEquals(64, fpr.length());

        Sandbox.Run imported = sb.run(BcKeys.publicKey(v6), "key", "import");
        assertEquals(0, imported.exit(), imported::combined);
        assertTrue(imported.out().contains("fingerprint: " + fpr + " (v6)"), imported::out);
        assertTrue(imported.out().contains("Ed25519 [certify], X25519 [encrypt]"), imported::out);
        assertTrue(imported.out().contains("encryption:  yes"), imported::out);

        Sandbox.Run json = sb.run(new byte[0], "key", "list", "--json");
        assertTrue(
                json.out().replaceAll("\\s+", " ").contains("\"fingerprint\": \"" + fpr + "\", \"version\": 6"),
                json::out);
        Sandbox.Run show = sb.run(new byte[0], "key", "show", fpr.substring(40));
        assertEquals(0, show.exit(), show::combined);
        assertTrue(show.out().contains("fingerprint: " + fpr), show::out);

        Sandbox.Run export = sb.run(new byte[0], "key", "export", "six@example.org");
        assertEquals(0, export.exit(), export::combined);
        assertFalse(export.out().lines().anyMatch(l -> l.matches("=[A-Za-z0-9+/]{4}")), "no CRC line around a v6 key");
        OpenPGPCertificate back = new OpenPGPKeyReader().parseCertificate(export.out());
        assertArrayEquals(v6.toCertificate().getEncoded(), back.getEncoded(), "the export is the certificate");
    }

    @Test
    void forwardToAV6KeyIsSeipdV2AndDecrypts() throws Exception {
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true, List.of("six@example.org"));
        assertEquals(0, sb.run(BcKeys.publicKey(v6), "key", "import").exit());
        relay.reset();

        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root@cf.test");
        assertEquals(0, run.exit(), run::combined);
        byte[] armor = PgpMime.encryptedPart(relay.received()[0]);
        assertFalse(
                new String(armor, StandardCharsets.US_ASCII).lines().anyMatch(l -> l.matches("=[A-Za-z0-9+/]{4}")),
                "no CRC line around a v2 SEIPD message (RFC 9580, section 6.1)");
        assertEquals(List.of(6), pkeskVersions(armor));
        BcKeys.Decrypted d = BcKeys.decrypt(v6, armor);
        assertEquals(EncryptedDataPacketType.SEIPDv2, d.mechanism().getMode());
        assertTrue(
                Messages.isOriginalWithMark(MESSAGE, d.plaintext()),
                () -> new String(d.plaintext(), StandardCharsets.UTF_8));
    }

    @Test
    void forwardToAV4AndAV6KeyIsSeipdV1AndBothDecrypt() throws Exception {
        Sandbox sb = new Sandbox(tmp, relay.port(), "", true, List.of("six@example.org", TestKeys.ED.email));
        assertEquals(0, sb.run(BcKeys.publicKey(v6), "key", "import").exit());
        relay.reset();

        Sandbox.Run run = sb.deliver(MESSAGE, "--recipient", "root@cf.test");
        assertEquals(0, run.exit(), run::combined);
        byte[] armor = PgpMime.encryptedPart(relay.received()[0]);
        assertTrue(
                new String(armor, StandardCharsets.US_ASCII).lines().anyMatch(l -> l.matches("=[A-Za-z0-9+/]{4}")),
                "CRC line, for GnuPG 2.2");
        assertEquals(List.of(3, 3), pkeskVersions(armor), "one v3 PKESK per key");
        BcKeys.Decrypted d = BcKeys.decrypt(v6, armor);
        assertEquals(EncryptedDataPacketType.SEIPDv1, d.mechanism().getMode());
        assertTrue(Messages.isOriginalWithMark(MESSAGE, d.plaintext()));
        assertTrue(Messages.isOriginalWithMark(MESSAGE, TestKeys.ED.decrypt(armor)));
    }

    /** The versions of the PKESK packets of a message, in order. */
    static List<Integer> pkeskVersions(byte[] armored) throws Exception {
        PGPObjectFactory f = new PGPObjectFactory(
                PGPUtil.getDecoderStream(new ByteArrayInputStream(armored)), new BcKeyFingerprintCalculator());
        Object o = f.nextObject();
        while (o != null && !(o instanceof PGPEncryptedDataList)) {
            o = f.nextObject();
        }
        List<Integer> out = new ArrayList<>();
        for (Iterator<PGPEncryptedData> it = ((PGPEncryptedDataList) o).getEncryptedDataObjects(); it.hasNext(); ) {
            if (it.next() instanceof PGPPublicKeyEncryptedData pk) {
                out.add(pk.getVersion());
            }
        }
        return out;
    }
}
