package org.cryptforward.log;

import java.io.File;
import java.net.DatagramPacket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.ZonedDateTime;
import org.cryptforward.core.Dates;
import org.cryptforward.core.Limits;
import org.newsclub.net.unix.AFUNIXDatagramSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * Sends lines to the local syslog daemon as glibc's syslog(3) does: a datagram to
 * {@code /dev/log}, facility {@code mail}, ident {@code cryptforward} with the process id.
 * The AF_UNIX datagram socket comes from junixsocket (the JDK 17 has only stream sockets there).
 */
public final class SyslogMailLog implements MailLog {
    /** syslog facility {@code mail}. */
    static final int FACILITY_MAIL = 2;

    static final int MAX_LINE = Limits.DEFAULT.logLineChars();

    private final File socket;
    private final Clock clock;

    public SyslogMailLog(File socket, Clock clock) {
        this.socket = socket;
        this.clock = clock;
    }

    @Override
    public void log(Level level, String line) {
        int pri = FACILITY_MAIL * 8 + level.code;
        String text = "<" + pri + ">" + Dates.syslog(ZonedDateTime.now(clock)) + " cryptforward["
                + ProcessHandle.current().pid() + "]: " + sanitize(line);
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        try (AFUNIXDatagramSocket s = AFUNIXDatagramSocket.newInstance()) {
            s.connect(AFUNIXSocketAddress.of(socket));
            s.send(new DatagramPacket(bytes, bytes.length));
        } catch (Exception | LinkageError e) {
            // no syslog daemon: nothing to log to, and logging never decides a delivery
        }
    }

    /** One line of printable text, bounded: nothing from a message can forge a log line. */
    static String sanitize(String line) {
        StringBuilder sb = new StringBuilder(Math.min(line.length(), MAX_LINE));
        for (int i = 0; i < line.length() && sb.length() < MAX_LINE; i++) {
            char c = line.charAt(i);
            sb.append(c < 32 || c == 127 ? ' ' : c);
        }
        return sb.toString();
    }
}
