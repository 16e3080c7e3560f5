package org.cryptforward.core;

/**
 * Text from elsewhere (an exception, a relay's reply, a configuration value) made fit for the one
 * line cryptforward prints on standard error or in its log: no line break, tab, escape or other
 * control character (each becomes a space), runs of white space as one, at most {@code max}
 * characters.
 */
public final class Text {
    private Text() {}

    public static String oneLine(String s, int max) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(Math.min(s.length(), max));
        boolean space = false;
        for (int i = 0; i < s.length() && sb.length() < max; i++) {
            char c = s.charAt(i);
            boolean blank = Character.isISOControl(c) || Character.isWhitespace(c) || c == '\u2028' || c == '\u2029';
            if (blank) {
                space = sb.length() > 0;
                continue;
            }
            if (space) {
                sb.append(' ');
                space = false;
                if (sb.length() >= max) {
                    break;
                }
            }
            sb.append(c);
        }
        return sb.toString();
    }
}
