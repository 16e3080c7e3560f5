package org.cryptforward.config;

import java.util.Locale;

/**
 * A case-insensitive shell-style pattern on an address: {@code *} matches any run of characters,
 * {@code ?} one character; everything else stands for itself.
 *
 * <p>Matching is the classic wildcard walk that backs up only to the last {@code *}: time
 * proportional to pattern length times address length, whatever either holds. (A regular
 * expression built from the glob backtracks exponentially on patterns like {@code *a*a*a*} and a
 * hostile address in a To header: fuzzing found that.)
 */
public final class Glob {
    private final String text;
    private final String pattern;

    public Glob(String text) {
        this.text = text;
        this.pattern = text.toLowerCase(Locale.ROOT);
    }

    public boolean matches(String address) {
        String s = address.toLowerCase(Locale.ROOT);
        int p = 0;
        int i = 0;
        int star = -1;
        int resume = 0;
        while (i < s.length()) {
            if (p < pattern.length() && (pattern.charAt(p) == '?' || pattern.charAt(p) == s.charAt(i))) {
                p++;
                i++;
            } else if (p < pattern.length() && pattern.charAt(p) == '*') {
                star = p++;
                resume = i;
            } else if (star >= 0) {
                p = star + 1;
                i = ++resume;
            } else {
                return false;
            }
        }
        while (p < pattern.length() && pattern.charAt(p) == '*') {
            p++;
        }
        return p == pattern.length();
    }

    public String text() {
        return text;
    }

    @Override
    public String toString() {
        return text;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Glob g && g.text.equals(text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }
}
