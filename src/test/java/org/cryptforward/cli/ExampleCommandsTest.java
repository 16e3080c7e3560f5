package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The commands written in examples/ (aliases, alias table, .forward, cron entry) are command lines
 * that cryptforward accepts today, with the path install.sh installs to.
 */
class ExampleCommandsTest {
    private static final Pattern COMMAND = Pattern.compile("/usr/local/bin/cryptforward((?: [a-z-]+)*)");

    /** The cryptforward command lines in a file, after the program path. */
    private static List<List<String>> commands(String file) throws Exception {
        List<List<String>> out = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(file))) {
            if (line.startsWith("#")) {
                continue;
            }
            Matcher m = COMMAND.matcher(line);
            while (m.find()) {
                out.add(Arrays.stream(m.group(1).strip().split(" "))
                        .filter(s -> !s.isEmpty())
                        .toList());
            }
        }
        return out;
    }

    private static CommandLine.ParseResult parse(List<String> args) {
        return ManPageTest.commandLine().parseArgs(args.toArray(String[]::new));
    }

    @Test
    void aliasesAndForwardRunDeliverWithoutOptions() throws Exception {
        for (String file : List.of("examples/aliases", "examples/cryptforward.aliases", "examples/dot-forward")) {
            List<List<String>> commands = commands(file);
            assertEquals(1, commands.size(), file + ": one pipe");
            assertEquals(List.of("deliver"), commands.get(0), file);
            CommandLine.ParseResult r = parse(commands.get(0));
            assertTrue(r.hasSubcommand() && r.subcommand().commandSpec().userObject() instanceof DeliverCmd, file);
            assertTrue(
                    r.subcommand().matchedOptions().isEmpty(),
                    file + ": the configuration comes from its default place");
        }
        for (String file : List.of("examples/aliases", "examples/cryptforward.aliases")) {
            assertTrue(
                    Files.readAllLines(Path.of(file)).contains("root: \"|/usr/local/bin/cryptforward deliver\""), file);
        }
        assertEquals(
                List.of("\"|/usr/local/bin/cryptforward deliver\""),
                Files.readAllLines(Path.of("examples/dot-forward")));
    }

    @Test
    void cronEntryRunsCheckAsTheServiceUser() throws Exception {
        List<String> entries = Files.readAllLines(Path.of("examples/cron.d/cryptforward")).stream()
                .filter(l -> !l.isBlank() && !l.startsWith("#") && !l.matches("[A-Z_]+=.*"))
                .toList();
        assertEquals(1, entries.size(), "one cron entry");
        String[] fields = entries.get(0).split("\\s+", 7);
        assertEquals(7, fields.length, "five time fields, a user, a command");
        for (int i = 0; i < 5; i++) {
            assertTrue(fields[i].matches("[0-9*,/-]+"), "time field " + fields[i]);
        }
        assertEquals("cryptforward", fields[5], "runs as the user that owns keyring and state");
        assertFalse(fields[6].contains("%"), "a % in a cron command would be a line break");
        List<List<String>> commands = commands("examples/cron.d/cryptforward");
        assertEquals(1, commands.size());
        CommandLine.ParseResult r = parse(commands.get(0));
        assertTrue(r.subcommand().commandSpec().userObject() instanceof CheckCmd);
    }
}
