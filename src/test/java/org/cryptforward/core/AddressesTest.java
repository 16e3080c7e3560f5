package org.cryptforward.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The one address rule: what passes can go into MAIL FROM or a header field as it is; nothing else does. */
class AddressesTest {
    @ParameterizedTest
    @ValueSource(
            strings = {
                "root@example.org",
                "a.b+c@sub.example.org",
                "x@[192.0.2.1]",
                "o'neil@example.org",
                "a@b",
                "a_b@example.org"
            })
    void validAddressesPass(String a) {
        assertTrue(Addresses.isValid(a, false), a);
        assertEquals(Optional.of(a), Addresses.mailbox("<" + a + ">", false));
        assertEquals(Optional.of(a), Addresses.mailbox("  " + a + "\n", false));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "",
                "<>",
                "a",
                "@b",
                "a@",
                "a@b@c",
                "a b@c",
                "a\t@b",
                "a@b\tSIZE=1",
                "a@b>SIZE=1",
                "a@b\rRSET",
                "a@b\nBcc: x@y",
                "\"a b\"@c",
                "a.@b",
                ".a@b",
                "a..b@c",
                "a@b..c",
                "a@-b",
                "a@b-",
                "a@b.",
                "a@b_c",
                "(c)a@b",
                "a@b (c)",
                "a,b@c",
                "a;b@c",
                "a@b\u0000",
                "jos\uFFFD@b",
                "a@b\u2028c"
            })
    void anythingElseFails(String a) {
        assertFalse(Addresses.isValid(a, true), a);
        assertEquals(Optional.empty(), Addresses.mailbox(a, true));
    }

    @ParameterizedTest
    @ValueSource(strings = {"jos\u00e9@b.example", "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a"})
    void nonAsciiOnlyWhereAllowed(String a) {
        assertTrue(Addresses.isValid(a, true), a);
        assertFalse(Addresses.isValid(a, false), a);
    }

    @org.junit.jupiter.api.Test
    void lengthsAreBounded() {
        assertFalse(Addresses.isValid("a".repeat(65) + "@b.example", false), "local part over 64");
        assertTrue(Addresses.isValid("a".repeat(64) + "@b.example", false));
        assertFalse(Addresses.isValid("a@" + "b".repeat(64) + ".example", false), "label over 63");
        assertFalse(Addresses.isValid("a@" + "b.".repeat(130) + "example", false), "over 254 in all");
    }
}
