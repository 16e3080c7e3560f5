package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayInputStream;
import java.io.PrintStream;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The fast path for {@code deliver} reads arguments exactly as picocli does, and leaves the rest to picocli. */
class FastDeliverTest {
    private final Context context = new Context(
            new ByteArrayInputStream(new byte[0]),
            new PrintStream(PrintStream.nullOutputStream()),
            new PrintStream(PrintStream.nullOutputStream()),
            Map.of(),
            Clock.systemUTC(),
            false);

    @Test
    void readsWhatPicocliReads() {
        List<String[]> cases = List.of(
                new String[] {"deliver"},
                new String[] {"deliver", "--dry-run"},
                new String[] {"deliver", "--config", "/etc/x.toml", "--recipient", "root@host", "--sender", ""},
                new String[] {"deliver", "--config=/etc/x.toml", "--recipient=a=b@host"},
                new String[] {"--debug", "deliver", "--sender", "bounce@host"},
                new String[] {"deliver", "--debug", "--dry-run", "--recipient", "root"});
        for (String[] args : cases) {
            DeliverCmd fast = FastDeliver.parse(context, args);
            assertNotNull(fast, String.join(" ", args));
            CommandLine.ParseResult pr = Cli.commandLine(context).parseArgs(args);
            DeliverCmd slow = (DeliverCmd) pr.subcommand().commandSpec().userObject();
            String what = String.join(" ", args);
            assertEquals(slow.config.path, fast.config.path, what);
            assertEquals(slow.recipient, fast.recipient, what);
            assertEquals(slow.sender, fast.sender, what);
            assertEquals(slow.dryRun, fast.dryRun, what);
            assertEquals(
                    pr.hasMatchedOption("--debug") || pr.subcommand().hasMatchedOption("--debug"), fast.debug, what);
        }
    }

    @Test
    void leavesEverythingElseToPicocli() {
        for (String[] args : List.of(
                new String[] {},
                new String[] {"deliver", "--help"},
                new String[] {"deliver", "--recipient"},
                new String[] {"deliver", "--bogus"},
                new String[] {"deliver", "extra"},
                new String[] {"deliver", "--dry-run=yes"},
                new String[] {"deliver", "--config", "--dry-run"},
                new String[] {"check"},
                new String[] {"--version"})) {
            assertNull(FastDeliver.parse(context, args), String.join(" ", args));
        }
    }
}
