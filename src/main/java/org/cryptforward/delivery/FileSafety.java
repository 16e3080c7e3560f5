package org.cryptforward.delivery;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;
import org.cryptforward.core.Failure;
import org.cryptforward.core.IoErrors;

/**
 * The checks that keep the local copy from being redirected or exposed.
 *
 * <ul>
 *   <li>No symbolic link is followed where the mailbox, its folders or its files should be: paths
 *       are inspected with {@code lstat} semantics and files opened with {@code O_NOFOLLOW}.
 *   <li>Nothing owned by another user is written to — not even by root, who could otherwise be
 *       made to append mail to someone else's file.
 *   <li>A file with more than one hard link is refused (a link planted to another file).
 *   <li>Directories are created 0700 and files 0600 (the umask can only take bits away).
 * </ul>
 *
 * Every local I/O error is temporary (exit 75): a full disk is {@code 4.3.1}, anything else
 * {@code 4.2.0} or {@code 4.3.0}.
 */
final class FileSafety {
    static final FileAttribute<Set<PosixFilePermission>> PRIVATE_DIR =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    static final FileAttribute<Set<PosixFilePermission>> PRIVATE_FILE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    private static final int UID = currentUid();

    private FileSafety() {}

    /** The effective user id of this process, or -1 where it cannot be told. */
    static int uid() {
        return UID;
    }

    private static int currentUid() {
        try {
            // /proc/self belongs to the process's effective user
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Makes sure {@code dir} is a real directory of ours, creating it (0700) and its parents if missing. */
    static void directory(Path dir) throws Failure {
        try {
            Map<String, Object> a = Files.readAttributes(dir, "unix:mode,uid", LinkOption.NOFOLLOW_LINKS);
            int type = (Integer) a.get("mode") & 0170000;
            if (type == 0120000) {
                throw Failure.temporary("4.3.0", "refusing mailbox folder " + dir + ": it is a symbolic link");
            }
            if (type != 0040000) {
                throw Failure.temporary("4.3.0", "mailbox folder " + dir + " is not a directory");
            }
            checkOwner(dir, (Integer) a.get("uid"));
        } catch (NoSuchFileException e) {
            try {
                Path parent = dir.toAbsolutePath().getParent();
                if (parent != null && !Files.exists(parent, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectories(parent, PRIVATE_DIR);
                }
                Files.createDirectory(dir, PRIVATE_DIR);
            } catch (FileAlreadyExistsException raced) {
                directory(dir);
            } catch (IOException ce) {
                throw ioFailure("cannot create mailbox folder " + dir, ce);
            }
        } catch (IOException e) {
            throw ioFailure("cannot inspect mailbox folder " + dir, e);
        }
    }

    /**
     * Inspects the file where a mailbox file should be, without following a link: it must be a
     * regular file of ours with one link.
     *
     * @return its identity (device and inode), or {@code null} when there is no such file
     */
    static Object regularFile(Path file, String what) throws Failure {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(file, "unix:mode,uid,nlink,fileKey", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw ioFailure("cannot inspect " + what + " " + file, e);
        }
        int type = (Integer) a.get("mode") & 0170000;
        if (type == 0120000) {
            throw Failure.temporary("4.3.0", "refusing " + what + " " + file + ": it is a symbolic link");
        }
        if (type != 0100000) {
            throw Failure.temporary("4.3.0", "refusing " + what + " " + file + ": it is not a regular file");
        }
        checkOwner(file, (Integer) a.get("uid"));
        int links = (Integer) a.get("nlink");
        if (links != 1) {
            throw Failure.temporary("4.3.0", "refusing " + what + " " + file + ": it has " + links + " hard links");
        }
        return a.get("fileKey");
    }

    /** Refuses a file or directory owned by another user than this process's. */
    static void checkOwner(Path p, int owner) throws Failure {
        int uid = uid();
        if (uid >= 0 && owner != uid) {
            throw Failure.temporary(
                    "4.3.0", "refusing " + p + ": owned by uid " + owner + ", not by this user (uid " + uid + ")");
        }
    }

    /** Classifies a local I/O error of the mailbox: every one of them is temporary ({@link IoErrors}). */
    static Failure ioFailure(String what, IOException e) {
        return IoErrors.temporary("4.2.0", what, e);
    }

    static String reason(IOException e) {
        return IoErrors.describe(e);
    }
}
