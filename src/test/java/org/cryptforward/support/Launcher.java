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

/**
 * Runs the built launcher, {@code target/dist/bin/cryptforward}, as a separate process — also
 * as an MTA runs it ({@link #startDeliver}): standard input from a file that starts with a
 * Postfix envelope line, Postfix's environment, stdout and stderr as one stream into a file, no
 * thread of the test per process, so that many can run at once.
 */
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
            var child = launcher.toHandle()
                    .children()
                    .filter(c ->
                            c.info().command().map(cmd -> cmd.endsWith("/java")).orElse(false))
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
            Thread feeder = new Thread(
                    () -> {
                        try (OutputStream in = p.getOutputStream()) {
                            stdin.transferTo(in);
                        } catch (IOException ignored) {
                            // the process ended early; its exit code tells
                        }
                    },
                    "launcher-stdin");
            feeder.start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("cryptforward did not finish within " + timeoutSeconds + " s");
            }
            feeder.join(10_000);
            if (List.of(args).contains("deliver")) {
                MtaExitCodes.check(p.exitValue(), String.join(" ", args));
            }
            return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new AssertionError("cannot start " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static final java.time.format.DateTimeFormatter ASCTIME =
            java.time.format.DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", java.util.Locale.ENGLISH);

    /** What Postfix's local(8) passes to a pipe command, plus JAVA_HOME when the test runs with one. */
    public static Map<String, String> postfixEnv(String recipient, String sender) {
        Map<String, String> env = new java.util.HashMap<>();
        env.put("PATH", "/usr/bin:/bin");
        env.put("LANG", "C");
        env.put("SENDER", sender);
        env.put("RECIPIENT", recipient);
        env.put("ORIGINAL_RECIPIENT", recipient);
        env.put("LOCAL", recipient.contains("@") ? recipient.substring(0, recipient.indexOf('@')) : recipient);
        env.put("USER", "root");
        env.put("LOGNAME", "root");
        String javaHome = System.getenv("JAVA_HOME");
        if (javaHome != null) {
            env.put("JAVA_HOME", javaHome);
        }
        return env;
    }

    /** Writes {@code dir/name}: the message as Postfix pipes it, after {@code From sender  asctime} (two spaces). */
    public static Path postfixInput(Path dir, String name, String sender, byte[] message) {
        byte[] envelope = ("From " + (sender.isEmpty() ? "MAILER-DAEMON" : sender) + "  "
                        + ASCTIME.format(java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC)) + "\n")
                .getBytes(StandardCharsets.US_ASCII);
        Path p = dir.resolve(name);
        try (OutputStream out = Files.newOutputStream(p)) {
            out.write(envelope);
            out.write(message);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return p;
    }

    /** Starts {@code cryptforward deliver --config CONFIG EXTRA}, reading {@code stdin}, writing all output to {@code output}. */
    public static Process startDeliver(Path config, Path stdin, Path output, Map<String, String> env, String... extra) {
        List<String> cmd = new ArrayList<>(List.of(path().toString(), "deliver", "--config", config.toString()));
        cmd.addAll(List.of(extra));
        return start(cmd, stdin, output, env);
    }

    /** Starts a command (the launcher, or a wrapper around it) in {@code /} with exactly the environment {@code env}. */
    public static Process start(List<String> cmd, Path stdin, Path output, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectInput(stdin.toFile())
                .redirectErrorStream(true)
                .redirectOutput(output.toFile())
                .directory(Path.of("/").toFile());
        pb.environment().clear();
        pb.environment().putAll(env);
        try {
            return pb.start();
        } catch (IOException e) {
            throw new AssertionError("cannot start " + cmd, e);
        }
    }

    /** Waits for a process started with an output file (killing it after {@code seconds}) and returns its exit status and output. */
    public static Run finish(Process p, Path output, int seconds) {
        try {
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new AssertionError("cryptforward did not finish within " + seconds + " s");
            }
            // every process finished here is a deliver (started by startDeliver or with its arguments)
            MtaExitCodes.check(p.exitValue(), "deliver started by a test");
            return new Run(p.exitValue(), Files.exists(output) ? Files.readString(output, StandardCharsets.UTF_8) : "");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Runs {@code cryptforward deliver} to its end, as {@link #startDeliver} starts it. */
    public static Run deliver(Path config, Path stdin, Path output, Map<String, String> env, String... extra) {
        return finish(startDeliver(config, stdin, output, env, extra), output, 120);
    }

    /** The JVM under the launcher once it is there, or empty if the launcher ended first or none came within the time. */
    public static java.util.Optional<ProcessHandle> jvmIfStarted(Process launcher, long timeoutMillis) {
        long until = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (System.nanoTime() < until) {
            java.util.Optional<ProcessHandle> java = launcher.toHandle()
                    .children()
                    .filter(h ->
                            h.info().command().map(c -> c.endsWith("/java")).orElse(false))
                    .findFirst();
            if (java.isPresent() || !launcher.isAlive()) {
                return java;
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
        return java.util.Optional.empty();
    }
}
