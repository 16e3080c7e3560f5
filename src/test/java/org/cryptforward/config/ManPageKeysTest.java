package org.cryptforward.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.cryptforward.support.ManPage;
import org.junit.jupiter.api.Test;

/**
 * cryptforward.toml(5) documents every key the loader accepts, each with its type and its default
 * (or that it is required), in the part of the page for its table; and no key that does not exist.
 */
class ManPageKeysTest {
    private static final ManPage PAGE = ManPage.read("man/cryptforward.toml.5");
    private static final Set<String> TABLES = Set.of("local", "relay", "rule", "queue", "service");

    /** The subsection of SETTINGS whose heading names the table: "[local]", "[[rule]]"; "Top level" for none. */
    private static ManPage.Part part(String table) {
        Map<String, ManPage.Part> settings = PAGE.subsections("SETTINGS");
        for (Map.Entry<String, ManPage.Part> e : settings.entrySet()) {
            String h = e.getKey();
            if (table == null ? h.equals("Top level") : h.contains("[" + table + "]")) {
                return e.getValue();
            }
        }
        return null;
    }

    private static Map<String, Set<String>> keysByTable() {
        Set<String> top = new LinkedHashSet<>(ConfigLoader.TOP_KEYS);
        top.removeAll(TABLES);
        return Map.of(
                "",
                top,
                "local",
                ConfigLoader.LOCAL_KEYS,
                "relay",
                ConfigLoader.RELAY_KEYS,
                "rule",
                ConfigLoader.RULE_KEYS,
                "queue",
                ConfigLoader.QUEUE_KEYS,
                "service",
                ConfigLoader.SERVICE_KEYS);
    }

    private static Set<String> documentedKeys(ManPage.Part part) {
        Set<String> keys = new LinkedHashSet<>();
        for (String item : part.items()) {
            String[] w = item.split("\\s+");
            if (w.length >= 3 && w[1].equals("Ic")) {
                keys.add(w[2]);
            }
        }
        return keys;
    }

    @Test
    void theLoaderHasTheKeysThisTestExpects() {
        // guards the test itself: empty key sets would make every check below pass
        assertTrue(ConfigLoader.TOP_KEYS.containsAll(List.of("keyring", "state_dir", "local", "relay", "rule")));
        assertTrue(ConfigLoader.RULE_KEYS.containsAll(List.of("name", "forward_to", "keys")));
        assertTrue(ConfigLoader.RELAY_KEYS.contains("host") && ConfigLoader.LOCAL_KEYS.contains("mailbox"));
    }

    @Test
    void everyTableHasItsSubsection() {
        assertTrue(ConfigLoader.TOP_KEYS.containsAll(TABLES));
        assertNotNull(part(null), "'.Ss Top level' under SETTINGS");
        for (String table : TABLES) {
            assertNotNull(part(table), "a subsection of SETTINGS whose heading names [" + table + "]");
        }
    }

    @Test
    void everyKeyIsDocumentedWithTypeAndDefault() {
        List<String> problems = new ArrayList<>();
        keysByTable().forEach((table, keys) -> {
            ManPage.Part part = part(table.isEmpty() ? null : table);
            if (part == null) {
                problems.add("no subsection for table " + table);
                return;
            }
            for (String key : keys) {
                String prefix = ".It Ic " + key + " No = Ar ";
                String body = part.itemBody(prefix);
                String where = (table.isEmpty() ? "" : table + ".") + key;
                if (body == null) {
                    problems.add(where + ": no '" + prefix + "TYPE' item");
                } else if (!body.contains("Default") && !body.contains("Required")) {
                    problems.add(where + ": neither its default nor 'Required'");
                }
            }
        });
        assertEquals(List.of(), problems, "in " + PAGE.file());
    }

    @Test
    void documentsNoKeyThatDoesNotExist() {
        List<String> invented = new ArrayList<>();
        keysByTable().forEach((table, keys) -> {
            ManPage.Part part = part(table.isEmpty() ? null : table);
            if (part != null) {
                for (String key : documentedKeys(part)) {
                    if (!keys.contains(key)) {
                        invented.add((table.isEmpty() ? "" : table + ".") + key);
                    }
                }
            }
        });
        assertEquals(List.of(), invented, "documented in " + PAGE.file() + " but unknown to ConfigLoader");
    }
}
