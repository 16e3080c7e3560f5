package org.cryptforward.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.cryptforward.config.Config;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.keys.KeyDescription;
import org.cryptforward.keys.KeyImporter;
import org.cryptforward.keys.Keyring;
import org.cryptforward.keys.KeyringException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code key}: the keyring of public keys that forwards are encrypted to. */
@Command(
        name = "key",
        description = "Manage the public keys forwards are encrypted to (the keyring named in the configuration).",
        subcommands = {
            KeyCmd.Import.class,
            KeyCmd.ListCmd.class,
            KeyCmd.Show.class,
            KeyCmd.Remove.class,
            KeyCmd.Export.class
        })
final class KeyCmd implements Runnable {
    /** Given to {@code key} or to one of its commands: {@code key --config F list} and {@code key list --config F} alike. */
    @picocli.CommandLine.Mixin
    ConfigFile config = new ConfigFile();

    private final Context context;

    KeyCmd(Context context) {
        this.context = context;
    }

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(
                new picocli.CommandLine(this), "a key command is required: import, list, show, remove or export");
    }

    Keyring keyring() throws Failure {
        Config cfg = loadConfig(config.locate(context.env()), context);
        return new Keyring(cfg.keyring());
    }

    static Config loadConfig(Path file, Context context) throws Failure {
        try {
            return DeliverCmd.loadConfig(file);
        } catch (Failure f) {
            throw Failure.temporary("4.3.5", f.getMessage());
        }
    }

    /** Not found, ambiguous or malformed IDs are usage errors (64); a keyring that cannot be read or written is 75. */
    static Failure keyringFailure(KeyringException e) {
        return switch (e.kind()) {
            case NOT_FOUND, AMBIGUOUS, INVALID_ID -> Failure.usage(e.getMessage());
            case IO, CORRUPT -> Failure.temporary("4.3.0", e.getMessage());
        };
    }

    /** Largest input {@code key import} reads: public keys are small; this is not one. */
    static final int MAX_INPUT = KeyImporter.MAX_INPUT;

    @Command(
            name = "import",
            description = {
                "Import public keys from FILEs or standard input (armored or binary; several keys per file, as gpg --export --armor writes).",
                "A new key must be usable for encryption now, else it is refused with the reason. A secret key is refused. Either way"
                        + " nothing is stored: an import stores all its keys or none (exit 65 for bad input).",
                "Re-importing a key merges new signatures (a renewed expiry, a revocation, a new subkey), even when the result can no longer"
                        + " be used; a bare revocation certificate (as gpg makes next to a new key) is merged into the key it revokes.",
                "Only the owner's verified self-signatures are kept; an encryption subkey with bad key material is not used; a key beyond"
                        + " 64 user IDs, 64 subkeys or 400 self-signatures, or an input over 64 MB, is refused."
            })
    static final class Import implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        KeyCmd parent;

        @Parameters(paramLabel = "FILE", arity = "0..*", description = "Key files; none or '-' reads standard input.")
        List<String> files = new ArrayList<>();

        @Override
        public Integer call() throws Failure {
            Context ctx = parent.context;
            List<KeyImporter.Parsed> inputs = new ArrayList<>();
            if (files.isEmpty()) {
                files.add("-");
            }
            // each input is read as a stream with a size bound (a link to /dev/zero ends with "larger
            // than 64 MB", not with memory exhausted), and refused as soon as it is found wanting
            try {
                for (String f : files) {
                    try {
                        if (f.equals("-")) {
                            inputs.add(KeyImporter.parse("standard input", ctx.in()));
                        } else if (Files.isDirectory(Path.of(f))) {
                            throw Failure.dataError(f + " is a directory");
                        } else {
                            try (InputStream in = Files.newInputStream(Path.of(f))) {
                                inputs.add(KeyImporter.parse(f, in));
                            }
                        }
                    } catch (NoSuchFileException e) {
                        throw Failure.dataError(f + ": no such file");
                    } catch (AccessDeniedException e) {
                        throw Failure.dataError(f + ": permission denied");
                    } catch (IOException e) {
                        throw Failure.dataError(f + ": cannot be read: " + e.getMessage());
                    }
                }
            } catch (KeyImporter.KeyImportException e) {
                throw Failure.dataError(e.getMessage());
            }
            Keyring keyring = parent.keyring();
            try {
                KeyImporter.Result done =
                        new KeyImporter(keyring, Date.from(ctx.clock().instant())).importParsed(inputs);
                for (KeyImporter.Imported im : done.keys()) {
                    ctx.out()
                            .println(im.state().word + " " + im.description().fingerprint()
                                    + (im.state() == KeyImporter.State.UNCHANGED
                                            ? " (already in the keyring)"
                                            : " into " + im.file()));
                    im.description().lines(false).forEach(ctx.out()::println);
                }
                ctx.out().flush();
                for (String w : done.warnings()) {
                    ctx.err().println("cryptforward: warning: " + w);
                }
                return ExitCodes.OK;
            } catch (KeyImporter.KeyImportException e) {
                throw Failure.dataError(e.getMessage());
            } catch (KeyringException e) {
                throw keyringFailure(e);
            }
        }
    }

    @Command(
            name = "list",
            description =
                    "List the keys: fingerprint, whether forwards can be encrypted to it (and why not), expiry, user IDs.")
    static final class ListCmd implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        KeyCmd parent;

        @Option(names = "--json", description = "Print JSON.")
        boolean json;

        @Override
        public Integer call() throws Failure {
            Context ctx = parent.context;
            Date now = Date.from(ctx.clock().instant());
            List<KeyDescription> keys = new ArrayList<>();
            Keyring.Listing listing;
            try {
                listing = parent.keyring().list();
            } catch (KeyringException e) {
                throw keyringFailure(e);
            }
            for (Keyring.Entry e : listing.entries()) {
                keys.add(KeyDescription.of(e.certificate(), now));
            }
            int code = print(ctx, keys);
            ctx.out().flush();
            for (String p : listing.problems()) {
                ctx.err().println("cryptforward: warning: " + p);
            }
            if (listing.ioTrouble()) {
                // the lines above say which files; the exit code says "try again"
                throw Failure.temporary("4.3.0", "some keyring files cannot be read");
            }
            return code;
        }

        private Integer print(Context ctx, List<KeyDescription> keys) {
            if (json) {
                List<Map<String, Object>> out = new ArrayList<>();
                keys.forEach(k -> out.add(k.toMap()));
                ctx.out().println(Json.write(out));
                return ExitCodes.OK;
            }
            if (keys.isEmpty()) {
                ctx.out()
                        .println(
                                "no keys; import one with: gpg --export --armor you@example.org | cryptforward key import");
                return ExitCodes.OK;
            }
            for (KeyDescription k : keys) {
                String usable = k.status().usable()
                        ? "usable"
                        : "NOT USABLE: " + k.status().reason().orElse("");
                String expires = k.status()
                        .expires()
                        .map(d -> "expires " + KeyDescription.day(d))
                        .orElse("no expiry");
                ctx.out().println(k.fingerprint() + "  " + usable + "  " + expires);
                for (String u : k.userIds()) {
                    ctx.out().println("    " + KeyDescription.displayable(u));
                }
            }
            return ExitCodes.OK;
        }
    }

    @Command(
            name = "show",
            description =
                    "Show one key in detail. ID: a fingerprint, a unique suffix of 16+ hex digits, or an e-mail address.")
    static final class Show implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        KeyCmd parent;

        @Parameters(paramLabel = "ID")
        String id;

        @Option(names = "--json", description = "Print JSON.")
        boolean json;

        @Override
        public Integer call() throws Failure {
            Context ctx = parent.context;
            try {
                Date now = Date.from(ctx.clock().instant());
                Keyring.Entry e = parent.keyring().find(id, now);
                KeyDescription d = KeyDescription.of(e.certificate(), now);
                if (json) {
                    ctx.out().println(Json.write(d.toMap()));
                } else {
                    ctx.out().println(e.file());
                    d.lines(true).forEach(ctx.out()::println);
                }
                return ExitCodes.OK;
            } catch (KeyringException e) {
                throw keyringFailure(e);
            }
        }
    }

    @Command(name = "remove", description = "Remove one key from the keyring.")
    static final class Remove implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        KeyCmd parent;

        @Parameters(paramLabel = "ID")
        String id;

        @Override
        public Integer call() throws Failure {
            Keyring keyring = parent.keyring();
            try (Keyring.Lock lock = keyring.lock()) {
                Keyring.Entry e =
                        keyring.find(id, Date.from(parent.context.clock().instant()));
                keyring.remove(e);
                parent.context.out().println("removed " + e.label());
                return ExitCodes.OK;
            } catch (KeyringException ex) {
                throw keyringFailure(ex);
            }
        }
    }

    @Command(name = "export", description = "Print one key, ASCII-armored, as gpg --import reads it.")
    static final class Export implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        KeyCmd parent;

        @Parameters(paramLabel = "ID")
        String id;

        @Override
        public Integer call() throws Failure {
            try {
                Keyring.Entry e = parent.keyring()
                        .find(id, Date.from(parent.context.clock().instant()));
                parent.context.out().write(Keyring.armor(e.certificate()));
                parent.context.out().flush();
                return ExitCodes.OK;
            } catch (KeyringException e) {
                throw keyringFailure(e);
            } catch (IOException e) {
                throw Failure.temporary("4.3.0", "cannot export: " + e.getMessage());
            }
        }
    }
}
