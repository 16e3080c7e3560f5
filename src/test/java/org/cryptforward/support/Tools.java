package org.cryptforward.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs external programs (gpg, sq, rnp, python3...) with a time limit, capturing their output. */
public final class Tools {
    private Tools() {}

    /** The result of one program run. */
    public record Result(int exit, byte[] out, String err) {}

    public static Result run(Path workDir, byte[] stdin, List<String> command, java.util.Map<String, String> env) {
        try {
            ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile());
            pb.environment().putAll(env);
            Path errFile = Files.createTempFile(workDir, "stderr", ".txt");
            pb.redirectError(errFile.toFile());
            Process p = pb.start();
            Thread feeder = new Thread(() -> {
                try (var in = p.getOutputStream()) {
                    if (stdin != null) {
                        in.write(stdin);
                    }
                } catch (IOException ignored) {
                    // the program may not read its input
                }
            });
            feeder.start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out: " + command);
            }
            feeder.join();
            String err = Files.readString(errFile);
            Files.deleteIfExists(errFile);
            return new Result(p.exitValue(), out, err);
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public static Result run(Path workDir, byte[] stdin, String... command) {
        return run(workDir, stdin, List.of(command), java.util.Map.of());
    }

    /** Whether a program is on the PATH. */
    public static boolean exists(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }

    public static List<String> list(String... parts) {
        return new ArrayList<>(List.of(parts));
    }
}
