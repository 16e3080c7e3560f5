package org.cryptforward.rules;

import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1OctetStringParser;
import org.bouncycastle.asn1.ASN1SequenceParser;
import org.bouncycastle.asn1.ASN1SetParser;
import org.bouncycastle.asn1.ASN1StreamParser;
import org.bouncycastle.asn1.BERTags;
import org.bouncycastle.asn1.cms.AuthEnvelopedDataParser;
import org.bouncycastle.asn1.cms.CMSObjectIdentifiers;
import org.bouncycastle.asn1.cms.ContentInfoParser;
import org.bouncycastle.asn1.cms.EncryptedContentInfoParser;
import org.bouncycastle.asn1.cms.EnvelopedDataParser;
import org.bouncycastle.asn1.cms.RecipientInfo;
import org.bouncycastle.bcpg.ArmoredInputStream;
import org.bouncycastle.bcpg.BCPGInputStream;
import org.bouncycastle.bcpg.InputStreamPacket;
import org.bouncycastle.bcpg.PacketTags;
import org.cryptforward.core.Limits;
import org.cryptforward.message.ForwardComposer;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.MimeOutline;
import org.cryptforward.message.MimeOutline.Part;

/**
 * Recognises mail that is already encrypted, so that it is forwarded as it is and never
 * encrypted a second time — but only when what would leave is verifiably ciphertext. The labels
 * (a Content-Type, an armor line, an smime-type) only say where to look; what decides is the
 * content:
 *
 * <ul>
 *   <li>OpenPGP: the body of the carrying entity is one ASCII-armored (or binary) OpenPGP message
 *       whose packets, read by Bouncy Castle's packet parser, are optional marker packets, one or
 *       more session-key packets (PKESK, SKESK), then one encrypted-data packet (SEIPD, SED or
 *       AEAD), read to its end, and nothing after it; around the armor nothing but white space.
 *   <li>S/MIME: the body of an {@code application/pkcs7-mime} entity is one CMS ContentInfo that
 *       parses, to its end and with nothing after it, as EnvelopedData or AuthEnvelopedData
 *       (signed-only S/MIME is encrypted like anything else).
 * </ul>
 *
 * The carrying entity may be: the whole body (inline PGP in {@code text/plain}, S/MIME); the
 * data part of {@code multipart/encrypted} (PGP/MIME, RFC 3156); or, as Exchange and Google
 * Workspace mangle PGP/MIME, inside a {@code multipart/mixed} whose other parts are empty text
 * parts. Anything else in such a message (a preamble, an epilogue, the empty parts, every MIME
 * field and armor header) is not forwarded: {@link ForwardComposer#passThrough} writes a fresh
 * message around the verified ciphertext alone. Nested messages (message/rfc822) are not looked
 * into.
 */
public final class EncryptedInput {
    static final String BEGIN = "-----BEGIN PGP MESSAGE-----";
    static final String END = "-----END PGP MESSAGE-----";

    /** How many bytes of each part the outline keeps: enough for the empty and version parts. */
    static final int SAMPLE = Limits.DEFAULT.encryptedSampleBytes();
    /** How deep the MIME tree is looked into. */
    static final int DEPTH = Limits.DEFAULT.mimeDepth();
    /**
     * A multipart/mixed message is parsed for the mangled PGP/MIME forms only up to this size, and
     * S/MIME is examined only up to it: a larger one is encrypted again rather than read twice
     * more (it stays unreadable to no one).
     */
    static final long MIXED_LIMIT = Limits.DEFAULT.encryptedMixedBytes();
    /** The most a session-key or marker packet may take; a bigger one is not a real one. */
    static final int MAX_KEY_PACKET = Limits.DEFAULT.keyPacketBytes();
    /** The longest line of an armor (headers included) accepted. */
    static final int MAX_ARMOR_LINE = Limits.DEFAULT.armorLineBytes();

    /** Verified ciphertext: how it is wrapped on the way out, what it was, and where it is. */
    public record Ciphertext(
            ForwardComposer.Wrapping wrapping, String description, List<Integer> path, boolean armored) {}

    private EncryptedInput() {}

    /**
     * Detects verified ciphertext. The header is the one {@link HeaderSection} found; below it,
     * mime4j parses only the body, and only as deep as needed. Anything that cannot be read or
     * verified is not ciphertext.
     */
    public static Optional<Ciphertext> detect(HeaderSection header) {
        try {
            return find(header);
        } catch (IOException | RuntimeException e) {
            // a structure that cannot be parsed is not a recognised encrypted message: it is
            // encrypted like any other (at worst twice, never sent in the clear)
            return Optional.empty();
        }
    }

    private static Optional<Ciphertext> find(HeaderSection header) throws IOException {
        if (!header.hasSeparator()) {
            return Optional.empty();
        }
        HeaderSection.MediaType ct = header.contentType();
        InputMessage m = header.message();
        String type = ct.type();
        if (type.equals("text/plain")) {
            return verify(header, new Candidate(ForwardComposer.Wrapping.INLINE, "inline PGP", List.of(), false));
        }
        if (isSmime(type)) {
            return m.length() <= MIXED_LIMIT
                    ? verify(header, new Candidate(ForwardComposer.Wrapping.SMIME_ENVELOPED, "S/MIME", List.of(), true))
                    : Optional.empty();
        }
        String boundary = ct.param("boundary");
        if (boundary == null
                || boundary.isEmpty()
                || !(type.equals("multipart/encrypted") || type.equals("multipart/mixed"))) {
            return Optional.empty();
        }
        if (type.equals("multipart/mixed") && m.length() > MIXED_LIMIT) {
            return Optional.empty();
        }
        Part root;
        try (InputStream body = m.open(header.bodyStart(), m.length())) {
            root = MimeOutline.parse(body, headless(type, boundary), DEPTH, SAMPLE);
        }
        Optional<Candidate> c = type.equals("multipart/encrypted") ? pgpMime(root, "PGP/MIME") : mangled(root);
        return c.isPresent() ? verify(header, c.get()) : Optional.empty();
    }

    /** Where the ciphertext would be, before it is verified. */
    private record Candidate(
            ForwardComposer.Wrapping wrapping, String description, List<Integer> path, boolean smime) {}

    private static String headless(String type, String boundary) {
        return type + "; boundary=\"" + boundary.replace("\"", "").replace("\\", "") + "\"";
    }

    private static boolean isSmime(String type) {
        return type.equals("application/pkcs7-mime") || type.equals("application/x-pkcs7-mime");
    }

    /** RFC 3156: exactly the version part and the data part. */
    private static Optional<Candidate> pgpMime(Part p, String description) {
        List<Part> kids = p.children();
        if (kids.size() == 2
                && kids.get(0).is("application/pgp-encrypted")
                && !kids.get(0).truncated()
                && kids.get(1).is("application/octet-stream")) {
            return Optional.of(new Candidate(
                    ForwardComposer.Wrapping.PGP_MIME, description, kids.get(1).path(), false));
        }
        return Optional.empty();
    }

    /** PGP/MIME as Exchange (the two parts flattened) or Google (nested) leave it, beside empty text parts. */
    private static Optional<Candidate> mangled(Part root) {
        String description = "PGP/MIME (mangled by the sender's mail system)";
        Part version = null;
        Part data = null;
        Part entity = null;
        int others = 0;
        for (Part c : root.children()) {
            if (isEmptyText(c)) {
                continue;
            }
            if (c.is("application/pgp-encrypted")
                    && !c.truncated()
                    && new String(c.sample(), StandardCharsets.ISO_8859_1)
                            .strip()
                            .equalsIgnoreCase("Version: 1")) {
                version = c;
            } else if (c.is("application/octet-stream") && data == null) {
                data = c;
            } else if ((c.is("multipart/encrypted") || isSmime(c.type())) && entity == null) {
                entity = c;
            } else {
                others++; // anything else may be plaintext
            }
        }
        if (others > 0) {
            return Optional.empty();
        }
        if (version != null && data != null && entity == null) {
            return Optional.of(new Candidate(ForwardComposer.Wrapping.PGP_MIME, description, data.path(), false));
        }
        if (entity != null && version == null && data == null) {
            if (isSmime(entity.type())) {
                return Optional.of(new Candidate(
                        ForwardComposer.Wrapping.SMIME_ENVELOPED,
                        "S/MIME (inside multipart/mixed)",
                        entity.path(),
                        true));
            }
            return pgpMime(entity, description);
        }
        return Optional.empty();
    }

    private static boolean isEmptyText(Part p) {
        if (!p.is("text/plain") || p.truncated() || p.isMultipart()) {
            return false;
        }
        for (byte b : p.sample()) {
            if (Character.isLetterOrDigit(b & 0xff) || (b & 0x80) != 0) {
                return false;
            }
        }
        return true;
    }

    private static Optional<Ciphertext> verify(HeaderSection header, Candidate c) throws IOException {
        if (c.smime()) {
            try (InputStream in = decoded(header, c.path())) {
                ForwardComposer.Wrapping w = verifyCms(in);
                String description = c.description()
                        + (w == ForwardComposer.Wrapping.SMIME_AUTH_ENVELOPED ? ", authEnveloped-data" : "");
                return Optional.of(new Ciphertext(w, description, c.path(), false));
            }
        }
        boolean armored;
        try (PushbackInputStream in = new PushbackInputStream(decoded(header, c.path()), 1)) {
            int first = skipWhiteSpace(in);
            if (first < 0) {
                return Optional.empty();
            }
            in.unread(first);
            armored = first == '-';
            if (armored) {
                ArmorText text = new ArmorText(in);
                verifyPackets(armor(text));
                text.drain();
            } else if (c.wrapping() == ForwardComposer.Wrapping.PGP_MIME) {
                verifyPackets(in); // binary OpenPGP in the data part
            } else {
                return Optional.empty(); // inline PGP is armored
            }
        }
        return Optional.of(new Ciphertext(c.wrapping(), c.description(), c.path(), armored));
    }

    /**
     * The verified ciphertext as binary: the OpenPGP packets (armor undone) or the CMS DER —
     * decoded again, the same way, from the same bytes that were verified.
     */
    public static InputStream open(HeaderSection header, Ciphertext c) throws IOException {
        InputStream in = decoded(header, c.path());
        if (!c.armored()) {
            return in;
        }
        PushbackInputStream p = new PushbackInputStream(in, 1);
        int first = skipWhiteSpace(p);
        if (first >= 0) {
            p.unread(first);
        }
        return armor(new ArmorText(p));
    }

    /** The decoded body of the entity at {@code path} (the message body itself for the root). */
    private static InputStream decoded(HeaderSection header, List<Integer> path) throws IOException {
        if (path.isEmpty()) {
            return header.decodedBody();
        }
        InputMessage m = header.message();
        HeaderSection.MediaType ct = header.contentType();
        return MimeOutline.openBody(
                m.open(header.bodyStart(), m.length()), headless(ct.type(), ct.param("boundary")), DEPTH, path);
    }

    private static ArmoredInputStream armor(InputStream text) throws IOException {
        return ArmoredInputStream.builder().setDetectMissingCRC(false).build(text);
    }

    private static int skipWhiteSpace(InputStream in) throws IOException {
        int b;
        do {
            b = in.read();
        } while (b == ' ' || b == '\t' || b == '\r' || b == '\n');
        return b;
    }

    /**
     * OpenPGP packets of an encrypted message: [marker] (PKESK|SKESK)+ (SEIPD|SED|AEAD), the
     * encrypted data read to its end, then the end of the stream.
     */
    static void verifyPackets(InputStream binary) throws IOException {
        Capped capped = new Capped(binary);
        BCPGInputStream p = new BCPGInputStream(capped);
        int keys = 0;
        boolean data = false;
        boolean marker = false;
        while (true) {
            int tag = p.nextPacketTag();
            if (tag < 0) {
                break;
            }
            if (data) {
                throw new IOException("OpenPGP: a packet after the encrypted data");
            }
            switch (tag) {
                case PacketTags.MARKER -> {
                    if (keys > 0 || marker) {
                        throw new IOException("OpenPGP: a marker packet out of place");
                    }
                    capped.arm(MAX_KEY_PACKET);
                    p.readPacket();
                    marker = true;
                }
                case PacketTags.PUBLIC_KEY_ENC_SESSION, PacketTags.SYMMETRIC_KEY_ENC_SESSION -> {
                    capped.arm(MAX_KEY_PACKET);
                    p.readPacket();
                    keys++;
                }
                case PacketTags.SYM_ENC_INTEGRITY_PRO, PacketTags.SYMMETRIC_KEY_ENC, PacketTags.AEAD_ENC_DATA -> {
                    if (keys == 0) {
                        throw new IOException("OpenPGP: encrypted data without a session key packet");
                    }
                    capped.arm(MAX_KEY_PACKET);
                    InputStreamPacket packet = (InputStreamPacket) p.readPacket();
                    capped.disarm();
                    try (InputStream content = packet.getInputStream()) {
                        content.transferTo(OutputStreamSink.INSTANCE);
                    }
                    data = true;
                }
                default -> throw new IOException("OpenPGP: packet type " + tag + " in an encrypted message");
            }
            capped.disarm();
        }
        if (!data) {
            throw new IOException("OpenPGP: no encrypted data");
        }
    }

    /**
     * One CMS ContentInfo of EnvelopedData or AuthEnvelopedData, parsed by Bouncy Castle's
     * streaming parsers to its end, and nothing after it.
     */
    static ForwardComposer.Wrapping verifyCms(InputStream der) throws IOException {
        ASN1StreamParser sp = new ASN1StreamParser(der, (int) MIXED_LIMIT);
        if (!(sp.readObject() instanceof ASN1SequenceParser seq)) {
            throw new IOException("CMS: not a ContentInfo");
        }
        ContentInfoParser ci = new ContentInfoParser(seq);
        ASN1ObjectIdentifier type = ci.getContentType();
        ForwardComposer.Wrapping wrapping;
        if (CMSObjectIdentifiers.envelopedData.equals(type)) {
            EnvelopedDataParser ed = new EnvelopedDataParser((ASN1SequenceParser) ci.getContent(BERTags.SEQUENCE));
            ed.getVersion();
            ed.getOriginatorInfo();
            recipients(ed.getRecipientInfos());
            content(ed.getEncryptedContentInfo(), true);
            all(ed.getUnprotectedAttrs());
            wrapping = ForwardComposer.Wrapping.SMIME_ENVELOPED;
        } else if (CMSObjectIdentifiers.authEnvelopedData.equals(type)) {
            AuthEnvelopedDataParser ad =
                    new AuthEnvelopedDataParser((ASN1SequenceParser) ci.getContent(BERTags.SEQUENCE));
            ad.getVersion();
            ad.getOriginatorInfo();
            recipients(ad.getRecipientInfos());
            content(ad.getAuthEncryptedContentInfo(), false);
            all(ad.getAuthAttrs());
            if (ad.getMac() == null) {
                throw new IOException("CMS: no MAC");
            }
            all(ad.getUnauthAttrs());
            wrapping = ForwardComposer.Wrapping.SMIME_AUTH_ENVELOPED;
        } else {
            throw new IOException("CMS: content type " + type + " is not enveloped data");
        }
        if (seq.readObject() != null || sp.readObject() != null || der.read() >= 0) {
            throw new IOException("CMS: data after the ContentInfo");
        }
        return wrapping;
    }

    private static void recipients(ASN1SetParser set) throws IOException {
        if (set == null) {
            throw new IOException("CMS: no recipients");
        }
        int n = 0;
        for (ASN1Encodable e = set.readObject(); e != null; e = set.readObject()) {
            RecipientInfo.getInstance(e.toASN1Primitive());
            n++;
        }
        if (n == 0) {
            throw new IOException("CMS: no recipients");
        }
    }

    private static void content(EncryptedContentInfoParser eci, boolean optional) throws IOException {
        if (eci == null || eci.getContentType() == null || eci.getContentEncryptionAlgorithm() == null) {
            throw new IOException("CMS: no encrypted content info");
        }
        ASN1Encodable c = eci.getEncryptedContent(BERTags.OCTET_STRING);
        if (c == null) {
            if (!optional) {
                throw new IOException("CMS: no encrypted content");
            }
            return;
        }
        if (!(c instanceof ASN1OctetStringParser octets)) {
            throw new IOException("CMS: encrypted content is not an octet string");
        }
        try (InputStream in = octets.getOctetStream()) {
            in.transferTo(OutputStreamSink.INSTANCE);
        }
    }

    private static void all(ASN1SetParser set) throws IOException {
        if (set != null) {
            for (ASN1Encodable e = set.readObject(); e != null; e = set.readObject()) {
                e.toASN1Primitive();
            }
        }
    }

    /** Discards what is written to it. */
    private static final class OutputStreamSink extends java.io.OutputStream {
        static final OutputStreamSink INSTANCE = new OutputStreamSink();

        @Override
        public void write(int b) {}

        @Override
        public void write(byte[] b, int off, int len) {}
    }

    /** Fails a read that goes past a budget while one is armed: a key packet is small. */
    private static final class Capped extends FilterInputStream {
        private long budget = -1;

        Capped(InputStream in) {
            super(in);
        }

        void arm(long bytes) {
            budget = bytes;
        }

        void disarm() {
            budget = -1;
        }

        private void spend(long n) throws IOException {
            if (budget >= 0) {
                budget -= n;
                if (budget < 0) {
                    throw new IOException("OpenPGP: a key packet too large");
                }
            }
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                spend(1);
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) {
                spend(n);
            }
            return n;
        }
    }

    /**
     * The armor, and only the armor, of a text that must be nothing but one armored PGP message:
     * passes on the lines from the BEGIN line to the END line and fails on anything but white
     * space before or after them (or a line longer than {@value #MAX_ARMOR_LINE}). {@link #drain}
     * reads the rest of the text to be sure of that.
     */
    static final class ArmorText extends InputStream {
        private final InputStream in;
        private final ArrayDeque<byte[]> pending = new ArrayDeque<>();
        private byte[] current = new byte[0];
        private int pos;
        private int state; // 0 before BEGIN, 1 inside, 2 after END
        private boolean eof;

        ArmorText(InputStream in) {
            this.in = in;
        }

        /** Reads the rest; fails unless the END line was there and nothing but white space follows. */
        void drain() throws IOException {
            while (!eof) {
                fill();
                pending.clear();
            }
            if (state != 2) {
                throw new IOException("armor: no END line");
            }
        }

        private void fill() throws IOException {
            ByteArrayOutputStream line = new ByteArrayOutputStream(80);
            int b;
            while ((b = in.read()) >= 0 && b != '\n') {
                if (line.size() >= MAX_ARMOR_LINE) {
                    throw new IOException("armor: a line too long");
                }
                line.write(b);
            }
            if (b < 0) {
                eof = true;
                if (line.size() == 0) {
                    return;
                }
            }
            String text = line.toString(StandardCharsets.ISO_8859_1);
            String stripped = text.strip();
            switch (state) {
                case 0 -> {
                    if (stripped.equals(BEGIN)) {
                        state = 1;
                        pending.add((BEGIN + "\n").getBytes(StandardCharsets.US_ASCII));
                    } else if (!stripped.isEmpty()) {
                        throw new IOException("armor: text before the BEGIN line");
                    }
                }
                case 1 -> {
                    if (stripped.equals(END)) {
                        state = 2;
                        pending.add((END + "\n").getBytes(StandardCharsets.US_ASCII));
                    } else if (stripped.equals(BEGIN)) {
                        throw new IOException("armor: a second BEGIN line");
                    } else {
                        pending.add((text.stripTrailing() + "\n").getBytes(StandardCharsets.ISO_8859_1));
                    }
                }
                default -> {
                    if (!stripped.isEmpty()) {
                        throw new IOException("armor: text after the END line");
                    }
                }
            }
        }

        @Override
        public int read() throws IOException {
            while (pos >= current.length) {
                if (!pending.isEmpty()) {
                    current = pending.poll();
                    pos = 0;
                } else if (eof || state == 2) {
                    return -1;
                } else {
                    fill();
                }
            }
            return current[pos++] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            int first = read();
            if (first < 0) {
                return -1;
            }
            b[off] = (byte) first;
            int n = 1;
            while (n < len && pos < current.length) {
                b[off + n++] = current[pos++];
            }
            return n;
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
