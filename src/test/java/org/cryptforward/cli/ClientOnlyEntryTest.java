package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.cryptforward.core.ExitCodes;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A JVM started for the thin client only hands a message to the service. Anything else it is
 * asked — another command, help, an option the fast path does not read, no service to take the
 * message — ends it with 120 before a byte of the input is read, for the launcher to run the full
 * JVM; it never delivers, never prints, never touches the input.
 */
class ClientOnlyEntryTest {
    @TempDir
    Path tmp;

    @AfterEach
    void clear() {
        System.clearProperty(Entry.CLIENT_PROPERTY);
    }

    int run(boolean clientOnly, AtomicBoolean read, ByteArrayOutputStream out, String... args) {
        if (clientOnly) {
            System.setProperty(Entry.CLIENT_PROPERTY, Entry.CLIENT_ONLY);
        } else {
            System.clearProperty(Entry.CLIENT_PROPERTY);
        }
        InputStream in = new InputStream() {
            @Override
            public int read() {
                read.set(true);
                return -1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                read.set(true);
                return -1;
            }
        };
        PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8);
        return Entry.run(in, ps, ps, Map.of("PATH", "/usr/bin:/bin"), Clock.systemUTC(), false, args);
    }

    @Test
    void whatIsNotAHandOverIsLeftToTheFullJvm() throws Exception {
        Path config = tmp.resolve("cryptforward.toml");
        // a service socket that nobody serves
        Files.writeString(config, "[service]\nsocket = \"" + tmp.resolve("none.sock") + "\"\n");
        String[][] commands = {
            {"deliver", "--config", config.toString(), "--recipient", "root"},
            {"deliver", "--dry-run", "--config", config.toString()},
            {"deliver", "--help"},
            {"deliver", "--no-such-option"},
            {"--version"},
            {"check", "--config", config.toString()},
            {"sendmail", "-t"}
        };
        for (String[] args : commands) {
            AtomicBoolean read = new AtomicBoolean();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            assertEquals(ExitCodes.RUN_IN_PROCESS, run(true, read, out, args), String.join(" ", args));
            assertFalse(read.get(), "input read for " + String.join(" ", args));
            assertEquals("", out.toString(StandardCharsets.UTF_8), String.join(" ", args));
        }
        // the same command line in a full JVM is run, not handed on
        AtomicBoolean read = new AtomicBoolean();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code = run(false, read, out, "--version");
        assertEquals(0, code, out.toString(StandardCharsets.UTF_8));
    }
}
