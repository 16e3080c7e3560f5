package org.cryptforward.delivery;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.cryptforward.core.Durability;
import org.cryptforward.core.Limits;

/**
 * Crash recovery for mbox appends: what makes a delivery killed in the middle of an append (SIGKILL,
 * a power cut, the MTA's time limit) end up as either no trace or one complete message.
 *
 * <p>An append cannot be made atomic, so it is announced. Before the first byte is written, under
 * the mailbox locks, a <em>pending record</em> is made durable in {@code STATE/pending/mbox-H}
 * (H = SHA-256 of the mailbox path): the mailbox's length {@code L0} and identity, the number of
 * bytes {@code S} the append will write (measured beforehand by a pass through the mboxrd
 * quoting), the exact {@code From } line, and the journal key of the message (its
 * <em>owner</em>). It is removed only once the append is fsynced and recorded in the owner's
 * journal, or undone.
 *
 * <p>Whoever takes the mailbox locks next — any delivery to that mailbox — {@linkplain #repair
 * repairs} first. The bytes from {@code L0} on are judged to be the interrupted append only if the
 * file is the same one, starts at {@code L0} with the recorded {@code From } line, and holds no
 * other line starting with {@code From } (mboxrd quoting guarantees there is none in our own
 * bytes). Then: fewer than {@code S} bytes is a torn append, cut back to {@code L0}
 * ({@code truncated}); all {@code S} bytes ending in the blank line is a complete message, kept
 * and fsynced ({@code complete}). Anything else ({@code unknown}: the file was replaced, shrunk or
 * written by another program meanwhile) is left untouched — truncating is the one destructive act
 * here and is done only when the bytes are certainly ours. The outcome is left for the owner in
 * {@code STATE/pending/outcome-KEY}: its retry records the copy as done when it was complete, and
 * delivers again otherwise (so the worst case, after {@code unknown}, is a duplicate, never a
 * loss). Outcomes nobody collects are removed after the journal's retention period.
 *
 * <p>These files hold offsets, lengths, a file identity, the {@code From } line (envelope sender
 * and date) and a journal key — never message content.
 */
final class MboxRecovery {
    static final String NO_OWNER = "-";
    private static final Pattern OWNER = Pattern.compile("[0-9a-f]{64}|-");
    private static final byte[] FROM = {'F', 'r', 'o', 'm', ' '};
    private static final byte[] NL_FROM = {'\n', 'F', 'r', 'o', 'm', ' '};

    /** An append in progress, as recorded before its first byte is written. */
    record Pending(long offset, int separator, long length, byte[] fromLine, String fileKey, String owner) {
        Pending {
            if (offset < 0
                    || separator < 0
                    || separator > 2
                    || length < separator + fromLine.length
                    || !OWNER.matcher(owner).matches()
                    || fileKey.isEmpty()
                    || fileKey.chars().anyMatch(c -> c <= ' ' || c > '~')) {
                throw new IllegalArgumentException("bad pending append record");
            }
        }

        /** Where the {@code From } line starts: after the line ends added to separate it from a previous message. */
        long fromOffset() {
            return offset + separator;
        }

        /** The length of the mailbox once the append is complete. */
        long end() {
            return offset + length;
        }

        String format() {
            return "v1 " + offset + " " + separator + " " + length + " "
                    + HexFormat.of().formatHex(fromLine) + " " + fileKey + " " + owner + "\n";
        }

        static Optional<Pending> parse(String text) {
            String[] f = text.strip().split(" ");
            if (f.length != 7 || !f[0].equals("v1")) {
                return Optional.empty();
            }
            try {
                byte[] from = HexFormat.of().parseHex(f[4]);
                if (from.length < 6 || !startsWith(from, FROM) || from[from.length - 1] != '\n') {
                    return Optional.empty();
                }
                return Optional.of(new Pending(
                        Long.parseLong(f[1]), Integer.parseInt(f[2]), Long.parseLong(f[3]), from, f[5], f[6]));
            } catch (IllegalArgumentException e) {
                return Optional.empty();
            }
        }
    }

    private final Path dir;
    private final Duration keep;
    private final Clock clock;
    private final SecureRandom random = new SecureRandom();

    /**
     * @param stateDir the configured {@code state_dir}
     * @param keep how long an uncollected outcome is kept (the journal's retention)
     */
    MboxRecovery(Path stateDir, Duration keep, Clock clock) {
        this.dir = stateDir.resolve("pending");
        this.keep = keep;
        this.clock = clock;
    }

    Path directory() {
        return dir;
    }

    /** The pending record of a mailbox. */
    Path pendingFile(Path mbox) {
        return dir.resolve("mbox-" + sha256(mbox.toAbsolutePath().normalize().toString()));
    }

    /** Makes the pending record durable; returns only once it would survive a crash. */
    void begin(Path mbox, Pending p) throws IOException {
        prepare();
        writeAtomically(pendingFile(mbox), p.format());
    }

    /** Removes the pending record (the append is recorded elsewhere, or undone), durably. */
    void end(Path mbox) throws IOException {
        if (Files.deleteIfExists(pendingFile(mbox))) {
            Durability.fsyncDirectory(dir);
        }
    }

    /** What a repair found of the interrupted append of {@code owner}, if one was repaired. */
    Optional<Mbox.Recovered> outcome(String owner) {
        Path f = outcomeFile(owner);
        if (!Files.exists(f, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.of(Mbox.Recovered.UNKNOWN); // never opened: it could be a FIFO
        }
        try (SeekableByteChannel ch =
                Files.newByteChannel(f, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            ByteBuffer b = ByteBuffer.allocate(32);
            while (b.hasRemaining() && ch.read(b) > 0) {
                // read the word
            }
            String word = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).strip();
            for (Mbox.Recovered r : Mbox.Recovered.values()) {
                if (r.word().equals(word)) {
                    return Optional.of(r);
                }
            }
            return Optional.of(Mbox.Recovered.UNKNOWN);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            return Optional.of(Mbox.Recovered.UNKNOWN); // unreadable: deliver again rather than risk a loss
        }
    }

    /** Removes the outcome left for {@code owner} once it has acted on it. */
    void forget(String owner) {
        try {
            Files.deleteIfExists(outcomeFile(owner));
        } catch (IOException ignored) {
            // an uncollected outcome is pruned after the retention period
        }
    }

    /**
     * Repairs an interrupted append to the mailbox open on {@code ch}, if its pending record says
     * there was one. Must be called with both mailbox locks held, before anything else is done to
     * the mailbox. Afterwards the mailbox is durable and the pending record gone.
     *
     * @param fileKey the identity of the open mailbox file
     * @return what was found, if anything was pending
     */
    Optional<Mbox.Recovered> repair(Path mbox, FileChannel ch, String fileKey) throws IOException {
        Path file = pendingFile(mbox);
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            // not ours (never opened: it could be a FIFO); the mailbox is left as it is
            Files.move(
                    file,
                    file.resolveSibling(file.getFileName() + ".damaged-" + clock.millis()),
                    StandardCopyOption.ATOMIC_MOVE);
            return Optional.of(Mbox.Recovered.UNKNOWN);
        }
        String text;
        try (SeekableByteChannel rc =
                Files.newByteChannel(file, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            ByteBuffer b = ByteBuffer.allocate(8192);
            while (b.hasRemaining() && rc.read(b) > 0) {
                // a record is one short line
            }
            text = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        Optional<Pending> pending = Pending.parse(text);
        Mbox.Recovered outcome = pending.isPresent() ? judge(ch, pending.get(), fileKey) : Mbox.Recovered.UNKNOWN;
        if (outcome == Mbox.Recovered.TRUNCATED && ch.size() > pending.get().offset()) {
            ch.truncate(pending.get().offset());
        }
        ch.force(true);
        if (pending.isPresent() && !pending.get().owner().equals(NO_OWNER)) {
            writeAtomically(outcomeFile(pending.get().owner()), outcome.word() + "\n");
        }
        end(mbox);
        return Optional.of(outcome);
    }

    /** Decides what the bytes from the recorded offset on are; reads, never writes. */
    static Mbox.Recovered judge(FileChannel ch, Pending p, String fileKey) throws IOException {
        if (!p.fileKey().equals(fileKey)) {
            return Mbox.Recovered.UNKNOWN; // the mailbox was replaced since
        }
        long size = ch.size();
        if (size < p.offset()) {
            return Mbox.Recovered.UNKNOWN; // shrunk by someone else since
        }
        if (size == p.offset()) {
            return Mbox.Recovered.TRUNCATED; // not a byte arrived: nothing to cut
        }
        long fromEnd = p.fromOffset() + p.fromLine().length;
        // the separating line ends
        byte[] sep = read(ch, p.offset(), (int) Math.min(p.separator(), size - p.offset()));
        for (byte b : sep) {
            if (b != '\n') {
                return Mbox.Recovered.UNKNOWN;
            }
        }
        // the From line, or as much of it as was written
        if (size > p.fromOffset()) {
            int n = (int) Math.min(p.fromLine().length, size - p.fromOffset());
            if (!Arrays.equals(read(ch, p.fromOffset(), n), Arrays.copyOf(p.fromLine(), n))) {
                return Mbox.Recovered.UNKNOWN;
            }
        }
        // no other message starts within what would be ours
        long scanTo = Math.min(size, p.end());
        if (fromEnd - 1 < scanTo && contains(ch, fromEnd - 1, scanTo, NL_FROM)) {
            return Mbox.Recovered.UNKNOWN;
        }
        if (size < p.end()) {
            return Mbox.Recovered.TRUNCATED;
        }
        // complete: it ends with the blank line, and whatever follows starts a message
        if (!Arrays.equals(read(ch, p.end() - 2, 2), new byte[] {'\n', '\n'})) {
            return Mbox.Recovered.UNKNOWN;
        }
        if (size > p.end() && !Arrays.equals(read(ch, p.end(), (int) Math.min(FROM.length, size - p.end())), FROM)) {
            return Mbox.Recovered.UNKNOWN;
        }
        return Mbox.Recovered.COMPLETE;
    }

    /** Removes outcomes and temporary files older than the retention period; never fails. */
    void prune() {
        Instant cutoff = clock.instant().minus(keep);
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, p -> {
            String n = p.getFileName().toString();
            return n.startsWith("outcome-") || n.startsWith(".tmp-") || n.contains(".damaged-");
        })) {
            for (Path p : ds) {
                try {
                    if (Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS)
                            .toInstant()
                            .isBefore(cutoff)) {
                        Files.deleteIfExists(p);
                    }
                } catch (IOException e) {
                    // skip this one
                }
            }
        } catch (IOException | RuntimeException e) {
            // housekeeping only
        }
    }

    private Path outcomeFile(String owner) {
        if (!OWNER.matcher(owner).matches() || owner.equals(NO_OWNER)) {
            throw new IllegalArgumentException("bad owner");
        }
        return dir.resolve("outcome-" + owner);
    }

    private void prepare() throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isDirectory(dir.getParent())) {
                throw new NoSuchFileException(dir.getParent().toString(), null, "state_dir does not exist");
            }
            if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                // something else stands where the directory should: keep it for inspection
                Files.move(
                        dir, dir.resolveSibling("pending.damaged-" + clock.millis()), StandardCopyOption.ATOMIC_MOVE);
            }
            try {
                Files.createDirectory(dir, FileSafety.PRIVATE_DIR);
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // another delivery made it
            }
        }
    }

    /** Writes a small file under a temporary name, fsyncs it, renames it into place, fsyncs the directory. */
    private void writeAtomically(Path target, String content) throws IOException {
        prepare();
        byte[] r = new byte[8];
        random.nextBytes(r);
        Path tmp = dir.resolve(".tmp-" + HexFormat.of().formatHex(r));
        try {
            try (FileChannel ch = FileChannel.open(
                    tmp,
                    Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    FileSafety.PRIVATE_FILE)) {
                ByteBuffer b = ByteBuffer.wrap(content.getBytes(StandardCharsets.US_ASCII));
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Durability.fsyncDirectory(dir);
    }

    private static byte[] read(FileChannel ch, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) {
                break;
            }
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    /** Whether {@code needle} occurs entirely within bytes {@code [from, to)} of the file. */
    private static boolean contains(FileChannel ch, long from, long to, byte[] needle) throws IOException {
        int chunk = Limits.DEFAULT.ioBufferBytes();
        long pos = from;
        while (pos + needle.length <= to) {
            int len = (int) Math.min(chunk + needle.length - 1, to - pos);
            byte[] b = read(ch, pos, len);
            outer:
            for (int i = 0; i + needle.length <= b.length; i++) {
                for (int j = 0; j < needle.length; j++) {
                    if (b[i + j] != needle[j]) {
                        continue outer;
                    }
                }
                return true;
            }
            if (b.length < len) {
                return false;
            }
            pos += chunk;
        }
        return false;
    }

    private static boolean startsWith(byte[] b, byte[] prefix) {
        return b.length >= prefix.length && Arrays.equals(b, 0, prefix.length, prefix, 0, prefix.length);
    }

    static String sha256(String s) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
