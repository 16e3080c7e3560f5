package org.cryptforward.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The thin client's class-data-sharing archive next to the built jar ({@code lib/client.jsa}),
 * made as {@code install.sh} makes it: the classes one delivery through a service loads, then
 * {@code -Xshare:dump} through the launcher itself (so that the class path is the one the launcher
 * gives). With it in place, the launcher starts {@code deliver} as the thin client whenever the
 * service's socket exists — the path an installation takes.
 */
public final class ClientArchive {
    private ClientArchive() {}

    /** The archive, made once per build of the jar. */
    public static synchronized Path ensure(Path work) {
        Path launcher = Launcher.path().toAbsolutePath();
        Path lib = launcher.getParent().resolveSibling("lib");
        Path archive = lib.resolve("client.jsa");
        try {
            if (Files.exists(archive)
                    && Files.getLastModifiedTime(archive)
                                    .compareTo(Files.getLastModifiedTime(lib.resolve("cryptforward.jar")))
                            > 0) {
                return archive;
            }
            Files.deleteIfExists(archive);
            // a fresh directory: the service's log of an earlier run would seem to say it has started
            Path dir = Files.createDirectories(work.resolve("client-archive-" + System.nanoTime()));
            // a socket path short enough wherever the build is (the loader allows 100 characters)
            Path run = Files.createTempDirectory(Path.of("/tmp"), "cf-archive");
            Path socket = run.resolve("s.sock");
            // a relay that is not there: the service defers, which is all a training run needs
            Sandbox sb =
                    new Sandbox(dir, 9, "\n[service]\nsocket = \"" + socket + "\"\n", true, List.of(TestKeys.ED.email));
            Path classes = dir.resolve("client.classes");
            try (ServeProcess ignored = new ServeProcess(sb.config, socket, dir.resolve("serve.log"))) {
                Map<String, String> env = Launcher.postfixEnv("root@cf.test", "cron@host.example");
                env.put(
                        "CRYPTFORWARD_JAVA_OPTS",
                        "-XX:DumpLoadedClassList=" + classes + " -Dcryptforward.launch=client");
                Path in = Launcher.postfixInput(
                        dir,
                        "m.in",
                        "cron@host.example",
                        "From: cron@host.example\nSubject: training\n\nhello\n".getBytes(StandardCharsets.US_ASCII));
                Launcher.Run r = Launcher.deliver(sb.config, in, dir.resolve("m.out"), env);
                // the relay is not there: the service defers; anything else means it did not take the request
                if (r.exit() != 75 || !r.output().startsWith("4.4.1 ")) {
                    throw new AssertionError("the training delivery: " + r.exit() + " " + r.output());
                }
            } finally {
                Files.deleteIfExists(socket);
                Files.deleteIfExists(run);
            }
            // written aside, put in place only when whole: a failed dump leaves no archive behind
            Path aside = lib.resolve("client.jsa.new");
            Files.deleteIfExists(aside);
            Tools.Result dump = Tools.run(
                    dir,
                    null,
                    List.of(launcher.toString()),
                    Map.of(
                            "CRYPTFORWARD_JAVA_OPTS",
                            "-Xshare:dump -XX:SharedClassListFile=" + classes + " -XX:SharedArchiveFile=" + aside));
            if (dump.exit() != 0 || !Files.exists(aside)) {
                Files.deleteIfExists(aside);
                throw new AssertionError(
                        "cannot make " + archive + ": " + new String(dump.out(), StandardCharsets.UTF_8) + dump.err());
            }
            Files.move(aside, archive, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return archive;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
