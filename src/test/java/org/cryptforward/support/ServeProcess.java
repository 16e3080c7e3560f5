package org.cryptforward.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code cryptforward serve --verbose} through the built launcher, as a supervisor (or CI) runs
 * it: its own process (the launcher execs the JVM, so the process is the JVM), output into a log
 * file, optionally under a wrapper such as {@code setpriv} to run as another user. Started when
 * its socket is in place.
 */
public final class ServeProcess implements AutoCloseable {
    public final Process process;
    public final Path socket;
    public final Path log;

    public ServeProcess(Path config, Path socket, Path log, List<String> wrapper) {
        this.socket = socket;
        this.log = log;
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.addAll(List.of(
                Launcher.path().toAbsolutePath().toString(), "serve", "--verbose", "--config", config.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .directory(new java.io.File("/"));
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin:/bin");
        String javaHome = System.getenv("JAVA_HOME");
        if (javaHome != null) {
            pb.environment().put("JAVA_HOME", javaHome);
        }
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new AssertionError("cannot start " + cmd, e);
        }
        long until = System.nanoTime() + 30_000_000_000L;
        while (!log().contains("cryptforward serve: serving ") && System.nanoTime() < until && process.isAlive()) {
            sleep(20);
        }
        if (!log().contains("cryptforward serve: serving ")) {
            process.destroyForcibly();
            throw new AssertionError("the service did not start: " + log());
        }
    }

    public ServeProcess(Path config, Path socket, Path log) {
        this(config, socket, log, List.of());
    }

    /** The JVM (the wrapper's child when there is one). */
    public ProcessHandle jvm() {
        return process.toHandle()
                .descendants()
                .filter(h -> h.info().command().map(c -> c.endsWith("/java")).orElse(false))
                .findFirst()
                .orElse(process.toHandle());
    }

    public String log() {
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** How many requests the service ran to their end, with exit status {@code code}. */
    public long ended(int code) {
        return log().lines()
                .filter(l -> l.matches("cryptforward serve: request .*ended with " + code + "( .*)?"))
                .count();
    }

    public void signal(String name) {
        Tools.Result r = Tools.run(Path.of("/"), null, "kill", "-" + name, String.valueOf(jvm().pid()));
        if (r.exit() != 0) {
            throw new AssertionError("kill -" + name + ": " + r.err());
        }
    }

    public void kill9() {
        ProcessHandle j = jvm();
        j.destroyForcibly();
        process.destroyForcibly();
        try {
            process.waitFor(20, TimeUnit.SECONDS);
            j.onExit().get(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    public int waitFor(int seconds) {
        try {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                throw new AssertionError("the service did not end within " + seconds + " s: " + log());
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public void waitForLog(String text, int seconds) {
        long until = System.nanoTime() + seconds * 1_000_000_000L;
        while (!log().contains(text) && System.nanoTime() < until) {
            sleep(20);
        }
        if (!log().contains(text)) {
            throw new AssertionError("no '" + text + "' in the service's log: " + log());
        }
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.toHandle().descendants().forEach(ProcessHandle::destroy);
            process.destroy();
            try {
                if (!process.waitFor(60, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
