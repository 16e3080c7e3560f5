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
import org.cryptforward.Dates;

/**
 * Appends lines to {@code log_file} with an ISO time stamp and the process id, in one write
 * with O_APPEND so that concurrent deliveries do not interleave.
 */
public final class FileMailLog implements MailLog {

    private final Path file;
    private final Clock clock;

    public FileMailLog(Path file, Clock clock) {
        this.file = file;
        this.clock = clock;
    }

    @Override
    public void log(Level level, String line) {
        String text = Dates.iso(ZonedDateTime.now(clock)) + " cryptforward[" + ProcessHandle.current().pid() + "]: "
                + (level == Level.INFO ? "" : level.name().toLowerCase(Locale.ROOT) + ": ") + SyslogMailLog.sanitize(line) + "\n";
        try (FileChannel ch = FileChannel.open(file,
                Set.of(StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r-----")))) {
            ch.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
        } catch (IOException | RuntimeException e) {
            // logging never decides a delivery
        }
    }
}
