package org.cryptforward.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.cryptforward.support.ExternalTool;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.Tools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The systemd units as systemd itself reads them ({@code systemd-analyze verify}): every key known
 * to this systemd, every section where it belongs, the service's command there. A misspelt
 * hardening option would only be "ignored" in the journal of a real host; here it fails. The
 * units are checked as {@code install.sh} installs them, with the command of this build.
 */
class SystemdUnitsIT {
    @TempDir
    Path tmp;

    @Test
    void systemdReadsBothUnitsWithoutAWord() throws Exception {
        ExternalTool.require("systemd-analyze");
        String launcher = Launcher.path().toAbsolutePath().toString();
        for (String unit : List.of("cryptforward.socket", "cryptforward.service")) {
            String text = Files.readString(Path.of("examples/systemd", unit));
            Files.writeString(tmp.resolve(unit), text.replace("/usr/local/bin/cryptforward", launcher));
        }
        // a unit with a typo, to show that the check would see one
        Files.writeString(
                tmp.resolve("typo.service"),
                Files.readString(tmp.resolve("cryptforward.service")).replace("ProtectClock=", "ProtectClok="));
        Tools.Result typo = Tools.run(
                tmp,
                null,
                List.of(
                        "systemd-analyze",
                        "verify",
                        "--man=no",
                        tmp.resolve("typo.service").toString()),
                Map.of());
        assertTrue(
                (new String(typo.out(), StandardCharsets.UTF_8) + typo.err()).contains("ProtectClok"),
                "systemd-analyze reports an unknown key: " + typo.err());

        Tools.Result r = Tools.run(
                tmp,
                null,
                List.of(
                        "systemd-analyze",
                        "verify",
                        // the man pages named in Documentation= are installed by install.sh, not by the build
                        "--man=no",
                        tmp.resolve("cryptforward.socket").toString(),
                        tmp.resolve("cryptforward.service").toString()),
                Map.of());
        String said = new String(r.out(), StandardCharsets.UTF_8) + r.err();
        assertEquals(0, r.exit(), said);
        assertEquals("", said.strip(), "systemd has something to say about the units");
    }
}
