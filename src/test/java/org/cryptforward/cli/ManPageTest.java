package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.cryptforward.support.ManPage;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * cryptforward(1) documents the command line that exists: every command, option, parameter and
 * exit code of the picocli model (built as the program builds it), and nothing that does not exist.
 */
class ManPageTest {
    private static final ManPage PAGE = ManPage.read("man/cryptforward.1");

    static CommandLine commandLine() {
        PrintStream nowhere = new PrintStream(OutputStream.nullOutputStream());
        return Cli.commandLine(
                new Context(InputStream.nullInputStream(), nowhere, nowhere, Map.of(), Clock.systemUTC(), false));
    }

    /** Every command below the root, by its name after "cryptforward ", e.g. "key import". */
    static Map<String, CommandSpec> commands() {
        Map<String, CommandSpec> out = new LinkedHashMap<>();
        collect(commandLine(), out);
        return out;
    }

    private static void collect(CommandLine cl, Map<String, CommandSpec> out) {
        for (CommandLine sub : cl.getSubcommands().values()) {
            String name = sub.getCommandSpec().qualifiedName(" ").replaceFirst("^cryptforward ", "");
            if (out.putIfAbsent(name, sub.getCommandSpec()) == null) {
                collect(sub, out);
            }
        }
    }

    private static ManPage.Part commandPart(String name) {
        return PAGE.subsections("COMMANDS").get(name);
    }

    /** The options a command defines itself (inherited ones are documented where they are defined). */
    private static Set<String> ownOptionNames(CommandSpec spec) {
        Set<String> names = new LinkedHashSet<>();
        for (OptionSpec o : spec.options()) {
            if (!o.inherited() && !o.hidden()) {
                names.addAll(List.of(o.names()));
            }
        }
        return names;
    }

    private static Set<String> allOptionNames(CommandSpec spec) {
        Set<String> names = new LinkedHashSet<>();
        for (OptionSpec o : spec.options()) {
            names.addAll(List.of(o.names()));
        }
        return names;
    }

    private static Set<String> parameterLabels(CommandSpec spec) {
        Set<String> labels = new LinkedHashSet<>();
        for (PositionalParamSpec p : spec.positionalParameters()) {
            if (!p.hidden()) {
                labels.add(p.paramLabel().replaceAll("[<>]", ""));
            }
        }
        return labels;
    }

    @Test
    void theModelHasTheCommandsThisTestExpects() {
        // guards the test itself: an empty model would make every check below pass
        assertTrue(
                commands()
                        .keySet()
                        .containsAll(List.of("deliver", "key", "key import", "key list", "check", "test", "help")),
                commands().keySet().toString());
        assertTrue(ownOptionNames(commands().get("deliver")).contains("--dry-run"));
        assertFalse(ownOptionNames(commands().get("key import")).contains("--config"), "inherited from key");
        assertTrue(parameterLabels(commands().get("key show")).contains("ID"));
    }

    @Test
    void everyCommandHasASubsectionUnderCommands() {
        List<String> missing = new ArrayList<>();
        commands().keySet().forEach(name -> {
            if (commandPart(name) == null) {
                missing.add(name);
            }
        });
        assertEquals(List.of(), missing, "commands without a '.Ss NAME' under COMMANDS in " + PAGE.file());
    }

    @Test
    void everyOptionAndParameterIsDocumentedWithItsCommand() {
        List<String> missing = new ArrayList<>();
        commands().forEach((name, spec) -> {
            ManPage.Part part = commandPart(name);
            if (part == null) {
                missing.add(name + " (no subsection)");
                return;
            }
            for (String option : ownOptionNames(spec)) {
                if (!part.itemOptions().contains(option)) {
                    missing.add(name + " " + option);
                }
            }
            for (String label : parameterLabels(spec)) {
                if (!part.itemArguments().contains(label)) {
                    missing.add(name + " " + label);
                }
            }
        });
        assertEquals(
                List.of(),
                missing,
                "not documented as '.It Fl ...' or '.It Ar ...' in its subsection of " + PAGE.file());
    }

    @Test
    void everyOptionOfTheCommandItselfIsUnderOptions() {
        CommandSpec root = commandLine().getCommandSpec();
        ManPage.Part options = PAGE.section("OPTIONS");
        assertNotNull(options, "an OPTIONS section");
        List<String> missing = new ArrayList<>();
        for (String option : ownOptionNames(root)) {
            if (!options.itemOptions().contains(option)) {
                missing.add(option);
            }
        }
        assertEquals(List.of(), missing, "options of cryptforward itself missing from OPTIONS");
        assertTrue(
                options.itemOptions().containsAll(List.of("--debug", "--help", "--version")),
                options.itemOptions().toString());
    }

    @Test
    void documentsNoCommandOptionOrParameterThatDoesNotExist() {
        Map<String, CommandSpec> commands = commands();
        List<String> invented = new ArrayList<>();
        PAGE.subsections("COMMANDS").forEach((name, part) -> {
            CommandSpec spec = commands.get(name);
            if (spec == null) {
                invented.add("command " + name);
                return;
            }
            for (String option : part.itemOptions()) {
                if (!allOptionNames(spec).contains(option)) {
                    invented.add(name + " " + option);
                }
            }
            for (String label : part.itemArguments()) {
                if (!parameterLabels(spec).contains(label)) {
                    invented.add(name + " " + label);
                }
            }
        });
        for (String option : PAGE.section("OPTIONS").itemOptions()) {
            if (!allOptionNames(commandLine().getCommandSpec()).contains(option)) {
                invented.add(option);
            }
        }
        assertEquals(List.of(), invented, "documented in " + PAGE.file() + " but not in the command line");
    }

    @Test
    void everyCommandIsInTheSynopsis() {
        String synopsis = PAGE.section("SYNOPSIS").text() + "\n";
        List<String> missing = new ArrayList<>();
        commands().forEach((name, spec) -> {
            if (spec.subcommands().isEmpty() && !synopsis.contains(".Cm " + name + "\n")) {
                missing.add(name);
            }
        });
        assertEquals(List.of(), missing, "commands missing from SYNOPSIS ('.Cm NAME')");
    }

    @Test
    void everyExitCodeIsExplained() {
        Set<String> codes = new LinkedHashSet<>();
        commandLine().getCommandSpec().usageMessage().exitCodeList().keySet().forEach(k -> codes.add(k.strip()));
        codes.add(String.valueOf(org.cryptforward.core.ExitCodes.CONFIG));
        assertTrue(codes.containsAll(List.of("0", "64", "69", "75")), codes.toString());
        ManPage.Part exit = PAGE.section("EXIT STATUS");
        assertNotNull(exit, "an EXIT STATUS section");
        List<String> missing = new ArrayList<>();
        for (String code : codes) {
            String body = exit.itemBody(".It " + code);
            if (body == null || body.isBlank()) {
                missing.add(code);
            }
        }
        assertEquals(List.of(), missing, "exit codes without an '.It CODE' item in EXIT STATUS");
    }
}
