package org.cryptforward.message;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import javax.crypto.Cipher;
import javax.crypto.spec.ChaCha20ParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.cryptforward.core.Limits;

/**
 * The bytes of one message, written once and then read as often as needed.
 *
 * <p>Up to {@code memoryLimit} bytes stay in memory. Beyond that the whole message moves to a
 * temporary file that is created with mode 0600 and unlinked at once, so that no path to it
 * exists while it is used and nothing is left behind whatever ends the process. The file holds
 * only ciphertext: ChaCha20 under a key that exists only in this process's memory (ChaCha20
 * rather than AES because it is the faster of the two where the JIT has no AES instructions to
 * use, as in the launcher's quick-start mode; both are seekable stream ciphers). The plain
 * message is therefore never written anywhere but the local copy.
 *
 * <p>Not thread-safe while writing; reading streams may be opened concurrently.
 */
public final class Spool implements Closeable {
    private static final int CHUNK = Limits.DEFAULT.ioBufferBytes();
    /** The stream cipher's block: a reader starting mid-file starts at a block boundary. */
    private static final int BLOCK = 64;

    private final Path tempDir;
    private final long memoryLimit;
    private final List<byte[]> chunks = new ArrayList<>();
    private int lastChunkFill = CHUNK;
    private long size;
    private boolean finished;

    private FileChannel file;
    private SecretKeySpec fileKey;
    private byte[] fileNonce;
    private Cipher writeCipher;
    private final ByteBuffer fileBuffer = ByteBuffer.allocate(CHUNK);

    private Spool(Path tempDir, long memoryLimit) {
        this.tempDir = tempDir;
        this.memoryLimit = memoryLimit;
    }

    /** A spool that keeps up to {@code memoryLimit} bytes in memory and spills to {@code tempDir}. */
    public static Spool create(Path tempDir, long memoryLimit) {
        return new Spool(tempDir, memoryLimit);
    }

    /** A spool holding exactly these bytes, in memory. */
    public static Spool of(byte[] bytes) {
        Spool s = new Spool(null, Long.MAX_VALUE);
        s.write(bytes, 0, bytes.length);
        s.finish();
        return s;
    }

    public void write(byte[] b, int off, int len) {
        if (finished) {
            throw new IllegalStateException("spool already finished");
        }
        try {
            if (file == null && size + len > memoryLimit) {
                spillToFile();
            }
            if (file != null) {
                writeEncrypted(b, off, len);
            } else {
                writeMemory(b, off, len);
            }
        } catch (IOException e) {
            throw new SpoolException(e);
        }
        size += len;
    }

    /** Ends the writing phase. */
    public void finish() {
        if (finished) {
            return;
        }
        try {
            if (file != null) {
                flushFileBuffer();
                writeCipher = null;
            }
        } catch (IOException e) {
            throw new SpoolException(e);
        }
        finished = true;
    }

    public long size() {
        return size;
    }

    /** Whether the bytes live in a (encrypted, unlinked) temporary file. */
    public boolean isOnDisk() {
        return file != null;
    }

    /** A stream of the bytes in {@code [from, to)}. */
    public InputStream open(long from, long to) {
        if (!finished) {
            throw new IllegalStateException("spool not finished");
        }
        if (from < 0 || to > size || from > to) {
            throw new IndexOutOfBoundsException(from + ".." + to + " of " + size);
        }
        return file != null ? new FileReader(from, to) : new MemoryReader(from, to);
    }

    /** Reads up to {@code len} bytes from {@code offset} (fewer at the end). */
    public byte[] read(long offset, int len) throws IOException {
        long end = Math.min(size, offset + len);
        try (InputStream in = open(offset, end)) {
            return in.readAllBytes();
        }
    }

    @Override
    public void close() throws IOException {
        chunks.clear();
        if (file != null) {
            file.close();
        }
    }

    private void writeMemory(byte[] b, int off, int len) {
        while (len > 0) {
            if (lastChunkFill == CHUNK) {
                chunks.add(new byte[CHUNK]);
                lastChunkFill = 0;
            }
            byte[] chunk = chunks.get(chunks.size() - 1);
            int n = Math.min(len, CHUNK - lastChunkFill);
            System.arraycopy(b, off, chunk, lastChunkFill, n);
            lastChunkFill += n;
            off += n;
            len -= n;
        }
    }

    private void spillToFile() throws IOException {
        if (!Files.isDirectory(tempDir)) {
            Files.createDirectories(
                    tempDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        Path path = Files.createTempFile(
                tempDir,
                "spool-",
                ".tmp",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try {
            file = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } finally {
            Files.deleteIfExists(path);
        }
        SecureRandom random = new SecureRandom();
        byte[] key = new byte[32];
        random.nextBytes(key);
        fileKey = new SecretKeySpec(key, "ChaCha20");
        fileNonce = new byte[12];
        random.nextBytes(fileNonce);
        writeCipher = cipher(0, Cipher.ENCRYPT_MODE);
        long remaining = size;
        for (byte[] chunk : chunks) {
            int n = (int) Math.min(CHUNK, remaining);
            writeEncrypted(chunk, 0, n);
            remaining -= n;
        }
        chunks.clear();
    }

    private void writeEncrypted(byte[] b, int off, int len) throws IOException {
        while (len > 0) {
            int n = Math.min(len, fileBuffer.remaining());
            try {
                writeCipher.update(b, off, n, fileBuffer.array(), fileBuffer.position());
            } catch (GeneralSecurityException e) {
                throw new IOException("spool encryption failed", e);
            }
            fileBuffer.position(fileBuffer.position() + n);
            off += n;
            len -= n;
            if (!fileBuffer.hasRemaining()) {
                flushFileBuffer();
            }
        }
    }

    private void flushFileBuffer() throws IOException {
        fileBuffer.flip();
        while (fileBuffer.hasRemaining()) {
            file.write(fileBuffer);
        }
        fileBuffer.clear();
    }

    /** The cipher positioned at 64-byte block {@code block} of the file. */
    private Cipher cipher(long block, int mode) throws IOException {
        if (block > Integer.MAX_VALUE) {
            throw new IOException("spool larger than 128 GB");
        }
        try {
            Cipher c = Cipher.getInstance("ChaCha20");
            c.init(mode, fileKey, new ChaCha20ParameterSpec(fileNonce, (int) block));
            return c;
        } catch (GeneralSecurityException e) {
            throw new IOException("ChaCha20 unavailable", e);
        }
    }

    private final class MemoryReader extends InputStream {
        private long pos;
        private final long end;

        MemoryReader(long from, long to) {
            this.pos = from;
            this.end = to;
        }

        @Override
        public int read() {
            if (pos >= end) {
                return -1;
            }
            byte b = chunks.get((int) (pos / CHUNK))[(int) (pos % CHUNK)];
            pos++;
            return b & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (len == 0) {
                return 0;
            }
            if (pos >= end) {
                return -1;
            }
            int inChunk = (int) (pos % CHUNK);
            int n = (int) Math.min(Math.min(len, CHUNK - inChunk), end - pos);
            System.arraycopy(chunks.get((int) (pos / CHUNK)), inChunk, b, off, n);
            pos += n;
            return n;
        }

        @Override
        public long skip(long n) {
            long k = Math.max(0, Math.min(n, end - pos));
            pos += k;
            return k;
        }

        @Override
        public int available() {
            return (int) Math.min(Integer.MAX_VALUE, end - pos);
        }
    }

    private final class FileReader extends InputStream {
        private long pos;
        private final long end;
        private final Cipher cipher;
        private final ByteBuffer raw = ByteBuffer.allocate(CHUNK);
        private final byte[] plain = new byte[CHUNK];
        private int plainPos;
        private int plainLen;

        FileReader(long from, long to) {
            this.end = to;
            long blockStart = (from / BLOCK) * BLOCK;
            this.pos = blockStart;
            try {
                this.cipher = cipher(from / BLOCK, Cipher.DECRYPT_MODE);
                if (from > blockStart) {
                    fill();
                    plainPos = (int) (from - blockStart);
                }
            } catch (IOException e) {
                throw new SpoolException(e);
            }
        }

        private boolean fill() throws IOException {
            if (pos >= end) {
                return false;
            }
            raw.clear();
            raw.limit((int) Math.min(CHUNK, end - pos));
            while (raw.hasRemaining()) {
                int n = file.read(raw, pos + raw.position());
                if (n < 0) {
                    throw new IOException("spool file truncated");
                }
            }
            raw.flip();
            try {
                plainLen = cipher.update(raw.array(), 0, raw.limit(), plain, 0);
            } catch (GeneralSecurityException e) {
                throw new IOException("spool decryption failed", e);
            }
            plainPos = 0;
            pos += raw.limit();
            return true;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (plainPos >= plainLen && !fill()) {
                return -1;
            }
            int n = Math.min(len, plainLen - plainPos);
            System.arraycopy(plain, plainPos, b, off, n);
            plainPos += n;
            return n;
        }
    }

    /** An I/O failure of the spool, unchecked so that it can cross stream interfaces. */
    public static final class SpoolException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        SpoolException(IOException cause) {
            super(cause.getMessage(), cause);
        }

        @Override
        public synchronized IOException getCause() {
            return (IOException) super.getCause();
        }
    }
}
