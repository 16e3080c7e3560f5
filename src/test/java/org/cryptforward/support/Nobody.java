package org.cryptforward.support;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;

/**
 * What a test needs to run the launcher as {@code nobody} (uid 65534), as Postfix runs an
 * {@code /etc/aliases} pipe: root, {@code setpriv}, and a build directory that every user can
 * reach. A checkout under a private directory (a home of mode 0700, a {@code mktemp -d}) cannot
 * be reached by {@code nobody}; such a test is skipped with that reason instead of failing on
 * "permission denied" — the promise it checks is not at stake there.
 */
public final class Nobody {
    private Nobody() {}

    public static final int UID = 65534;

    /**
     * Skips the calling test unless the launcher and {@code target/} can be used by {@code nobody}
     * — in CI ({@code CI=true}) a build nobody cannot reach fails instead, since {@code .ci/run}
     * makes it reachable and a silent skip would hide that these tests did not run.
     */
    public static void assumeAvailable() {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root to switch to nobody");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "needs setpriv (util-linux)");
        String blocked = unreachable();
        if (blocked != null && ExternalTool.inCi()) {
            throw new AssertionError("nobody cannot use the build: " + blocked + "; CI must run these tests");
        }
        assumeTrue(blocked == null, () -> "nobody cannot use the build: " + blocked);
    }

    /** Why {@code nobody} cannot run the built launcher, or null when it can. */
    static String unreachable() {
        Path blocked = firstPrivateAncestor(Path.of("target").toAbsolutePath());
        if (blocked != null) {
            return blocked + " is not traversable by other users";
        }
        Path launcher = Launcher.path().toAbsolutePath();
        Path jar = launcher.getParent().resolveSibling("lib").resolve("cryptforward.jar");
        for (Path p : new Path[] {launcher, jar}) {
            try {
                if (!Files.getPosixFilePermissions(p).contains(PosixFilePermission.OTHERS_READ)) {
                    return p + " is not readable by other users (umask?)";
                }
            } catch (IOException e) {
                return p + " cannot be examined: " + e.getMessage();
            }
        }
        return null;
    }

    /** The first directory from {@code /} down to {@code p} that others cannot traverse, or null. */
    static Path firstPrivateAncestor(Path p) {
        Path current = p.getRoot();
        for (Path name : p) {
            current = current.resolve(name);
            try {
                if (Files.isDirectory(current)
                        && !Files.getPosixFilePermissions(current).contains(PosixFilePermission.OTHERS_EXECUTE)) {
                    return current;
                }
            } catch (IOException | UnsupportedOperationException e) {
                return current;
            }
        }
        return null;
    }
}
