package org.cryptforward.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The OpenPGP tools the interoperability tests run — GnuPG ({@code gpg}), Sequoia ({@code sq})
 * and RNP ({@code rnp}, {@code rnpkeys}) — each with a private home in a temporary directory,
 * never the user's. Keys are made at a faked time in the past, so that a key meant to be valid
 * never expires and a key meant to be expired already has, whenever the tests run.
 */
public final class KeyTools {
    /** When the test keys are made: 2020-01-01 00:00 UTC. */
    public static final String BIRTH = "20200101T000000";

    private KeyTools() {}

    /** What a tool printed and how it ended. */
    public record Result(int exit, byte[] out, String err) {
        public String text() {
            return new String(out, StandardCharsets.UTF_8);
        }

        public Result ok(String what) {
            if (exit != 0) {
                throw new AssertionError(what + " failed (exit " + exit + "): " + err + text());
            }
            return this;
        }
    }

    /** Whether a tool is installed (CI installs gnupg, sq and rnp; see .ci/run). */
    public static boolean installed(String tool) {
        return Tools.exists(tool);
    }

    /** Runs a command with {@code stdin} in {@code home}, which is also its HOME; C locale; no inherited GnuPG home. */
    public static Result exec(Path home, byte[] stdin, List<String> command) {
        List<String> full = new ArrayList<>(List.of("env", "-u", "GNUPGHOME", "-u", "GPG_AGENT_INFO"));
        full.addAll(command);
        Tools.Result r = Tools.run(home, stdin, full, Map.of("HOME", home.toString(), "LC_ALL", "C"));
        return new Result(r.exit(), r.out(), r.err());
    }

    static Path privateDir(Path p) {
        try {
            Files.createDirectories(p);
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** GnuPG 2.2 with its own home directory (and its own agent, stopped by {@link #close()}). */
    public static final class Gpg implements AutoCloseable {
        public final Path home;
        private final Path dir;

        public Gpg(Path dir) {
            this.dir = privateDir(dir);
            this.home = privateDir(dir.resolve("gnupg"));
        }

        /** Runs gpg at a faked time ({@code null}: now), without passphrases or prompts. */
        public Result at(String fakedTime, byte[] stdin, String... args) {
            List<String> cmd = new ArrayList<>(List.of(
                    "gpg",
                    "--homedir",
                    home.toString(),
                    "--batch",
                    "--no-tty",
                    "--yes",
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase=",
                    "--no-auto-key-locate"));
            if (fakedTime != null) {
                cmd.add("--faked-system-time");
                cmd.add(fakedTime);
            }
            cmd.addAll(List.of(args));
            return exec(dir, stdin, cmd);
        }

        public Result run(String... args) {
            return at(null, new byte[0], args);
        }

        /** A new primary key ({@code algo} e.g. rsa3072, ed25519; {@code usage} e.g. "cert,sign"); its fingerprint. */
        public String generate(String time, String userId, String algo, String usage, String expire) {
            at(time, new byte[0], "--quick-gen-key", userId, algo, usage, expire)
                    .ok("gpg --quick-gen-key " + userId);
            return fingerprint(userId.replaceAll(".*<(.*)>.*", "$1"));
        }

        /** Adds a subkey ({@code algo} e.g. rsa3072, cv25519); its fingerprint. */
        public String addSubkey(String time, String primary, String algo, String usage, String expire) {
            List<String> before = subkeys(primary);
            at(time, new byte[0], "--quick-add-key", primary, algo, usage, expire)
                    .ok("gpg --quick-add-key");
            List<String> after = subkeys(primary);
            after.removeAll(before);
            if (after.size() != 1) {
                throw new AssertionError("expected one new subkey, got " + after);
            }
            return after.get(0);
        }

        /** Revokes the subkey {@code subkey} of {@code primary}. */
        public void revokeSubkey(String time, String primary, String subkey) {
            int index = subkeys(primary).indexOf(subkey) + 1;
            byte[] commands = ("key " + index + "\nrevkey\ny\n0\n\ny\nsave\n").getBytes(StandardCharsets.US_ASCII);
            at(time, commands, "--command-fd", "0", "--edit-key", primary).ok("gpg --edit-key revkey");
        }

        /** The revocation certificate gpg made along with the key, made importable. */
        public byte[] revocationCertificate(String primary) {
            try {
                Path rev = home.resolve("openpgp-revocs.d").resolve(primary + ".rev");
                return Files.readString(rev)
                        .replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----")
                        .getBytes(StandardCharsets.US_ASCII);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        public String fingerprint(String query) {
            for (String line : colons("--list-keys", query)) {
                if (line.startsWith("fpr:")) {
                    return line.split(":")[9];
                }
            }
            throw new AssertionError("gpg knows no key " + query);
        }

        /** Fingerprints of the subkeys of {@code primary}, in order, revoked and expired ones included. */
        public List<String> subkeys(String primary) {
            List<String> out = new ArrayList<>();
            boolean sub = false;
            for (String line : colons("--list-keys", "--list-options", "show-unusable-subkeys", primary)) {
                if (line.startsWith("sub:")) {
                    sub = true;
                } else if (line.startsWith("fpr:") && sub) {
                    out.add(line.split(":")[9]);
                    sub = false;
                } else if (line.startsWith("pub:")) {
                    sub = false;
                }
            }
            return out;
        }

        public List<String> colons(String... args) {
            List<String> full = new ArrayList<>(List.of("--with-colons", "--fixed-list-mode"));
            full.addAll(List.of(args));
            return List.of(run(full.toArray(new String[0]))
                    .ok("gpg " + String.join(" ", args))
                    .text()
                    .split("\n"));
        }

        public byte[] exportPublic(String... ids) {
            List<String> args = new ArrayList<>(List.of("--export", "--armor"));
            args.addAll(List.of(ids));
            return run(args.toArray(new String[0])).ok("gpg --export").out();
        }

        public byte[] exportSecret(String id, boolean armor) {
            return armor
                    ? run("--export-secret-keys", "--armor", id)
                            .ok("gpg --export-secret-keys")
                            .out()
                    : run("--export-secret-keys", id)
                            .ok("gpg --export-secret-keys")
                            .out();
        }

        public Result importKeys(byte[] keys) {
            return at(null, keys, "--import");
        }

        /** Decrypts with gpg; fails the test if gpg does not. */
        public byte[] decrypt(byte[] message) {
            return at(null, message, "--decrypt").ok("gpg --decrypt").out();
        }

        @Override
        public void close() {
            exec(dir, new byte[0], List.of("gpgconf", "--homedir", home.toString(), "--kill", "all"));
        }
    }

    /** Sequoia's {@code sq}: keys are files. */
    public static final class Sq {
        private final Path dir;

        public Sq(Path dir) {
            this.dir = privateDir(dir);
        }

        /** A new key ({@code suite}: cv25519, rsa3k, rsa4k) that never expires; the path of its secret key file. */
        public Path generate(String userId, String suite) {
            Path key = dir.resolve(userId.replaceAll("[^a-z0-9]", "_") + ".key");
            exec(
                            dir,
                            new byte[0],
                            List.of(
                                    "sq",
                                    "key",
                                    "generate",
                                    "--userid",
                                    userId,
                                    "--cipher-suite",
                                    suite,
                                    "--creation-time",
                                    BIRTH.substring(0, 8),
                                    "--expires",
                                    "never",
                                    "--export",
                                    key.toString()))
                    .ok("sq key generate");
            return key;
        }

        public byte[] certificate(Path key) {
            return exec(dir, new byte[0], List.of("sq", "key", "extract-cert", key.toString()))
                    .ok("sq key extract-cert")
                    .out();
        }

        public byte[] decrypt(Path key, byte[] message) {
            return exec(dir, message, List.of("sq", "decrypt", "--recipient-key", key.toString()))
                    .ok("sq decrypt")
                    .out();
        }
    }

    /** RNP's {@code rnpkeys} and {@code rnp}, with their own home directory. */
    public static final class Rnp {
        private final Path dir;
        private final Path home;

        public Rnp(Path dir) {
            this.dir = privateDir(dir);
            this.home = privateDir(dir.resolve("rnp"));
        }

        /** An RSA 3072 key with an RSA encryption subkey, no expiry, made in batch mode; its fingerprint. */
        public String generateRsa(String userId) {
            exec(
                            dir,
                            new byte[0],
                            List.of(
                                    "rnpkeys",
                                    "--homedir",
                                    home.toString(),
                                    "--generate-key",
                                    "--userid",
                                    userId,
                                    "--password",
                                    "",
                                    "--numbits",
                                    "3072",
                                    "--expiration",
                                    "0",
                                    "--current-time",
                                    "2020-01-01"))
                    .ok("rnpkeys --generate-key");
            return fingerprint(userId);
        }

        /** An EdDSA key with a Curve25519 ECDH subkey (the "--expert" choice 22), no expiry; its fingerprint. */
        public String generateEd25519(String userId) {
            exec(
                            dir,
                            "22\n".getBytes(StandardCharsets.US_ASCII),
                            List.of(
                                    "rnpkeys",
                                    "--homedir",
                                    home.toString(),
                                    "--generate-key",
                                    "--expert",
                                    "--userid",
                                    userId,
                                    "--password",
                                    "",
                                    "--expiration",
                                    "0",
                                    "--current-time",
                                    "2020-01-01"))
                    .ok("rnpkeys --generate-key --expert");
            return fingerprint(userId);
        }

        String fingerprint(String userId) {
            String listing = exec(
                            dir, new byte[0], List.of("rnpkeys", "--homedir", home.toString(), "--list-keys", userId))
                    .ok("rnpkeys --list-keys")
                    .text();
            for (String line : listing.split("\n")) {
                String t = line.strip();
                if (t.matches("[0-9a-f]{40}")) {
                    return t.toUpperCase(java.util.Locale.ROOT);
                }
            }
            throw new AssertionError("no fingerprint in: " + listing);
        }

        public byte[] exportPublic(String userId) {
            return exec(dir, new byte[0], List.of("rnpkeys", "--homedir", home.toString(), "--export-key", userId))
                    .ok("rnpkeys --export-key")
                    .out();
        }

        public byte[] decrypt(byte[] message) {
            return exec(
                            dir,
                            message,
                            List.of(
                                    "rnp",
                                    "--homedir",
                                    home.toString(),
                                    "--decrypt",
                                    "--password",
                                    "",
                                    "--output",
                                    "-"))
                    .ok("rnp --decrypt")
                    .out();
        }
    }
}
