import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The floor of a thin client in Java, for bench/run.sh: a JVM that does nothing but connect to a
 * Unix socket, stream a file (the 2 KB cron mail) and read the reply until the other side closes.
 * The resident service takes it for a client of another protocol and answers so. What
 * `cryptforward deliver` costs through the service beyond this is its own work.
 *
 * Usage: java Floor SOCKET FILE
 */
public final class Floor {
    public static void main(String[] args) throws Exception {
        byte[] message = Files.readAllBytes(Path.of(args[1]));
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(args[0]));
            ByteBuffer out = ByteBuffer.wrap(message);
            while (out.hasRemaining()) {
                ch.write(out);
            }
            ch.shutdownOutput();
            ByteBuffer in = ByteBuffer.allocate(8192);
            while (ch.read(in) >= 0) {
                in.clear();
            }
        }
    }
}
