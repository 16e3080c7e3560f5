package org.cryptforward.delivery;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import org.cryptforward.Failure;

/**
 * The checks that keep the local copy from being redirected: no symlink followed, nothing owned
 * by another user written to, directories created private.
 */
final class FileSafety {
    private static final Integer UID = currentUid();

    private FileSafety() {}

    static int uid() {
        return UID == null ? -1 : UID;
    }

    private static Integer currentUid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Makes sure {@code dir} is a real directory of ours, creating it (0700) and its parents if missing. */
    static void directory(Path dir) throws Failure {
        try {
            PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (a.isSymbolicLink()) {
                throw Failure.temporary("4.3.0", "refusing mailbox folder " + dir + ": it is a symbolic link");
            }
            if (!a.isDirectory()) {
                throw Failure.temporary("4.3.0", "mailbox folder " + dir + " is not a directory");
            }
            checkOwner(dir, a);
        } catch (NoSuchFileException e) {
            try {
                Path parent = dir.getParent();
                if (parent != null && !Files.exists(parent, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectories(parent, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                }
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (FileAlreadyExistsException raced) {
                directory(dir);
            } catch (IOException ce) {
                throw ioFailure("cannot create mailbox folder " + dir, ce);
            }
        } catch (IOException e) {
            throw ioFailure("cannot inspect mailbox folder " + dir, e);
        }
    }

    /** Refuses a file or directory owned by someone else (root may write to anyone's). */
    static void checkOwner(Path p, PosixFileAttributes a) throws Failure {
        int uid = uid();
        if (uid > 0) {
            try {
                Object owner = Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
                if (owner instanceof Integer o && o != uid) {
                    throw Failure.temporary("4.3.0", "refusing " + p + ": owned by " + a.owner().getName() + ", not by this user");
                }
            } catch (IOException e) {
                throw ioFailure("cannot inspect " + p, e);
            }
        }
    }

    static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /** Classifies a local I/O error: every one of them is temporary. */
    static Failure ioFailure(String what, IOException e) {
        String reason = reason(e);
        String status = reason.contains("No space left") || reason.contains("quota") ? "4.3.1" : "4.2.0";
        return Failure.temporary(status, what + ": " + reason, e);
    }

    static String reason(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }
}
