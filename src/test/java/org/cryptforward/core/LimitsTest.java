package org.cryptforward.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Every bound is named once, in {@link Limits}: no other main source file writes a size of its own. */
class LimitsTest {
    /** Sizes as they are written: 64 * 1024, 1 << 20, 32L << 20, 65536, 1_048_576. */
    static final Pattern SIZE = Pattern.compile(
            "\\b\\d+L? \\* 1024\\b|\\b\\d+L? << ?\\d{2}\\b|\\b(65536|65_536|262144|1048576|1_048_576)\\b");

    @Test
    void noSizeIsWrittenOutsideLimits() throws IOException {
        List<String> found = new ArrayList<>();
        try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java") && !p.endsWith("Limits.java"))
                    .toList()) {
                List<String> lines = Files.readAllLines(f);
                for (int i = 0; i < lines.size(); i++) {
                    if (SIZE.matcher(lines.get(i)).find()) {
                        found.add(f + ":" + (i + 1) + ": " + lines.get(i).strip());
                    }
                }
            }
        }
        assertEquals(List.of(), found, "sizes belong in Limits");
    }

    @Test
    void theDefaultsAreTheDocumentedOnes() {
        Limits l = Limits.DEFAULT;
        assertEquals(65536, l.fieldBytes());
        assertEquals(262144, l.routedValueBytes());
        assertEquals(4096, l.loopValueBytes());
        assertEquals(1 << 20, l.spoolMemoryBytes());
        assertEquals(998, l.outputLineBytes());
        assertTrue(l.headerNameBytes() < l.outputLineBytes());
        assertTrue(l.encryptedSampleBytes() <= l.encryptedMixedBytes());
    }
}
