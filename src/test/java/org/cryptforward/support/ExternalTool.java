package org.cryptforward.support;

import org.junit.jupiter.api.Assumptions;

/**
 * The one policy for a test that needs a program we do not ship (gpg, sq, rnp, python3): in CI
 * ({@code CI=true}, which {@code .ci/run} sets) a missing tool fails the test, since CI installs
 * them all and a silent skip would hide a broken set-up; elsewhere the test is skipped, saying
 * which tool is missing and how to install it.
 */
public final class ExternalTool {
    private ExternalTool() {}

    /** Whether this run is CI's. */
    public static boolean inCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /** Returns if {@code tool} is installed; else fails (CI) or skips the test (elsewhere). */
    public static void require(String tool) {
        if (!Tools.exists(tool)) {
            String why = tool + " is not installed (" + install(tool) + ")";
            if (inCi()) {
                throw new AssertionError(why + "; CI must have it");
            }
            Assumptions.abort("skipped: " + why);
        }
    }

    /**
     * For a test that covers several tools and runs its part for each installed one: whether
     * {@code tool} is installed; in CI a missing one fails, elsewhere its part is skipped with a
     * line on standard error.
     */
    public static boolean available(String tool) {
        if (Tools.exists(tool)) {
            return true;
        }
        String why = tool + " is not installed (" + install(tool) + ")";
        if (inCi()) {
            throw new AssertionError(why + "; CI must have it");
        }
        System.err.println("skipped the " + tool + " part: " + why);
        return false;
    }

    private static String install(String tool) {
        return switch (tool) {
            case "gpg" -> "apt-get install gnupg";
            case "sq" -> "apt-get install sq";
            case "rnp" -> "apt-get install rnp";
            case "python3" -> "apt-get install python3";
            case "systemd-socket-activate", "systemd-analyze" -> "apt-get install systemd";
            default -> "install " + tool;
        };
    }
}
