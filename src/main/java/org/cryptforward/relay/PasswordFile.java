package org.cryptforward.relay;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import org.cryptforward.core.Failure;

/**
 * The relay's {@code password_file}, read by the one rule {@code deliver} and {@code check} both
 * use: the file must be readable by this user and by nobody else — no read or write bit for group
 * or others (0600 or 0400) — and its first line, without its line end, is the password; it must
 * not be empty. Anything else is a configuration problem ({@code 4.3.5}): {@code deliver} defers,
 * {@code check} reports the same words. The password itself is never part of a message.
 */
public final class PasswordFile {
    private PasswordFile() {}

    /** The password, or the configuration problem that keeps it from being used. */
    public static String read(Path file) throws Failure {
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            if (perms.contains(PosixFilePermission.GROUP_READ) || perms.contains(PosixFilePermission.OTHERS_READ)) {
                throw Failure.temporary(
                        "4.3.5", "password file " + file + " is readable by group or others; chmod 600 it");
            }
            if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
                throw Failure.temporary(
                        "4.3.5", "password file " + file + " is writable by group or others; chmod 600 it");
            }
            String s = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
            int nl = s.indexOf('\n');
            String password = nl >= 0 ? s.substring(0, nl) : s;
            if (password.endsWith("\r")) {
                password = password.substring(0, password.length() - 1);
            }
            if (password.isEmpty()) {
                throw Failure.temporary("4.3.5", "password file " + file + " is empty");
            }
            return password;
        } catch (IOException e) {
            throw Failure.temporary("4.3.5", "cannot read password file " + file + ": " + SmtpRelay.describe(e), e);
        }
    }
}
