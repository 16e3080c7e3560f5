package org.cryptforward.keys;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Optional;
import java.util.Set;

/**
 * The one rule for the modes of the keyring, used by {@code deliver} and by {@code check}: a
 * keyring directory or key file that group or others may write is not trusted, because whoever
 * can write it can replace a key with one of their own and read every forward. {@code deliver}
 * then treats the key as unusable (a content-free notice, or a deferral without a local copy);
 * {@code check} reports the same words as an error. On a file system without POSIX modes there is
 * nothing to judge, and nothing is reported.
 */
public final class KeyringModes {
    private KeyringModes() {}

    /** Why the keyring directory is not trusted, if it is not. */
    public static Optional<String> directoryProblem(Path dir) {
        return writableByOthers(dir)
                ? Optional.of(
                        "keyring " + dir + " is writable by group or others, who could replace a key; chmod 755 it")
                : Optional.empty();
    }

    /** Why a key file is not trusted, if it is not. */
    public static Optional<String> fileProblem(Path file) {
        return writableByOthers(file)
                ? Optional.of("keyring file " + file
                        + " is writable by group or others, who could replace the key; chmod 644 it")
                : Optional.empty();
    }

    /** Why a key read from {@code file} in {@code dir} is not trusted: the directory first, then the file. */
    public static Optional<String> problem(Path dir, Path file) {
        Optional<String> d = directoryProblem(dir);
        return d.isPresent() ? d : fileProblem(file);
    }

    private static boolean writableByOthers(Path p) {
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p); // the target, as the keyring reads it
            return perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE);
        } catch (IOException | UnsupportedOperationException e) {
            return false; // unreadable attributes are the keyring's problem, reported where it is read
        }
    }
}
