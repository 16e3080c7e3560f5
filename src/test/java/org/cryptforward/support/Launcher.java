package org.cryptforward.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs the built launcher, {@code target/dist/bin/cryptforward}, as a separate process. */
public final class Launcher {
    private Launcher() {}

    /** The launcher built by {@code mvn package} (integration tests run after it). */
    public static Path path() {
        String dist = System.getProperty("dist.dir", "target/dist");
        Path p = Path.of(dist, "bin", "cryptforward");
        if (!Files.isExecutable(p)) {
            throw new IllegalStateException("launcher not built: " + p.toAbsolutePath() + " (run mvn package)");
        }
        return p;
    }

    /** Starts {@code cryptforward ARGS} with {@code stdin} as input and returns the running process (output merged). */
    public static Process start(byte[] stdin, Map<String, String> env, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(path().toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin:/bin");
        pb.environment().putAll(env);
        try {
            Process p = pb.start();
            try (OutputStream in = p.getOutputStream()) {
                in.write(stdin);
            } catch (IOException ignored) {
                // ended early
            }
            return p;
        } catch (IOException e) {
            throw new AssertionError("cannot start " + cmd, e);
        }
    }

    /** The pid of the JVM started by the launcher script {@code launcher} (its child), waiting for it to appear. */
    public static ProcessHandle jvmOf(Process launcher) {
        long until = System.nanoTime() + 20_000_000_000L;
        while (System.nanoTime() < until) {
            // the script forks readlink and dirname first: wait for the child that is java
            var child = launcher.toHandle().children()
                    .filter(c -> c.info().command().map(cmd -> cmd.endsWith("/java")).orElse(false))
                    .findFirst();
            if (child.isPresent()) {
                return child.get();
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw new AssertionError("no JVM under the launcher");
    }

    /** The outcome of one run. */
    public record Run(int exit, String output) {}

    /**
     * Runs {@code cryptforward ARGS} with {@code stdin} streamed in (closed at its end), and the
     * given environment (PATH and nothing else of this JVM's), waiting at most {@code timeoutSeconds}.
     */
    public static Run run(InputStream stdin, Map<String, String> env, long timeoutSeconds, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(path().toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin:/bin");
        pb.environment().putAll(env);
        try {
            Process p = pb.start();
            Thread feeder = new Thread(() -> {
                try (OutputStream in = p.getOutputStream()) {
                    stdin.transferTo(in);
                } catch (IOException ignored) {
                    // the process ended early; its exit code tells
                }
            }, "launcher-stdin");
            feeder.start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("cryptforward did not finish within " + timeoutSeconds + " s");
            }
            feeder.join(10_000);
            return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new AssertionError("cannot start " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
