package org.cryptforward.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The built distribution ({@code target/dist}, from the {@code dist.dir} system property that
 * failsafe sets) run as an MTA runs it: a separate process per delivery, the message on standard
 * input after a Postfix-style envelope line, Postfix's environment, stdout and stderr as one pipe.
 */
public final class Dist {
    private static final DateTimeFormatter ASCTIME = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", Locale.ENGLISH);

    /** A finished run: the exit status and everything it printed. */
    public record Result(int exit, String output) {}

    private Dist() {}

    public static Path launcher() {
        Path p = Path.of(System.getProperty("dist.dir", "target/dist")).resolve("bin/cryptforward");
        if (!Files.isExecutable(p)) {
            throw new IllegalStateException(p + " not found: run the integration tests after `mvn package`");
        }
        return p;
    }

    /** What Postfix's local(8) passes to a pipe command, plus JAVA_HOME when the test runs with one. */
    public static Map<String, String> postfixEnv(String recipient, String sender) {
        Map<String, String> env = new HashMap<>();
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

    /** The message as Postfix pipes it: {@code From sender  asctime} (two spaces), then the message. */
    public static Path postfixInput(Path dir, String name, String sender, byte[] message) {
        try {
            byte[] envelope = ("From " + (sender.isEmpty() ? "MAILER-DAEMON" : sender) + "  "
                    + ASCTIME.format(ZonedDateTime.now(ZoneOffset.UTC)) + "\n").getBytes(StandardCharsets.US_ASCII);
            Path p = dir.resolve(name);
            try (var out = Files.newOutputStream(p)) {
                out.write(envelope);
                out.write(message);
            }
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Starts {@code cryptforward deliver --config CONFIG} with stdin from a file; output goes to {@code output}. */
    public static Process startDeliver(Path config, Path stdin, Path output, Map<String, String> env, String... extra) {
        List<String> cmd = new ArrayList<>(List.of(launcher().toString(), "deliver", "--config", config.toString()));
        cmd.addAll(List.of(extra));
        return start(cmd, stdin, output, env);
    }

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
            throw new UncheckedIOException(e);
        }
    }

    /** Waits for a process (at most {@code seconds}) and returns its exit status and output. */
    public static Result finish(Process p, Path output, int seconds) {
        try {
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                kill(p);
                throw new AssertionError("cryptforward did not finish within " + seconds + " s");
            }
            return new Result(p.exitValue(), Files.exists(output) ? Files.readString(output, StandardCharsets.UTF_8) : "");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Runs a delivery to its end. */
    public static Result deliver(Path config, Path stdin, Path output, Map<String, String> env, String... extra) {
        return finish(startDeliver(config, stdin, output, env, extra), output, 120);
    }

    /** The JVM the launcher started, once it is there (empty if the launcher ended first). */
    public static Optional<ProcessHandle> jvm(Process launcher, long timeoutMillis) {
        long until = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (System.nanoTime() < until) {
            Optional<ProcessHandle> java = launcher.toHandle().children()
                    .filter(h -> h.info().command().map(c -> c.endsWith("/java")).orElse(false))
                    .findFirst();
            if (java.isPresent() || !launcher.isAlive()) {
                return java;
            }
            sleep(1);
        }
        return Optional.empty();
    }

    /** SIGKILL to the launcher's JVM and the launcher. */
    public static void kill(Process launcher) {
        launcher.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
        launcher.destroyForcibly();
    }

    public static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
