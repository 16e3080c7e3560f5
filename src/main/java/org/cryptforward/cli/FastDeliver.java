package org.cryptforward.cli;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * The command line an MTA runs — {@code deliver} with its few options — read without building
 * picocli's model of every command, which costs a delivery a noticeable part of its start-up.
 * Anything else, including every error and {@code --help}, goes to picocli as usual; a test
 * checks that both read the same arguments alike.
 */
final class FastDeliver {
    private FastDeliver() {}

    /** A ready {@code deliver} command, or null when picocli must read these arguments. */
    static DeliverCmd parse(Context context, String[] args) {
        DeliverCmd cmd = new DeliverCmd(context);
        boolean seenCommand = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!seenCommand) {
                if (a.equals("--debug")) {
                    cmd.debug = true;
                } else if (a.equals("deliver")) {
                    seenCommand = true;
                } else {
                    return null;
                }
                continue;
            }
            String name = a;
            String value = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            switch (name) {
                case "--dry-run" -> {
                    if (value != null) {
                        return null;
                    }
                    cmd.dryRun = true;
                }
                case "--debug" -> {
                    if (value != null) {
                        return null;
                    }
                    cmd.debug = true;
                }
                case "--config", "--recipient", "--sender" -> {
                    if (value == null) {
                        if (i + 1 >= args.length || args[i + 1].startsWith("-")) {
                            return null;
                        }
                        value = args[++i];
                    }
                    switch (name) {
                        case "--config" -> {
                            try {
                                cmd.config.path = Path.of(value);
                            } catch (InvalidPathException e) {
                                return null;
                            }
                        }
                        case "--recipient" -> cmd.recipient = value;
                        default -> cmd.sender = value;
                    }
                }
                default -> {
                    return null;
                }
            }
        }
        return seenCommand ? cmd : null;
    }
}
