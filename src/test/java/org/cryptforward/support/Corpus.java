package org.cryptforward.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** The test corpus: src/test/resources/corpus, 322 real and realistic messages (see its README.md and MANIFEST.tsv). */
public final class Corpus {
    private Corpus() {}

    public static Path dir() {
        String p = System.getProperty("corpus.dir");
        Path dir = p != null ? Path.of(p) : Path.of("src/test/resources/corpus");
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("test corpus not found at " + dir.toAbsolutePath());
        }
        return dir;
    }

    /** Every message file, sorted. */
    public static List<Path> all() {
        try (Stream<Path> s = Files.walk(dir())) {
            return s.filter(Files::isRegularFile)
                    .filter(f -> !f.toString().contains("_licenses"))
                    .filter(f -> !f.getFileName().toString().equals("MANIFEST.tsv"))
                    .filter(f -> !f.getFileName().toString().equals("README.md"))
                    .sorted()
                    .collect(Collectors.toList());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every n-th message (a spread sample), at least {@code min} of them. */
    public static List<Path> sample(int min) {
        List<Path> all = all();
        int step = Math.max(1, all.size() / min);
        List<Path> out = new java.util.ArrayList<>();
        for (int i = 0; i < all.size(); i += step) {
            out.add(all.get(i));
        }
        return out;
    }

    public static String name(Path p) {
        return dir().relativize(p).toString();
    }

    public static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
