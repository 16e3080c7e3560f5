package org.cryptforward.message;

import jakarta.mail.internet.AddressException;
import jakarta.mail.internet.InternetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.james.mime4j.codec.DecodeMonitor;
import org.apache.james.mime4j.codec.DecoderUtil;

/** Turning raw header bytes into text for matching and display; nothing here writes headers. */
public final class HeaderValues {
    private HeaderValues() {}

    /**
     * Decodes raw field-value bytes {@code [from, to)}: line breaks of folding removed, bytes read
     * as UTF-8 (ISO-8859-1 where they are not valid UTF-8), RFC 2047 encoded words decoded,
     * leading and trailing white space removed. Never fails.
     */
    public static String decode(byte[] raw, int from, int to) {
        byte[] unfolded = new byte[to - from];
        int n = 0;
        for (int i = from; i < to; i++) {
            byte b = raw[i];
            if (b != '\r' && b != '\n') {
                unfolded[n++] = b;
            }
        }
        String text = bytesToString(unfolded, n);
        try {
            text = DecoderUtil.decodeEncodedWords(text, DecodeMonitor.SILENT);
        } catch (RuntimeException e) {
            // a malformed encoded word stays as it was
        }
        return text.strip();
    }

    static String bytesToString(byte[] b, int len) {
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b, 0, len))
                    .toString();
        } catch (CharacterCodingException e) {
            return new String(b, 0, len, StandardCharsets.ISO_8859_1);
        }
    }

    /**
     * The addr-specs in an address-list value ({@code To}, {@code Cc}, {@code Delivered-To}...),
     * lower-cased, groups expanded; lenient. A value that cannot be parsed at all yields the
     * comma-separated words that look like addresses.
     */
    public static List<String> addresses(String value) {
        List<String> out = new ArrayList<>();
        try {
            for (InternetAddress a : InternetAddress.parseHeader(value, false)) {
                if (a.isGroup()) {
                    InternetAddress[] members = a.getGroup(false);
                    if (members != null) {
                        for (InternetAddress m : members) {
                            add(out, m.getAddress());
                        }
                    }
                } else {
                    add(out, a.getAddress());
                }
            }
        } catch (AddressException e) {
            for (String part : value.split(",")) {
                String p = part.strip();
                int lt = p.lastIndexOf('<');
                int gt = p.lastIndexOf('>');
                add(out, lt >= 0 && gt > lt ? p.substring(lt + 1, gt) : p);
            }
        }
        return out;
    }

    private static void add(List<String> out, String address) {
        if (address == null) {
            return;
        }
        String a = address.strip();
        if (!a.isEmpty() && a.indexOf(' ') < 0) {
            out.add(a.toLowerCase(Locale.ROOT));
        }
    }
}
