package org.cryptforward.service;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Which build of cryptforward a process runs: the version and the jar it was loaded from (its
 * path, size and modification time). {@code check} compares the service's with its own to say
 * whether the service runs the installed build or an older one still (restart it).
 */
public final class BuildId {
    private BuildId() {}

    /** This process's build. */
    public static String current() {
        String version = BuildId.class.getPackage().getImplementationVersion();
        String where;
        try {
            Path p = Path.of(BuildId.class
                    .getProtectionDomain()
                    .getCodeSource()
                    .getLocation()
                    .toURI());
            BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
            where = p + " " + a.size() + " " + a.lastModifiedTime().toMillis();
        } catch (IOException | URISyntaxException | RuntimeException e) {
            where = "unknown";
        }
        return (version == null ? "dev" : version) + " " + where;
    }
}
