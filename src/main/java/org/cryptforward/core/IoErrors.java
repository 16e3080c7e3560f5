package org.cryptforward.core;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Locale;

/**
 * The one place that describes and classifies I/O errors. Classification goes by exception type
 * where the JDK has one ({@link AccessDeniedException}, {@link NoSuchFileException}, …); for what
 * it reports only as text — a full disk (ENOSPC), an exceeded quota (EDQUOT), a read-only file
 * system (EROFS) arrive as the C library's {@code strerror} text in a plain {@link IOException} or
 * a {@link FileSystemException}'s reason — the text is read here and nowhere else. Every local
 * I/O error is temporary for a delivery; a full disk or quota says so with {@code 4.3.1}.
 */
public final class IoErrors {
    private IoErrors() {}

    /** What kind of trouble an I/O error is. */
    public enum Kind {
        /** No space left on the device, or the quota is exceeded: 4.3.1. */
        FULL,
        /** The file system is mounted read-only. */
        READ_ONLY,
        NOT_FOUND,
        DENIED,
        OTHER
    }

    /** The kind of an error, looking through the causes a library wrapped it in. */
    public static Kind kind(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof AccessDeniedException) {
                return Kind.DENIED;
            }
            if (t instanceof NoSuchFileException) {
                return Kind.NOT_FOUND;
            }
            if (t instanceof IOException io) {
                String text = reason(io).toLowerCase(Locale.ROOT);
                if (text.contains("no space left on device") || text.contains("disk quota exceeded")) {
                    return Kind.FULL;
                }
                if (text.contains("read-only file system")) {
                    return Kind.READ_ONLY;
                }
            }
        }
        return Kind.OTHER;
    }

    /** Whether the disk (or the quota) is full. */
    public static boolean isFull(Throwable e) {
        return kind(e) == Kind.FULL;
    }

    /**
     * The error in a few words, without the path (the caller names what it was doing):
     * {@code permission denied}, {@code no such file or directory}, the system's reason, else the
     * message, else the exception's name.
     */
    public static String describe(Throwable e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof NotDirectoryException) {
            return "not a directory";
        }
        if (e instanceof FileSystemException fse
                && fse.getReason() != null
                && !fse.getReason().isBlank()) {
            return fse.getReason();
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    /**
     * A local I/O error as the temporary failure of a delivery: {@code 4.3.1} when the disk or
     * quota is full, else {@code status}.
     */
    public static Failure temporary(String status, String what, Throwable e) {
        return Failure.temporary(isFull(e) ? "4.3.1" : status, what + ": " + describe(e), e);
    }

    private static String reason(IOException e) {
        if (e instanceof FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return e.getMessage() == null ? "" : e.getMessage();
    }
}
