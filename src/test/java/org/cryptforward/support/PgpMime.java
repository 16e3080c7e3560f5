package org.cryptforward.support;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.BodyPart;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.internet.ContentType;
import jakarta.mail.internet.MimeMessage;
import jakarta.mail.internet.MimeMultipart;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

/** Checks the RFC 3156 structure of a relayed message and takes the armored OpenPGP message out. */
public final class PgpMime {
    private PgpMime() {}

    public static MimeMessage parse(byte[] raw) {
        try {
            return new MimeMessage(Session.getInstance(new Properties()), new ByteArrayInputStream(raw));
        } catch (MessagingException e) {
            throw new AssertionError(e);
        }
    }

    public static byte[] bytes(MimeMessage m) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            m.writeTo(out);
            return out.toByteArray();
        } catch (IOException | MessagingException e) {
            throw new AssertionError(e);
        }
    }

    /** Asserts multipart/encrypted with the version part and returns the armored second part. */
    public static byte[] encryptedPart(MimeMessage m) {
        try {
            ContentType ct = new ContentType(m.getContentType());
            assertEquals("multipart/encrypted", ct.getBaseType().toLowerCase());
            assertEquals("application/pgp-encrypted", ct.getParameter("protocol"));
            MimeMultipart mp = new MimeMultipart(m.getDataHandler().getDataSource());
            assertEquals(2, mp.getCount(), "PGP/MIME has exactly two parts");
            BodyPart version = mp.getBodyPart(0);
            assertTrue(version.isMimeType("application/pgp-encrypted"), "first part is application/pgp-encrypted");
            String v = new String(raw(version), StandardCharsets.US_ASCII).strip();
            assertEquals("Version: 1", v);
            BodyPart data = mp.getBodyPart(1);
            assertTrue(data.isMimeType("application/octet-stream"), "second part is application/octet-stream");
            byte[] armor = raw(data);
            String a = new String(armor, StandardCharsets.US_ASCII);
            assertTrue(a.strip().startsWith("-----BEGIN PGP MESSAGE-----"), "armored message");
            assertTrue(a.strip().endsWith("-----END PGP MESSAGE-----"), "armor complete");
            return armor;
        } catch (MessagingException | IOException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * The OpenPGP packets of the first armored PGP message in {@code text} (armor and its
     * headers undone, checksum checked by Bouncy Castle), for comparing ciphertexts.
     */
    public static byte[] packets(byte[] text) {
        String t = new String(text, StandardCharsets.ISO_8859_1);
        int begin = t.indexOf("-----BEGIN PGP MESSAGE-----");
        int end = t.indexOf("-----END PGP MESSAGE-----", begin);
        assertTrue(begin >= 0 && end > begin, "an armored PGP message");
        byte[] armor = t.substring(begin, end + "-----END PGP MESSAGE-----".length())
                .replace("\r\n", "\n")
                .getBytes(StandardCharsets.ISO_8859_1);
        try (InputStream in =
                org.bouncycastle.bcpg.ArmoredInputStream.builder().build(new ByteArrayInputStream(armor))) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static byte[] raw(BodyPart p) throws MessagingException, IOException {
        try (InputStream in = p.getInputStream()) {
            return in.readAllBytes();
        }
    }
}
