package org.cryptforward.config;

import com.electronwill.nightconfig.core.UnmodifiableConfig;
import com.electronwill.nightconfig.core.io.ParsingException;
import com.electronwill.nightconfig.toml.TomlParser;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tomlj.Toml;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseError;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlPosition;
import org.tomlj.TomlTable;

/**
 * A TOML document as plain values — {@code Map<String, Object>} for tables, {@code List<Object>}
 * for arrays, {@code String}, {@code Long}, {@code Double}, {@code Boolean}, java.time values —
 * and the line of any key in it.
 *
 * <p>Two libraries, each where it is best: NightConfig parses (it starts in a fraction of the
 * time, which every delivery pays); tomlj, whose parser records positions, is used only when a
 * line number must be reported — for a syntax error, or a key whose value is wrong — so the
 * common, valid case never loads it.
 */
final class TomlDocument {
    /** A syntax error, with its line (0 when unknown). */
    record SyntaxError(int line, String message) {}

    private final String text;
    private final Map<String, Object> root;
    private TomlParseResult positions;

    private TomlDocument(String text, Map<String, Object> root) {
        this.text = text;
        this.root = root;
    }

    /** Parses {@code text}; on a syntax error returns null and adds the errors to {@code errors}. */
    static TomlDocument parse(String text, List<SyntaxError> errors) {
        try {
            return new TomlDocument(text, table(new TomlParser().parse(text)));
        } catch (ParsingException e) {
            TomlParseResult precise;
            try {
                precise = Toml.parse(text);
            } catch (RuntimeException | AssertionError inner) {
                // tomlj asserts on some inputs (fuzzing found one); the error then has no line
                errors.add(new SyntaxError(0, e.getMessage() == null ? "invalid TOML" : e.getMessage()));
                return null;
            }
            if (precise.hasErrors()) {
                for (TomlParseError err : precise.errors()) {
                    TomlPosition pos = err.position();
                    errors.add(new SyntaxError(pos == null ? 0 : pos.line(), stripPosition(err.getMessage())));
                }
            } else {
                errors.add(new SyntaxError(0, e.getMessage() == null ? "invalid TOML" : e.getMessage()));
            }
            return null;
        }
    }

    Map<String, Object> root() {
        return root;
    }

    /**
     * The line of the key at {@code path} (table names, array indexes, then the key), or 0.
     * The first call parses the text once more, with positions.
     */
    int line(List<Object> path) {
        try {
            if (positions == null) {
                positions = Toml.parse(text);
            }
            TomlTable table = positions;
            for (int i = 0; i < path.size() - 1; i++) {
                Object step = path.get(i);
                Object next = path.get(i + 1);
                if (step instanceof String name && next instanceof Integer index) {
                    TomlArray array = table.getArray(List.of(name));
                    if (i + 2 == path.size()) {
                        TomlPosition p = array.entry(index).position();
                        return p == null ? 0 : p.line();
                    }
                    table = array.getTable(index);
                    i++;
                } else if (step instanceof String name) {
                    TomlTable t = table.getTable(List.of(name));
                    if (t == null) {
                        TomlPosition p = table.inputPositionOf(List.of(name));
                        return p == null ? 0 : p.line();
                    }
                    table = t;
                }
            }
            Object last = path.get(path.size() - 1);
            TomlPosition p = last instanceof String key ? table.inputPositionOf(List.of(key)) : null;
            return p == null ? 0 : p.line();
        } catch (RuntimeException | AssertionError e) {
            return 0;
        }
    }

    private static Map<String, Object> table(UnmodifiableConfig config) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : config.valueMap().entrySet()) {
            out.put(e.getKey(), value(e.getValue()));
        }
        return out;
    }

    private static Object value(Object v) {
        if (v instanceof UnmodifiableConfig c) {
            return table(c);
        }
        if (v instanceof List<?> list) {
            List<Object> out = new ArrayList<>(list.size());
            for (Object o : list) {
                out.add(value(o));
            }
            return out;
        }
        if (v instanceof Integer i) {
            return i.longValue();
        }
        if (v instanceof Float f) {
            return f.doubleValue();
        }
        return v;
    }

    private static String stripPosition(String message) {
        return message == null ? "" : message.replaceFirst("\\s*\\(line \\d+, column \\d+\\)\\s*$", "");
    }
}
