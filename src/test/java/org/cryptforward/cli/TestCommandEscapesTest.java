package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.cryptforward.support.Sandbox;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cryptforward test} shows a sender's header values without their terminal control sequences. */
class TestCommandEscapesTest {
    @TempDir
    Path tmp;

    @Test
    void noControlCharacterOfTheMessageReachesTheTerminal() throws Exception {
        Sandbox sb = new Sandbox(tmp.resolve("sb"), 25, "", true);
        byte[] mail = ("From: \u001b]0;owned\u0007 evil <e@x.example>\n"
                        + "Subject: \u001b[2Jclear\r screen\n"
                        + "Message-ID: <\u001b[31m@x.example>\n"
                        + "To: root\n\nbody\n")
                .getBytes(StandardCharsets.ISO_8859_1);
        for (String format : new String[] {"text", "json"}) {
            Sandbox.Run run = format.equals("json")
                    ? sb.run(mail, "test", "--recipient", "root", "--json")
                    : sb.run(mail, "test", "--recipient", "root");
            assertEquals(0, run.exit(), run::combined);
            assertTrue(run.out().contains("evil"), run::out);
            assertFalse(run.out().chars().anyMatch(c -> c == 0x1b || c == 0x07 || c == '\r'), run::out);
        }
    }
}
