package org.cryptforward.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This machine's mail name, found without DNS (a lookup could hang a delivery): Debian's
 * {@code /etc/mailname}, else the kernel's host name, else {@code localhost}.
 */
public final class SystemNames {
    private SystemNames() {}

    public static String mailName() {
        for (Path p :
                new Path[] {Path.of("/etc/mailname"), Path.of("/proc/sys/kernel/hostname"), Path.of("/etc/hostname")}) {
            String name = firstLine(p);
            if (name != null && name.matches("[A-Za-z0-9.-]+")) {
                return name;
            }
        }
        return "localhost";
    }

    private static String firstLine(Path p) {
        try {
            if (!Files.isReadable(p)) {
                return null;
            }
            String s = new String(Files.readAllBytes(p), StandardCharsets.US_ASCII).strip();
            int nl = s.indexOf('\n');
            return nl < 0 ? s : s.substring(0, nl).strip();
        } catch (IOException | SecurityException e) {
            return null;
        }
    }
}
