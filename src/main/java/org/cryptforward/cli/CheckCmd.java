package org.cryptforward.cli;

import java.util.List;
import java.util.concurrent.Callable;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.pipeline.Checker;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code check}: is everything in place for deliveries to succeed? Every finding is printed
 * ({@code ok:}, {@code warning:}, {@code error:}), all of them, not only the first error.
 *
 * <p>Exit 0 when there is no error (warnings, such as a key that expires within 30 days, do not
 * count), else 78, EX_CONFIG of sysexits.h: "something was found in an unconfigured or
 * misconfigured state". {@code check} is run by an administrator or a monitoring job, never by
 * the MTA, so it need not keep to {@code deliver}'s codes; 78 keeps "the setup is wrong" apart
 * from 64 (a wrong command line) and from 75 (which {@code deliver} uses for "try again").
 */
@Command(
        name = "check",
        description = {
            "Check the configuration and everything it points to: keys present and usable (warns when one expires within 30 days),"
                    + " mailbox and state directory writable, password file private; whether the delivery service answers, as which user,"
                    + " running which build. Every problem is listed.",
            "Exit status 0 when all holds, 78 (EX_CONFIG) otherwise."
        })
final class CheckCmd implements Callable<Integer> {
    @Mixin
    ConfigFile config = new ConfigFile();

    @Option(
            names = "--relay",
            description = "Also connect to the relay: STARTTLS/TLS and AUTH, then quit without sending.")
    boolean relay;

    private final Context context;

    CheckCmd(Context context) {
        this.context = context;
    }

    @Override
    public Integer call() {
        List<Checker.Finding> findings =
                new java.util.ArrayList<>(new Checker(context.clock()).check(config.locate(context.env()), relay));
        findings.add(service(config.locate(context.env())));
        boolean failed = false;
        for (Checker.Finding f : findings) {
            context.out().println(f);
            failed |= f.level() == Checker.Level.ERROR;
        }
        long errors =
                findings.stream().filter(f -> f.level() == Checker.Level.ERROR).count();
        long warnings = findings.stream()
                .filter(f -> f.level() == Checker.Level.WARNING)
                .count();
        context.out()
                .println(
                        errors == 0
                                ? "all good"
                                        + (warnings > 0
                                                ? " (" + warnings + " warning" + (warnings > 1 ? "s" : "") + ")"
                                                : "")
                                : errors + " problem" + (errors > 1 ? "s" : "") + " found");
        return failed ? ExitCodes.CONFIG : ExitCodes.OK;
    }

    /**
     * Whether the resident service answers for this configuration, as which user, and whether it
     * runs this build (the installed one, when check is run from the installation). Never an
     * error: without a service, deliver works in-process.
     */
    Checker.Finding service(java.nio.file.Path file) {
        java.nio.file.Path socket = ServiceClient.socketOf(
                ServiceClient.configFile(file, context.env()).toAbsolutePath().normalize());
        java.util.Map<String, String> a = new ServiceClient(context).ping(socket, file);
        if (a == null) {
            return new Checker.Finding(
                    Checker.Level.OK, "no delivery service answers on " + socket + ": deliver works in-process");
        }
        if (!"accepted".equals(a.get("status"))) {
            return new Checker.Finding(
                    Checker.Level.WARNING,
                    "the delivery service on " + socket + " refuses this user and configuration ("
                            + a.getOrDefault("reason", "another protocol version") + "): deliver works in-process");
        }
        String build = org.cryptforward.service.BuildId.current();
        if (!build.equals(a.get("build"))) {
            return new Checker.Finding(
                    Checker.Level.WARNING,
                    "the delivery service on " + socket + " (user " + a.get("user") + ") runs another build ("
                            + a.get("build") + ") than this one (" + build
                            + "): restart it (systemctl restart cryptforward.service)");
        }
        return new Checker.Finding(
                Checker.Level.OK,
                "the delivery service answers on " + socket + " as user " + a.get("user") + ", running this build");
    }
}
