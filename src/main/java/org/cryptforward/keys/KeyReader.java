package org.cryptforward.keys;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bouncycastle.bcpg.ArmoredInputStream;
import org.bouncycastle.bcpg.BCPGInputStream;
import org.bouncycastle.bcpg.KeyIdentifier;
import org.bouncycastle.bcpg.Packet;
import org.bouncycastle.bcpg.PacketTags;
import org.bouncycastle.bcpg.PublicKeyPacket;
import org.bouncycastle.bcpg.SecretKeyPacket;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPPublicKeyRing;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.cryptforward.core.Limits;

/**
 * Reads OpenPGP public keys from a stream, packet by packet, keeping only what the key's owner
 * signed — the one reader behind {@code key import} and every read of a keyring file.
 *
 * <ul>
 *   <li>The input is read as a stream with a size bound (armored or binary, several keys and
 *       several armor blocks in one input); nothing is held but the packets kept.
 *   <li>Every signature is verified against the primary key before anything judges the key; a
 *       signature by anyone else (a third-party certification) is dropped unverified, a signature
 *       that claims to be the owner's but does not verify (a forged revocation, a junk binding
 *       dated later than the owner's) is dropped, and so is a signature of a type that does not
 *       belong where it stands. A user ID with no verified self-signature is dropped; a subkey
 *       without one is kept without signatures, so that it can be reported as not bound. User
 *       attributes (photos), trust and marker packets are dropped.
 *   <li>Bounds: {@value #MAX_USER_IDS} user IDs, {@value #MAX_SUBKEYS} subkeys,
 *       {@value #MAX_SIGNATURES_PER_COMPONENT} self-signatures per user ID or subkey,
 *       {@value #MAX_DIRECT_SIGNATURES} direct-key signatures and revocations on the primary key,
 *       {@value #MAX_SIGNATURES} verified self-signatures in all (each costs a verification
 *       whenever the key is read, at every delivery), and {@value #MAX_CLAIMED_SELF_SIGNATURES}
 *       signatures that claim to be the owner's (each costs a verification at import). A key beyond
 *       them is refused, not truncated.
 *   <li>A secret key or secret subkey packet anywhere refuses the input; so does any packet that
 *       is not part of a public key (an encrypted message, garbage).
 * </ul>
 *
 * The primary key's material is checked (see {@link KeyMaterial#primaryProblem}) before any
 * signature is verified with it, so that a monstrous RSA exponent cannot make verification slow.
 */
final class KeyReader {
    static final int MAX_USER_IDS = Limits.DEFAULT.keyUserIds();
    static final int MAX_SUBKEYS = Limits.DEFAULT.keySubkeys();
    static final int MAX_SIGNATURES_PER_COMPONENT = Limits.DEFAULT.keySignaturesPerComponent();
    static final int MAX_DIRECT_SIGNATURES = Limits.DEFAULT.keyDirectSignatures();
    /** Verified self-signatures kept in all: each costs a verification whenever the key is read. */
    static final int MAX_SIGNATURES = Limits.DEFAULT.keySignatures();

    static final int MAX_CLAIMED_SELF_SIGNATURES = Limits.DEFAULT.keyClaimedSelfSignatures();
    /** No key, user ID or signature packet worth keeping is larger; larger ones are dropped or refused. */
    static final int MAX_PACKET = Limits.DEFAULT.keyRecordBytes();

    static final int MAX_BARE_SIGNATURES = Limits.DEFAULT.keyBareSignatures();
    private static final int MAX_LINE = Limits.DEFAULT.keyRecordBytes();

    private static final BcKeyFingerprintCalculator FPR = new BcKeyFingerprintCalculator();

    private KeyReader() {}

    /** What an input holds: its keys (cleaned) and bare signatures (revocation certificates), unverified. */
    record Result(List<Read> keys, List<PGPSignature> signatures) {}

    /** One key as read, and what was dropped from it that a message about the key should mention. */
    record Read(PGPPublicKeyRing ring, List<String> notes) {
        Read {
            notes = List.copyOf(notes);
        }
    }

    /** Input that is not an acceptable public key; the message says why (without the input's name). */
    static final class Refusal extends Exception {
        private static final long serialVersionUID = 1L;
        /** Whether the problem is a key beyond the bounds or with bad material, rather than input that is not a key. */
        final boolean keyLevel;

        Refusal(String message, boolean keyLevel) {
            super(message);
            this.keyLevel = keyLevel;
        }
    }

    /** The input is larger than the bound. */
    static final class TooLarge extends IOException {
        private static final long serialVersionUID = 1L;

        TooLarge() {
            super("too large");
        }
    }

    /** Reads everything in {@code in}, at most {@code maxBytes} bytes of it. */
    static Result read(InputStream in, long maxBytes) throws Refusal, IOException {
        BufferedInputStream buffered =
                new BufferedInputStream(new Bounded(in, maxBytes), Limits.DEFAULT.ioBufferBytes());
        Collector collector = new Collector();
        int first = firstNonBlank(buffered);
        if (first < 0) {
            throw new Refusal("is empty: no OpenPGP key in it", false);
        }
        if ((first & 0x80) != 0) {
            packets(buffered, collector);
        } else {
            boolean any = false;
            Lines lines = new Lines(buffered);
            byte[] line;
            while ((line = lines.next()) != null) {
                if (startsWith(line, "-----BEGIN PGP ")) {
                    any = true;
                    String kind = new String(line, StandardCharsets.ISO_8859_1).strip();
                    if (kind.contains("SIGNED MESSAGE")) {
                        throw new Refusal("is not an OpenPGP public key (it holds a signed message)", false);
                    }
                    InputStream block = new Block(line, lines);
                    ArmoredInputStream armor = ArmoredInputStream.builder().build(block);
                    packets(armor, collector);
                    block.transferTo(OutputStreamNull.INSTANCE);
                }
            }
            if (!any) {
                throw new Refusal("is not an OpenPGP public key (no key found in it)", false);
            }
        }
        collector.finish();
        if (collector.keys.isEmpty() && collector.bare.isEmpty()) {
            throw new Refusal("is not an OpenPGP public key (no key found in it)", false);
        }
        return new Result(collector.keys, collector.bare);
    }

    private static int firstNonBlank(BufferedInputStream in) throws IOException {
        while (true) {
            in.mark(1);
            int b = in.read();
            if (b < 0) {
                return -1;
            }
            if (b != ' ' && b != '\t' && b != '\r' && b != '\n') {
                in.reset();
                return b;
            }
        }
    }

    private static boolean startsWith(byte[] line, String prefix) {
        if (line.length < prefix.length()) {
            return false;
        }
        for (int i = 0; i < prefix.length(); i++) {
            if (line[i] != prefix.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** Reads packets from a binary stream into the collector. */
    private static void packets(InputStream in, Collector collector) throws Refusal, IOException {
        while (true) {
            int hdr = in.read();
            if (hdr < 0) {
                return;
            }
            if ((hdr & 0x80) == 0) {
                throw new Refusal("is not an OpenPGP public key (it holds bytes that are not OpenPGP packets)", false);
            }
            boolean newFormat = (hdr & 0x40) != 0;
            int tag = newFormat ? hdr & 0x3f : (hdr >> 2) & 0x0f;
            boolean keep = switch (tag) {
                case PacketTags.PUBLIC_KEY,
                        PacketTags.PUBLIC_SUBKEY,
                        PacketTags.USER_ID,
                        PacketTags.SIGNATURE,
                        PacketTags.SECRET_KEY,
                        PacketTags.SECRET_SUBKEY -> true;
                default -> false;
            };
            ByteArrayOutputStream header = new ByteArrayOutputStream(6);
            header.write(hdr);
            byte[] body = body(in, hdr, newFormat, keep ? MAX_PACKET : -1, header);
            // kept as it came (old or new header format), so that a stored key is the bytes it was;
            // a body in partial lengths gets a definite one
            byte[] raw = body == null || body.length == 0
                    ? null
                    : header.size() > 0 ? concat(header.toByteArray(), body) : encodePacket(tag, body);
            collector.packet(tag, body, raw);
        }
    }

    /**
     * The body of one packet; {@code limit} < 0 skips it (returns null). A body beyond the limit is
     * skipped too and returned as an empty array marker ({@code null} for the caller to judge).
     */
    private static byte[] body(InputStream in, int hdr, boolean newFormat, int limit, ByteArrayOutputStream header)
            throws IOException, Refusal {
        ByteArrayOutputStream out = limit < 0 ? null : new ByteArrayOutputStream();
        boolean tooLarge = false;
        long total = 0;
        if (newFormat) {
            while (true) {
                int l1 = readByte(in, header);
                long len;
                boolean partial = false;
                if (l1 < 192) {
                    len = l1;
                } else if (l1 < 224) {
                    len = ((l1 - 192) << 8) + readByte(in, header) + 192;
                } else if (l1 == 255) {
                    len = ((long) readByte(in, header) << 24)
                            | (readByte(in, header) << 16)
                            | (readByte(in, header) << 8)
                            | readByte(in, header);
                } else {
                    len = 1L << (l1 & 0x1f);
                    partial = true;
                    header.reset(); // no longer the header of what is kept
                }
                total += len;
                tooLarge |= out != null && total > limit;
                copy(in, tooLarge ? null : out, len);
                if (!partial) {
                    break;
                }
            }
        } else {
            long len = switch (hdr & 3) {
                case 0 -> readByte(in, header);
                case 1 -> (readByte(in, header) << 8) | readByte(in, header);
                case 2 ->
                    ((long) readByte(in, header) << 24)
                            | (readByte(in, header) << 16)
                            | (readByte(in, header) << 8)
                            | readByte(in, header);
                default -> -1;
            };
            if (len < 0) {
                throw new Refusal("is not an OpenPGP public key (a packet of indeterminate length)", false);
            }
            tooLarge = out != null && len > limit;
            copy(in, tooLarge ? null : out, len);
        }
        if (out == null) {
            return null;
        }
        return tooLarge ? new byte[0] : out.toByteArray();
    }

    private static int readByte(InputStream in, ByteArrayOutputStream header) throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException("the input ends inside a packet");
        }
        header.write(b);
        return b;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static void copy(InputStream in, ByteArrayOutputStream out, long len) throws IOException {
        byte[] buf = new byte[(int) Math.min(len, 8192)];
        while (len > 0) {
            int n = in.read(buf, 0, (int) Math.min(len, buf.length));
            if (n < 0) {
                throw new EOFException("the input ends inside a packet");
            }
            if (out != null) {
                out.write(buf, 0, n);
            }
            len -= n;
        }
    }

    /** A packet with a new-format header and a definite length. */
    static byte[] encodePacket(int tag, byte[] body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(body.length + 6);
        out.write(0xC0 | tag);
        int n = body.length;
        if (n < 192) {
            out.write(n);
        } else if (n < 8384) {
            out.write(((n - 192) >> 8) + 192);
            out.write((n - 192) & 0xff);
        } else {
            out.write(255);
            out.write(n >>> 24);
            out.write(n >>> 16);
            out.write(n >>> 8);
            out.write(n);
        }
        out.write(body, 0, n);
        return out.toByteArray();
    }

    private static Packet parse(int tag, byte[] body) throws IOException {
        return BCPGInputStream.wrap(new ByteArrayInputStream(encodePacket(tag, body)))
                .readPacket();
    }

    private static PGPSignature parseSignature(byte[] body) throws IOException, PGPException {
        return new PGPSignature(
                BCPGInputStream.wrap(new ByteArrayInputStream(encodePacket(PacketTags.SIGNATURE, body))));
    }

    /** Groups packets into keys, keeping the verified self-signatures. */
    private static final class Collector {
        final List<Read> keys = new ArrayList<>();
        final List<PGPSignature> bare = new ArrayList<>();
        private Key current;

        void packet(int tag, byte[] body, byte[] raw) throws Refusal, IOException {
            switch (tag) {
                case PacketTags.PUBLIC_KEY -> {
                    finish();
                    if (body.length == 0) {
                        throw new Refusal(
                                "is not an OpenPGP public key (a key packet larger than " + (MAX_PACKET >> 10) + " KB)",
                                true);
                    }
                    current = new Key(body, raw);
                }
                case PacketTags.SECRET_KEY -> throw new Refusal(secretMessage(body, null), false);
                case PacketTags.SECRET_SUBKEY ->
                    throw new Refusal(secretMessage(null, current == null ? null : current.fingerprint), false);
                case PacketTags.PUBLIC_SUBKEY -> key(tag).subkey(body, raw);
                case PacketTags.USER_ID -> key(tag).userId(body, raw);
                case PacketTags.USER_ATTRIBUTE -> {
                    if (current != null) {
                        current.userAttribute();
                    }
                }
                case PacketTags.SIGNATURE -> {
                    if (current == null) {
                        bareSignature(body);
                    } else {
                        current.signature(body, raw);
                    }
                }
                case PacketTags.TRUST, PacketTags.MARKER, PacketTags.PADDING -> {
                    // carries nothing a forwarder needs
                }
                default -> {
                    if (tag >= 40) {
                        return; // non-critical unknown packet (RFC 9580, section 4.3): ignored
                    }
                    throw new Refusal("is not an OpenPGP public key (it holds " + packetName(tag) + ")", false);
                }
            }
        }

        private Key key(int tag) throws Refusal {
            if (current == null) {
                throw new Refusal(
                        "is not an OpenPGP public key (" + packetName(tag) + " before any primary key)", false);
            }
            return current;
        }

        private void bareSignature(byte[] body) throws Refusal {
            PGPSignature s;
            try {
                s = body.length == 0 ? null : parseSignature(body);
            } catch (IOException | PGPException | RuntimeException e) {
                throw new Refusal("is not an OpenPGP public key (a signature that cannot be parsed)", false);
            }
            if (s == null) {
                throw new Refusal(
                        "is not an OpenPGP public key (a signature packet larger than " + (MAX_PACKET >> 10) + " KB)",
                        false);
            }
            if (s.getSignatureType() != PGPSignature.KEY_REVOCATION) {
                throw new Refusal(
                        "holds a signature (type 0x" + Integer.toHexString(s.getSignatureType())
                                + "), not a public key",
                        false);
            }
            if (bare.size() >= MAX_BARE_SIGNATURES) {
                throw new Refusal("holds more than " + MAX_BARE_SIGNATURES + " revocation certificates", false);
            }
            bare.add(s);
        }

        void finish() throws Refusal, IOException {
            if (current != null) {
                keys.add(new Read(current.ring(), current.notes));
                current = null;
            }
        }
    }

    static String packetName(int tag) {
        return switch (tag) {
            case PacketTags.PUBLIC_KEY_ENC_SESSION,
                    PacketTags.SYMMETRIC_KEY_ENC_SESSION,
                    PacketTags.SYMMETRIC_KEY_ENC,
                    PacketTags.SYM_ENC_INTEGRITY_PRO,
                    PacketTags.AEAD_ENC_DATA -> "an OpenPGP encrypted message";
            case PacketTags.COMPRESSED_DATA, PacketTags.LITERAL_DATA, PacketTags.ONE_PASS_SIGNATURE ->
                "an OpenPGP message";
            case PacketTags.PUBLIC_SUBKEY -> "a subkey";
            case PacketTags.USER_ID -> "a user ID";
            case PacketTags.SIGNATURE -> "a signature";
            default -> "an OpenPGP packet of type " + tag;
        };
    }

    private static String secretMessage(byte[] primaryBody, String known) {
        String fpr = known;
        try {
            if (primaryBody != null && primaryBody.length > 0) {
                Packet p = parse(PacketTags.SECRET_KEY, primaryBody);
                PublicKeyPacket pub = p instanceof SecretKeyPacket s ? s.getPublicKeyPacket() : (PublicKeyPacket) p;
                fpr = KeyIds.hex(new PGPPublicKey(pub, FPR).getFingerprint());
            }
        } catch (IOException | PGPException | RuntimeException e) {
            fpr = null;
        }
        return "holds a secret key" + (fpr == null ? "" : " (" + fpr + ")")
                + "; refusing it, nothing was stored. Give the public key, e.g. gpg --export --armor ID";
    }

    /** One key being read: the packets kept so far. */
    private static final class Key {
        final byte[] primaryPacket;
        final byte[] primaryRaw;
        final PGPPublicKey primary;
        final KeyIdentifier primaryId;
        final String fingerprint;
        final List<byte[]> direct = new ArrayList<>();
        final Map<ByteKey, List<byte[]>> userIds = new LinkedHashMap<>();
        final Map<ByteKey, byte[]> userIdRaw = new HashMap<>();
        final Map<ByteKey, Sub> subkeys = new LinkedHashMap<>();
        /** Where the signatures that follow belong: 0 primary, 1 user ID, 2 subkey, 3 dropped (user attribute, bad packet). */
        int position;

        byte[] uid;
        byte[] uidRaw;
        Sub sub;
        int claimed;
        int kept;
        int userIdPackets;
        final List<String> notes = new ArrayList<>();

        Key(byte[] body, byte[] raw) throws Refusal, IOException {
            this.primaryPacket = body;
            this.primaryRaw = raw;
            try {
                Packet p = parse(PacketTags.PUBLIC_KEY, body);
                this.primary = new PGPPublicKey((PublicKeyPacket) p, FPR);
            } catch (IOException | PGPException | RuntimeException e) {
                throw new Refusal(
                        "is not an OpenPGP public key (a primary key packet that cannot be parsed: " + describe(e)
                                + ")",
                        false);
            }
            this.primaryId = primary.getKeyIdentifier();
            this.fingerprint = KeyIds.hex(primary.getFingerprint());
            String bad = KeyMaterial.primaryProblem(primary);
            if (bad != null) {
                throw new Refusal("refusing key " + fingerprint + ": " + bad, true);
            }
        }

        void userId(byte[] body, byte[] raw) throws Refusal {
            if (++userIdPackets > 100 * MAX_USER_IDS) {
                throw refuse("it has more than " + (100 * MAX_USER_IDS) + " user ID packets");
            }
            position = body.length == 0 ? 3 : 1;
            uid = body;
            uidRaw = raw;
        }

        void userAttribute() {
            position = 3;
        }

        void subkey(byte[] body, byte[] raw) throws Refusal {
            if (body.length == 0) {
                throw refuse("it has a subkey packet larger than " + (MAX_PACKET >> 10) + " KB");
            }
            PGPPublicKey k;
            try {
                k = new PGPPublicKey((PublicKeyPacket) parse(PacketTags.PUBLIC_SUBKEY, body), FPR);
            } catch (IOException | PGPException | RuntimeException e) {
                // a subkey that cannot be parsed: dropped with its signatures
                notes.add("a subkey that cannot be read (" + describe(e) + ")");
                position = 3;
                return;
            }
            ByteKey id = new ByteKey(k.getFingerprint());
            sub = subkeys.get(id);
            if (sub == null) {
                if (subkeys.size() >= MAX_SUBKEYS) {
                    throw refuse("it has more than " + MAX_SUBKEYS + " subkeys");
                }
                sub = new Sub(raw, k);
                subkeys.put(id, sub);
            }
            position = 2;
        }

        void signature(byte[] body, byte[] raw) throws Refusal {
            if (position == 3 || body.length == 0) {
                return;
            }
            PGPSignature s;
            try {
                s = parseSignature(body);
            } catch (IOException | PGPException | RuntimeException e) {
                return; // a signature that cannot be parsed verifies nothing
            }
            if (!claimsOwner(s)) {
                return; // a third party's certification: a forwarder needs none
            }
            if (++claimed > MAX_CLAIMED_SELF_SIGNATURES) {
                throw refuse(
                        "it has more than " + MAX_CLAIMED_SELF_SIGNATURES + " signatures that claim to be its own");
            }
            int type = s.getSignatureType();
            switch (position) {
                case 0 -> {
                    if ((type == PGPSignature.DIRECT_KEY || type == PGPSignature.KEY_REVOCATION)
                            && verify(s, () -> s.verifyCertification(primary))) {
                        add(direct, raw, MAX_DIRECT_SIGNATURES, "direct-key signatures and revocations");
                    }
                }
                case 1 -> {
                    boolean certification = type == PGPSignature.DEFAULT_CERTIFICATION
                            || type == PGPSignature.NO_CERTIFICATION
                            || type == PGPSignature.CASUAL_CERTIFICATION
                            || type == PGPSignature.POSITIVE_CERTIFICATION
                            || type == PGPSignature.CERTIFICATION_REVOCATION;
                    byte[] id = uid;
                    if (certification && verify(s, () -> s.verifyCertification(id, primary))) {
                        List<byte[]> sigs = userIds.get(new ByteKey(id));
                        if (sigs == null) {
                            if (userIds.size() >= MAX_USER_IDS) {
                                throw refuse("it has more than " + MAX_USER_IDS + " user IDs");
                            }
                            sigs = new ArrayList<>();
                            userIds.put(new ByteKey(id), sigs);
                            userIdRaw.put(new ByteKey(id), uidRaw);
                        }
                        add(sigs, raw, MAX_SIGNATURES_PER_COMPONENT, "self-signatures on one user ID");
                    }
                }
                case 2 -> {
                    Sub target = sub;
                    if ((type == PGPSignature.SUBKEY_BINDING || type == PGPSignature.SUBKEY_REVOCATION)
                            && verify(s, () -> s.verifyCertification(primary, target.key))) {
                        add(target.sigs, raw, MAX_SIGNATURES_PER_COMPONENT, "binding signatures on one subkey");
                    }
                }
                default -> {
                    // nowhere to attach it
                }
            }
        }

        private void add(List<byte[]> sigs, byte[] body, int max, String what) throws Refusal {
            for (byte[] b : sigs) {
                if (Arrays.equals(b, body)) {
                    return;
                }
            }
            if (sigs.size() >= max) {
                throw refuse("it has more than " + max + " " + what);
            }
            if (++kept > MAX_SIGNATURES) {
                throw refuse("it has more than " + MAX_SIGNATURES + " self-signatures");
            }
            sigs.add(body);
        }

        private boolean claimsOwner(PGPSignature s) {
            List<KeyIdentifier> ids = s.getKeyIdentifiers();
            if (ids.isEmpty()) {
                return true;
            }
            for (KeyIdentifier id : ids) {
                if (id.matches(primaryId)) {
                    return true;
                }
            }
            return false;
        }

        private interface Check {
            boolean run() throws PGPException;
        }

        private boolean verify(PGPSignature s, Check check) {
            try {
                s.init(Verdicts.VERIFIERS, primary);
                return check.run();
            } catch (PGPException | RuntimeException e) {
                return false;
            }
        }

        private Refusal refuse(String why) {
            return new Refusal("refusing key " + fingerprint + ": " + why + " (cryptforward's limit)", true);
        }

        PGPPublicKeyRing ring() throws Refusal, IOException {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(primaryRaw);
            for (byte[] sig : direct) {
                out.write(sig);
            }
            for (Map.Entry<ByteKey, List<byte[]>> e : userIds.entrySet()) {
                out.write(userIdRaw.get(e.getKey()));
                for (byte[] sig : e.getValue()) {
                    out.write(sig);
                }
            }
            for (Sub sk : subkeys.values()) {
                out.write(sk.packet);
                for (byte[] sig : sk.sigs) {
                    out.write(sig);
                }
            }
            try {
                return new PGPPublicKeyRing(out.toByteArray(), FPR);
            } catch (IOException | RuntimeException e) {
                throw new Refusal(
                        "is not an OpenPGP public key (key " + fingerprint + " cannot be read back: " + describe(e)
                                + ")",
                        false);
            }
        }
    }

    private static final class Sub {
        final byte[] packet;
        final PGPPublicKey key;
        final List<byte[]> sigs = new ArrayList<>();

        Sub(byte[] packet, PGPPublicKey key) {
            this.packet = packet;
            this.key = key;
        }
    }

    /** A byte array as a map key. */
    private record ByteKey(byte[] bytes) {
        @Override
        public boolean equals(Object o) {
            return o instanceof ByteKey k && Arrays.equals(bytes, k.bytes);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(bytes);
        }
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    /** An input stream that fails once more than {@code max} bytes were read from it. */
    private static final class Bounded extends InputStream {
        private final InputStream in;
        private long left;

        Bounded(InputStream in, long max) {
            this.in = in;
            this.left = max;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0 && --left < 0) {
                throw new TooLarge();
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, (int) Math.min(len, Math.max(1, Math.min(Integer.MAX_VALUE, left + 1))));
            if (n > 0) {
                left -= n;
                if (left < 0) {
                    throw new TooLarge();
                }
            }
            return n;
        }
    }

    /** Lines of text, each at most {@link Limits#keyRecordBytes()} bytes, with their line ends. */
    private static final class Lines {
        private final InputStream in;

        Lines(InputStream in) {
            this.in = in;
        }

        byte[] next() throws IOException, Refusal {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            int b;
            while ((b = in.read()) >= 0) {
                line.write(b);
                if (b == '\n') {
                    break;
                }
                if (line.size() > MAX_LINE) {
                    throw new Refusal(
                            "is not an OpenPGP public key (a line longer than " + (MAX_LINE >> 10) + " KB)", false);
                }
            }
            return line.size() == 0 ? null : line.toByteArray();
        }
    }

    /** One armor block: from its BEGIN line to its END line, read line by line. */
    private static final class Block extends InputStream {
        private final Lines lines;
        private byte[] line;
        private int pos;
        private boolean last;

        Block(byte[] begin, Lines lines) {
            this.lines = lines;
            this.line = begin;
        }

        private boolean fill() throws IOException {
            while (line == null || pos >= line.length) {
                if (last) {
                    return false;
                }
                try {
                    line = lines.next();
                } catch (Refusal r) {
                    throw new IOException(
                            r.getMessage().replaceFirst("^is not an OpenPGP public key \\((.*)\\)$", "$1"));
                }
                pos = 0;
                if (line == null) {
                    last = true;
                    return false;
                }
                if (startsWith(line, "-----END PGP ")) {
                    last = true;
                }
            }
            return true;
        }

        @Override
        public int read() throws IOException {
            return fill() ? line[pos++] & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (!fill()) {
                return -1;
            }
            int n = Math.min(len, line.length - pos);
            System.arraycopy(line, pos, b, off, n);
            pos += n;
            return n;
        }
    }

    private static final class OutputStreamNull extends java.io.OutputStream {
        static final OutputStreamNull INSTANCE = new OutputStreamNull();

        @Override
        public void write(int b) {}

        @Override
        public void write(byte[] b, int off, int len) {}
    }
}
