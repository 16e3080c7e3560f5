package org.cryptforward.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Recipient globs: the usual cases, agreement with a regular expression, and no catastrophic backtracking. */
class GlobTest {
    @Test
    void usualPatterns() {
        assertTrue(new Glob("root").matches("ROOT"));
        assertFalse(new Glob("root").matches("root@host"));
        assertTrue(new Glob("root@*").matches("root@web01.example.org"));
        assertTrue(new Glob("*@example.org").matches("Admin@Example.ORG"));
        assertFalse(new Glob("*@example.org").matches("admin@example.org.evil"));
        assertTrue(new Glob("root+?@*").matches("root+a@h"));
        assertFalse(new Glob("root+?@*").matches("root+ab@h"));
        assertTrue(new Glob("*").matches(""));
        assertTrue(new Glob("a.b[c]").matches("A.B[C]"), "no character classes: [ and . stand for themselves");
        assertFalse(new Glob("a.b").matches("axb"));
    }

    @Test
    void agreesWithTheEquivalentRegularExpression() {
        Random r = new Random(42);
        String alphabet = "ab*?";
        for (int n = 0; n < 20_000; n++) {
            String g = randomString(r, alphabet, r.nextInt(7));
            String s = randomString(r, "ab", r.nextInt(9));
            String re = g.replace("?", ".").replace("*", ".*");
            assertEquals(Pattern.matches(re, s), new Glob(g).matches(s), g + " vs " + s);
        }
    }

    @Test
    void hostileAddressesTakeLinearTime() {
        String pattern = "*a".repeat(30) + "*b";
        String address = "a".repeat(20_000);
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertFalse(new Glob(pattern).matches(address)));
    }

    private static String randomString(Random r, String alphabet, int length) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) {
            sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        return sb.toString();
    }
}
