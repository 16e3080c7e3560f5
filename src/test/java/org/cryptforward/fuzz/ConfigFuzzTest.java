package org.cryptforward.fuzz;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.cryptforward.config.ConfigException;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.config.ConfigProblem;

/**
 * Coverage-guided fuzzing of the configuration loader: any file content yields either a valid
 * configuration or a list of problems, each naming the file and a line within it, never an
 * exception.
 */
class ConfigFuzzTest {
    @FuzzTest(maxDuration = "10m")
    void load(byte[] data) throws IOException {
        Path dir = Files.createTempDirectory("cf-fuzz");
        Path file = dir.resolve("cryptforward.toml");
        try {
            Files.write(file, data);
            long lines = new String(data, java.nio.charset.StandardCharsets.ISO_8859_1)
                            .lines()
                            .count()
                    + 1;
            try {
                ConfigLoader.load(file);
            } catch (ConfigException e) {
                assertFalse(e.problems().isEmpty(), "a failure lists its problems");
                for (ConfigProblem p : e.problems()) {
                    assertTrue(p.file().equals(file), "names the file");
                    assertTrue(p.line() >= 0 && p.line() <= lines + 1, () -> "line within the file: " + p);
                    assertFalse(p.message().isBlank(), "says what is wrong");
                }
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }
}
