package org.cryptforward.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A manual page in mdoc, read as the completeness tests need it: its sections ({@code .Sh}),
 * their subsections ({@code .Ss}), and the list items ({@code .It}) each one defines.
 */
public final class ManPage {
    private static final Pattern FLAG = Pattern.compile("\\bFl\\s+(\\S+)");

    /** One section or subsection: its heading and its lines. */
    public record Part(String heading, List<String> lines) {
        /** The {@code .It} lines: the items this part defines. */
        public List<String> items() {
            return lines.stream().filter(l -> l.startsWith(".It ")).toList();
        }

        /** Options defined by items, as typed: {@code .It Fl -config Ar FILE} gives {@code --config}, {@code Fl h} gives {@code -h}. */
        public Set<String> itemOptions() {
            Set<String> out = new LinkedHashSet<>();
            for (String item : items()) {
                Matcher m = FLAG.matcher(item);
                while (m.find()) {
                    out.add("-" + m.group(1));
                }
            }
            return out;
        }

        /** Positional parameters defined by items: {@code .It Ar FILE ...} gives {@code FILE}. */
        public Set<String> itemArguments() {
            Set<String> out = new LinkedHashSet<>();
            for (String item : items()) {
                String[] w = item.split("\\s+");
                if (w.length >= 3 && w[1].equals("Ar")) {
                    out.add(w[2]);
                }
            }
            return out;
        }

        /** The text of the item whose line starts with {@code prefix}, up to the next item or list end. */
        public String itemBody(String prefix) {
            StringBuilder sb = null;
            for (String l : lines) {
                if (sb == null) {
                    if (l.startsWith(prefix)) {
                        sb = new StringBuilder();
                    }
                } else if (l.startsWith(".It ") || l.startsWith(".El")) {
                    break;
                } else {
                    sb.append(l).append('\n');
                }
            }
            return sb == null ? null : sb.toString();
        }

        public String text() {
            return String.join("\n", lines);
        }
    }

    private final Path file;
    private final Map<String, Part> sections = new LinkedHashMap<>();
    private final Map<String, Map<String, Part>> subsections = new LinkedHashMap<>();

    private ManPage(Path file, List<String> lines) {
        this.file = file;
        String section = null;
        String subsection = null;
        for (String raw : lines) {
            String l = raw.strip();
            if (l.startsWith(".Sh ")) {
                section = heading(l);
                subsection = null;
                sections.put(section, new Part(section, new ArrayList<>()));
                subsections.put(section, new LinkedHashMap<>());
                continue;
            }
            if (section == null) {
                continue;
            }
            if (l.startsWith(".Ss ")) {
                subsection = heading(l);
                subsections.get(section).put(subsection, new Part(subsection, new ArrayList<>()));
                continue;
            }
            sections.get(section).lines().add(l);
            if (subsection != null) {
                subsections.get(section).get(subsection).lines().add(l);
            }
        }
    }

    private static String heading(String line) {
        return line.substring(4).replace("\"", "").replace("\\&", "").strip();
    }

    /** Reads a page of the project, e.g. {@code man/cryptforward.1} (tests run in the project directory). */
    public static ManPage read(String path) {
        Path p = Path.of(path);
        try {
            return new ManPage(p, Files.readAllLines(p, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Path file() {
        return file;
    }

    /** The section with this heading (its subsections included), or null. */
    public Part section(String heading) {
        return sections.get(heading);
    }

    /** The subsections of a section, by heading. */
    public Map<String, Part> subsections(String section) {
        return subsections.getOrDefault(section, Map.of());
    }
}
