package org.cryptforward.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The example configuration that install.sh installs is valid and shows every setting there is. */
class ExamplesTest {
    private static final Path EXAMPLE = Path.of("examples/cryptforward.toml");

    @Test
    void exampleConfigurationLoadsWithTheInstalledLayout() throws Exception {
        Config c = ConfigLoader.load(EXAMPLE);
        assertEquals(Path.of("/var/lib/cryptforward/keyring"), c.keyring());
        assertEquals(Path.of("/var/lib/cryptforward/state"), c.stateDir());
        assertEquals(Path.of("/var/lib/cryptforward/Maildir"), c.local().mailbox());
        assertTrue(c.local().maildir(), "Maildir, as install.sh creates it");
        assertTrue(c.deadline().toSeconds() < 1000, "below Postfix's command_time_limit");
        assertEquals("localhost", c.relay().host());
        assertEquals(1, c.rules().size());
        Rule r = c.rules().get(0);
        assertEquals("root-to-admin", r.name());
        assertTrue(r.recipients().stream().anyMatch(g -> g.matches("root")), "root's mail");
        assertTrue(r.recipients().stream().anyMatch(g -> g.matches("root@host.example.org")), "root@ any host");
        assertFalse(r.recipients().stream().anyMatch(g -> g.matches("www-data@host.example.org")));
        assertEquals(List.of("admin@example.org"), r.forwardTo());
        assertTrue(r.localCopy());
        assertEquals(ServiceConfig.defaults(), c.service(), "the service's defaults, shown commented out");
    }

    @Test
    void exampleConfigurationShowsEverySetting() throws Exception {
        String text = Files.readString(EXAMPLE);
        List<String> missing = new ArrayList<>();
        Map<String, Set<String>> tables = Map.of(
                "",
                ConfigLoader.TOP_KEYS,
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
        tables.forEach((table, keys) -> {
            for (String key : keys) {
                if (table.isEmpty()
                        && Set.of("local", "relay", "rule", "queue", "service").contains(key)) {
                    if (!text.contains("[" + key + "]")) {
                        missing.add("[" + key + "]");
                    }
                    continue;
                }
                // set, or shown commented out
                if (!Pattern.compile("(?m)^(# )?" + Pattern.quote(key) + " = ")
                        .matcher(text)
                        .find()) {
                    missing.add((table.isEmpty() ? "" : table + ".") + key);
                }
            }
        });
        assertEquals(List.of(), missing, "settings not shown in " + EXAMPLE);
    }

    @Test
    void demoConfigurationOfTheQuickStartLoads() throws Exception {
        Config c = ConfigLoader.load(Path.of("examples/demo/cryptforward.toml"));
        assertEquals(Path.of("examples/demo/keyring").toAbsolutePath().normalize(), c.keyring());
    }
}
