package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.cryptforward.support.ConfigToml;
import org.cryptforward.support.Launcher;
import org.cryptforward.support.MboxReader;
import org.cryptforward.support.Nobody;
import org.cryptforward.support.Sandbox;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code deliver} as Postfix runs an {@code /etc/aliases} pipe: as {@code nobody} (uid 65534),
 * with an installation owned by that user. Two things root cannot test as root: a journal entry
 * the process cannot read (left by root running {@code deliver} by hand, say) must not block the
 * message — it is set aside and the message delivered; and a mailbox owned by someone else is
 * refused even where its mode would let the process write to it. Runs only as root, with
 * {@code setpriv} (util-linux) to drop privileges.
 */
class UnprivilegedDeliveryIT {
    static final int NOBODY = 65534;
    static final byte[] MESSAGE = "From: root@host.example\nTo: postmaster\nSubject: as nobody\n\nhello\n"
            .getBytes(StandardCharsets.US_ASCII);

    Path dir;
    Sandbox sb;

    @BeforeEach
    void setUp() throws Exception {
        Nobody.assumeAvailable();
        // under target/: every directory above is traversable by nobody, unlike a private temp dir
        dir = Files.createDirectories(Path.of("target").toAbsolutePath().resolve("it-nobody-" + System.nanoTime()));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        sb = new ConfigToml(new Sandbox(dir.resolve("sb"), 9, "", false)).write(); // no rule: kept locally only
        Files.createDirectories(sb.state.resolve("journal"));
        chownTree(dir.resolve("sb"), NOBODY);
    }

    @AfterEach
    void tearDown() throws IOException {
        if (dir != null) {
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    @Test
    void aJournalEntryNobodyCannotReadIsSetAsideAndTheMessageDelivered() throws Exception {
        Path entry = sb.state.resolve("journal").resolve(key("postmaster@cf.test", MESSAGE));
        Files.writeString(
                entry, "local " + sb.mailbox + "\n"); // root's, mode 0600: nobody can neither read nor lock it
        Files.setPosixFilePermissions(entry, PosixFilePermissions.fromString("rw-------"));
        Files.setAttribute(entry, "unix:uid", 0);

        Launcher.Run r = deliverAsNobody();
        assertEquals(0, r.exit(), r.output());
        List<MboxReader.Entry> entries = MboxReader.read(sb.mailbox);
        assertEquals(1, entries.size());
        assertArrayEquals(MESSAGE, entries.get(0).message());
        assertEquals(NOBODY, Files.getAttribute(sb.mailbox, "unix:uid"), "created by nobody");
        try (Stream<Path> s = Files.list(sb.state.resolve("journal"))) {
            List<String> names = s.map(p -> p.getFileName().toString()).toList();
            assertTrue(
                    names.stream().anyMatch(n -> n.startsWith(entry.getFileName() + ".damaged-")),
                    "set aside for inspection: " + names);
        }
        assertEquals(
                NOBODY,
                Files.getAttribute(entry, "unix:uid", LinkOption.NOFOLLOW_LINKS),
                "and a fresh entry of nobody's");

        Launcher.Run again = deliverAsNobody();
        assertEquals(0, again.exit(), again.output());
        assertEquals(1, MboxReader.read(sb.mailbox).size(), "the fresh entry makes the next run idempotent");
    }

    @Test
    void aMailboxOfAnotherUserIsRefusedEvenWhenWritable() throws Exception {
        Files.writeString(sb.mailbox, "");
        Files.setAttribute(sb.mailbox, "unix:uid", 0);
        Files.setPosixFilePermissions(sb.mailbox, PosixFilePermissions.fromString("rw-rw-rw-"));
        Launcher.Run r = deliverAsNobody();
        assertEquals(75, r.exit(), r.output());
        assertTrue(
                r.output().startsWith("4.3.0 cryptforward: refusing " + sb.mailbox + ": owned by uid 0"), r.output());
        assertEquals(0, Files.size(sb.mailbox), "nothing written");
    }

    Launcher.Run deliverAsNobody() {
        Path in = dir.resolve("in-" + System.nanoTime());
        Launcher.postfixInput(dir, in.getFileName().toString(), "root@host.example", MESSAGE);
        List<String> cmd = new ArrayList<>(List.of(
                "/usr/bin/setpriv",
                "--reuid=" + NOBODY,
                "--regid=" + NOBODY,
                "--clear-groups",
                "--",
                Launcher.path().toAbsolutePath().toString(),
                "deliver",
                "--config",
                sb.config.toString()));
        Path out = dir.resolve("out-" + System.nanoTime());
        return Launcher.finish(
                Launcher.start(cmd, in, out, Launcher.postfixEnv("postmaster@cf.test", "root@host.example")), out, 120);
    }

    static String key(String recipient, byte[] message) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        sha.update(recipient.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(MessageDigest.getInstance("SHA-256").digest(message));
        return HexFormat.of().formatHex(sha.digest());
    }

    static void chownTree(Path root, int uid) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.toList()) {
                Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(p, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
            }
        }
    }
}
