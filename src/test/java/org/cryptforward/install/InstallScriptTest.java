package org.cryptforward.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.cryptforward.support.Tools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * install.sh's file handling, run in a temporary directory with the script's own functions (taken
 * from install.sh, so nothing here copies them): /etc/aliases and Exim's macros are replaced in
 * one rename with their owner and mode, never rewritten in place; --purge goes ahead only when
 * confirmed.
 */
class InstallScriptTest {
    @TempDir
    Path tmp;

    /** Runs {@code body} in sh after the definitions of install.sh's helper functions. */
    Tools.Result sh(String body, Map<String, String> env) throws Exception {
        String script = Files.readString(Path.of("install.sh"));
        StringBuilder defs = new StringBuilder();
        for (String fn : List.of("say", "warn", "die", "replace_file", "new_file", "remove_block", "confirm_purge")) {
            int start = script.indexOf("\n" + fn + "() {");
            assertTrue(start >= 0, fn + " in install.sh");
            int lineEnd = script.indexOf('\n', start + 1);
            boolean oneLine = script.substring(start + 1, lineEnd).endsWith("}");
            int end = oneLine ? lineEnd + 1 : script.indexOf("\n}\n", start) + 3;
            defs.append(script, start + 1, end);
        }
        String full =
                "set -eu\nMARK_BEGIN='# BEGIN cryptforward (install.sh)'\nMARK_END='# END cryptforward (install.sh)'\n"
                        + defs + body;
        return Tools.run(tmp, null, List.of("sh", "-c", full), env);
    }

    @Test
    void aFileIsReplacedInOneRenameKeepingItsMode() throws Exception {
        Path aliases = Files.writeString(
                tmp.resolve("aliases"),
                "postmaster: root\n# BEGIN cryptforward (install.sh)\nx\n# END cryptforward (install.sh)\nroot: admin\n");
        Files.setPosixFilePermissions(aliases, PosixFilePermissions.fromString("rw-r-----"));
        Object inode = Files.getAttribute(aliases, "unix:ino");
        Tools.Result r = sh("remove_block \"" + aliases + "\"\n", Map.of());
        assertEquals(0, r.exit(), r.err());
        assertEquals("postmaster: root\nroot: admin\n", Files.readString(aliases));
        assertNotEquals(
                inode,
                Files.getAttribute(aliases, "unix:ino"),
                "a new file renamed into place, not the old one rewritten");
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(aliases)));
        try (var s = Files.list(tmp)) {
            assertEquals(
                    List.of(aliases),
                    s.filter(p -> !p.getFileName().toString().startsWith("stderr"))
                            .toList(),
                    "no temporary file left");
        }
    }

    @Test
    void purgeWithoutATerminalOrYesRefusesWithOneLineAndRemovesNothing() throws Exception {
        Path etc = Files.createDirectories(tmp.resolve("etc"));
        Path var = Files.createDirectories(tmp.resolve("var/Maildir/new"));
        Files.writeString(var.resolve("1.kept"), "kept mail\n");
        Map<String, String> env = Map.of();
        String vars = "PURGE=yes\nETC_DIR=" + etc + "\nVAR_DIR=" + tmp.resolve("var") + "\n";
        Tools.Result refused = sh(vars + "ASSUME_YES=no\nconfirm_purge </dev/null\necho went-on\n", env);
        assertEquals(1, refused.exit());
        String err = refused.err().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(
                err.startsWith("install.sh: error: --purge would delete ") && err.endsWith("add --yes to confirm"),
                err);
        assertTrue(new String(refused.out(), StandardCharsets.UTF_8).isEmpty(), "stopped before going on");
        assertTrue(Files.exists(var.resolve("1.kept")));

        Tools.Result confirmed = sh(vars + "ASSUME_YES=yes\nconfirm_purge </dev/null\necho went-on\n", env);
        assertEquals(0, confirmed.exit(), confirmed.err());
        assertEquals("went-on\n", new String(confirmed.out(), StandardCharsets.UTF_8));

        Tools.Result nothingToDelete = sh(
                "PURGE=yes\nASSUME_YES=no\nETC_DIR=" + tmp.resolve("none1") + "\nVAR_DIR=" + tmp.resolve("none2")
                        + "\nconfirm_purge </dev/null\necho went-on\n",
                env);
        assertEquals(0, nothingToDelete.exit(), "nothing kept, nothing to ask: " + nothingToDelete.err());
    }
}
