package org.cryptforward.keys;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.cryptforward.core.Durability;
import org.cryptforward.core.Limits;

/**
 * The keyring's index, {@code .index}: for each key file, its identity (size, modification time,
 * inode) and the e-mail addresses of its user IDs. Writers ({@code key import}, {@code key
 * remove}) rebuild it under the keyring lock after every change; a lookup by address uses it to
 * read only the files that can match, so that it costs what the matching keys cost, not what the
 * whole keyring costs.
 *
 * <p>The index only narrows the search; it never decides. It is used only when it describes
 * exactly the files in the keyring as they are now (a file added, replaced or changed by hand, or
 * anything that is not a regular file, makes it stale, and then every file is read), and every
 * candidate is read and matched against its content ({@link Keyring#find}). A file that could not
 * be read when the index was built, or an address that cannot be written in it, also makes every
 * lookup read every file, so that its problem is reported.
 *
 * <p>Format, one line per file after a header line: {@code name TAB size TAB mtime TAB inode TAB
 * addresses}, the addresses separated by spaces, or {@code !} for a file that must be read.
 */
final class KeyringIndex {
    static final String NAME = ".index";
    private static final String HEADER = "cryptforward keyring index 1";
    private static final int MAX_INDEX = Limits.DEFAULT.keyIndexBytes();

    private KeyringIndex() {}

    /** A file's identity as the index records it. */
    private static String identity(Path file) throws IOException {
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isRegularFile()) {
            return null;
        }
        return a.size() + "\t" + a.lastModifiedTime().toMillis() + "\t" + a.fileKey();
    }

    /**
     * The names of the files that may hold a key for {@code address}, or empty when the index
     * cannot be trusted to say (missing, stale, unreadable): then every file must be read.
     */
    static Optional<List<String>> candidates(Path dir, String address) {
        try {
            Path index = dir.resolve(NAME);
            BasicFileAttributes a = Files.readAttributes(index, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isRegularFile() || a.size() > MAX_INDEX) {
                return Optional.empty();
            }
            byte[] bytes;
            try (InputStream in = Channels.newInputStream(
                    FileChannel.open(index, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
                bytes = in.readNBytes(MAX_INDEX + 1);
            }
            if (bytes.length > MAX_INDEX) {
                return Optional.empty();
            }
            String[] lines = new String(bytes, StandardCharsets.UTF_8).split("\n");
            if (lines.length == 0 || !lines[0].equals(HEADER)) {
                return Optional.empty();
            }
            Map<String, String[]> entries = new HashMap<>();
            for (int i = 1; i < lines.length; i++) {
                String[] f = lines[i].split("\t", -1);
                if (f.length != 5 || f[4].equals("!")) {
                    return Optional.empty();
                }
                entries.put(f[0], f);
            }
            List<String> names = new Keyring(dir).names();
            if (names.size() != entries.size()) {
                return Optional.empty();
            }
            List<String> out = new ArrayList<>();
            for (String n : names) {
                String[] f = entries.get(n);
                String id = identity(dir.resolve(n));
                if (f == null || id == null || !id.equals(f[1] + "\t" + f[2] + "\t" + f[3])) {
                    return Optional.empty();
                }
                for (String addr : f[4].split(" ")) {
                    if (addr.equals(address)) {
                        out.add(n);
                        break;
                    }
                }
            }
            return Optional.of(out);
        } catch (IOException | KeyringException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Rebuilds the index from the keyring's files; call it holding the keyring lock. Best effort. */
    static void rebuild(Keyring keyring) {
        Path dir = keyring.dir();
        Path index = dir.resolve(NAME);
        try {
            StringBuilder sb = new StringBuilder(HEADER).append('\n');
            for (String n : keyring.names()) {
                Path f = dir.resolve(n);
                String id = identity(f);
                String addresses;
                if (id == null) {
                    id = "0\t0\tnone";
                    addresses = "!";
                } else {
                    addresses = addresses(f);
                }
                sb.append(n)
                        .append('\t')
                        .append(id)
                        .append('\t')
                        .append(addresses)
                        .append('\n');
            }
            Path tmp = keyring.writeAside(sb.toString().getBytes(StandardCharsets.UTF_8));
            try {
                Keyring.rename(tmp, index);
            } finally {
                Files.deleteIfExists(tmp);
            }
            Durability.fsyncDirectory(dir);
        } catch (IOException | KeyringException | RuntimeException e) {
            try {
                Files.deleteIfExists(index); // a stale index would only be ignored, but leave none
            } catch (IOException ignored) {
                // lookups check the index against the files anyway
            }
        }
    }

    /** The addresses of every user ID in the file's key, or "!" when the file cannot be read or an address cannot be indexed. */
    private static String addresses(Path file) {
        try {
            Set<String> out = new LinkedHashSet<>();
            for (UserIds.UserId u : UserIds.all(Keyring.read(file), new Date(Long.MAX_VALUE / 2))) {
                String e = KeyIds.email(u.text());
                if (e == null) {
                    continue;
                }
                if (!e.codePoints().allMatch(c -> c > ' ' && c != 0x7f && !KeyDescription.unsafe(c))) {
                    return "!";
                }
                out.add(e);
            }
            return out.isEmpty() ? "-" : String.join(" ", out);
        } catch (KeyringException e) {
            return "!";
        }
    }
}
