package org.cryptforward.log;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.Locale;
import java.util.Set;
import org.cryptforward.core.Dates;

/**
 * Appends lines to {@code log_file} with an ISO time stamp and the process id, in one write
 * with O_APPEND so that concurrent deliveries do not interleave. A symbolic link at {@code log_file}
 * is not followed; a line that cannot be written is not lost without a word: {@link #lost} says
 * why, and {@code deliver} prints it on standard error after its status line (logging never
 * decides a delivery, so that is all).
 */
public final class FileMailLog implements MailLog {

    private final Path file;
    private final Clock clock;
    private volatile String lost;

    /** Why a line could not be written, for the caller to say (after the status line); null if none was lost. */
    public String lost() {
        return lost;
    }

    public FileMailLog(Path file, Clock clock) {
        this.file = file;
        this.clock = clock;
    }

    @Override
    public void log(Level level, String line) {
        String text = Dates.iso(ZonedDateTime.now(clock)) + " cryptforward["
                + ProcessHandle.current().pid() + "]: "
                + (level == Level.INFO ? "" : level.name().toLowerCase(Locale.ROOT) + ": ")
                + SyslogMailLog.sanitize(line) + "\n";
        try (FileChannel ch = FileChannel.open(
                file,
                Set.of(
                        StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND,
                        StandardOpenOption.WRITE,
                        LinkOption.NOFOLLOW_LINKS),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r-----")))) {
            ch.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
        } catch (IOException | RuntimeException e) {
            // logging never decides a delivery; but say once that the line is lost
            if (lost == null) {
                String why = java.nio.file.Files.isSymbolicLink(file)
                        ? "it is a symbolic link, which is not followed"
                        : e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
                lost = "cryptforward: warning: cannot write log_file " + file + " (" + SyslogMailLog.sanitize(why)
                        + "); log line lost";
            }
        }
    }
}
