package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one --config option: the same for every command, and for key's commands before or after their name. */
class ConfigOptionTest {
    @TempDir
    Path tmp;

    static String[] run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Cli.run(
                new ByteArrayInputStream(new byte[0]),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of(),
                Clock.systemUTC(),
                false,
                args);
        return new String[] {
            String.valueOf(code), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)
        };
    }

    @Test
    void keyTakesTheSharedOptionBeforeOrAfterItsCommand() {
        Sandbox sb = new Sandbox(tmp, 9, "", false);
        String config = sb.config.toString();
        String[] before = run("key", "--config", config, "list");
        String[] after = run("key", "list", "--config", config);
        assertEquals("0", before[0], before[2]);
        assertEquals("0", after[0], after[2]);
        assertTrue(before[1].contains(TestKeys.ED.fingerprint), before[1]);
        assertEquals(before[1], after[1]);
        String[] missing =
                run("key", "list", "--config", tmp.resolve("none.toml").toString());
        assertEquals("75", missing[0], "a configuration that cannot be read is 75 for key as for deliver");
        assertTrue(missing[2].startsWith("cryptforward: configuration error: "), missing[2]);
    }

    @Test
    void everyCommandDescribesTheOptionAlike() {
        String[] key = run("help", "key");
        String[] check = run("help", "check");
        String line = "--config=FILE";
        assertTrue(key[1].contains(line) && check[1].contains(line), key[1] + check[1]);
        String words = "Configuration file (default: $CRYPTFORWARD_CONFIG, else /etc/cryptforward/cryptforward.toml).";
        assertTrue(key[1].replaceAll("\\s+", " ").contains(words), key[1]);
        assertTrue(check[1].replaceAll("\\s+", " ").contains(words), check[1]);
    }
}
