package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bash completion the build generates (pom.xml, package phase), generated the same way (picocli's AutoComplete
 * with {@link CompletionFactory}) and then asked by bash itself what it completes.
 */
class CompletionTest {
    @TempDir
    Path tmp;

    private Path generate() {
        Path script = tmp.resolve("cryptforward");
        picocli.AutoComplete.main(
                "--force",
                "--factory",
                CompletionFactory.class.getName(),
                "--name",
                "cryptforward",
                "--completionScript",
                script.toString(),
                Cli.class.getName());
        assertTrue(Files.isRegularFile(script), "completion script written");
        return script;
    }

    /** What bash offers for the words typed so far (the last one being completed), sorted. */
    private List<String> complete(Path script, String... words) throws IOException, InterruptedException {
        StringBuilder array = new StringBuilder();
        for (String w : words) {
            array.append('\'').append(w).append("' ");
        }
        // compopt only works inside a completion that bash itself started: a no-op here
        String program = "source '" + script + "'\ncompopt() { :; }\n"
                + "COMP_WORDS=(" + array + ")\n"
                + "COMP_CWORD=" + (words.length - 1) + "\n"
                + "COMP_LINE=\"${COMP_WORDS[*]}\"\nCOMP_POINT=${#COMP_LINE}\n"
                + "_complete_cryptforward\n"
                + "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
        Process p = new ProcessBuilder("bash", "-c", program)
                .redirectErrorStream(true)
                .start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "bash finished");
        assertEquals(0, p.exitValue(), out);
        return out.lines().map(String::strip).filter(s -> !s.isEmpty()).sorted().toList();
    }

    @Test
    void bashCompletesCommandsSubcommandsAndOptions() throws Exception {
        Path script = generate();
        assertEquals(List.of("deliver"), complete(script, "cryptforward", "del"));
        assertTrue(
                complete(script, "cryptforward", "").containsAll(List.of("check", "deliver", "help", "key", "test")));
        assertEquals(
                List.of("export", "import", "list", "remove", "show"), complete(script, "cryptforward", "key", ""));
        assertEquals(List.of("--dry-run"), complete(script, "cryptforward", "deliver", "--dr"));
        assertEquals(List.of("--json"), complete(script, "cryptforward", "key", "list", "--j"));
    }
}
