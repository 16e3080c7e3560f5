package org.cryptforward.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Maildir delivery: byte-identical files in new/ with mode 0600, folders 0700, unique names, no
 * leftovers in tmp/, and refusals of a symlink or a foreign owner in place of the Maildir or any
 * of its folders; a failed write leaves nothing in new/ or tmp/.
 */
class MaildirTest {
    static final byte[] MESSAGE =
            "Subject: hello\n\nFrom the body\nno final line end".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path tmp;

    Maildir maildir(Path root) {
        return new Maildir(root, "cf.test", Clock.systemUTC(), new SecureRandom());
    }

    static LocalMailbox.MessageSource source(byte[] b) {
        return () -> new ByteArrayInputStream(b);
    }

    static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void storesTheMessageUnchangedInNewWithPrivateModes() throws Exception {
        Path root = tmp.resolve("deep/er/Maildir");
        Path stored = maildir(root).store(source(MESSAGE), "a@b");
        assertEquals(root.resolve("new"), stored.getParent());
        assertArrayEquals(MESSAGE, Files.readAllBytes(stored), "no line end added, nothing changed");
        assertEquals("rw-------", mode(stored));
        for (Path d : List.of(root, root.resolve("tmp"), root.resolve("new"), root.resolve("cur"))) {
            assertEquals("rwx------", mode(d), d.toString());
        }
        assertEquals(List.of(), list(root.resolve("tmp")), "nothing left in tmp/");
        assertEquals(List.of(stored), list(root.resolve("new")));
    }

    @Test
    void createsMissingFoldersOfAnExistingMaildir() throws Exception {
        Path root = Files.createDirectory(tmp.resolve("Maildir"));
        Files.createDirectory(root.resolve("new"));
        maildir(root).store(source(MESSAGE), "a@b");
        assertEquals("rwx------", mode(root.resolve("cur")));
        assertEquals("rwx------", mode(root.resolve("tmp")));
    }

    @Test
    void namesAreUniqueAndSayTimePidRandomAndHost() throws Exception {
        Maildir m = new Maildir(tmp.resolve("M"), "host/with:odd", Clock.systemUTC(), new SecureRandom());
        Set<String> names = new HashSet<>();
        long pid = ProcessHandle.current().pid();
        for (int i = 0; i < 2000; i++) {
            String n = m.uniqueName();
            assertTrue(n.matches("\\d{10}\\.M\\d{1,6}P" + pid + "R[0-9a-f]{16}Q\\d+\\.host\\\\057with\\\\072odd"), n);
            assertTrue(names.add(n), "duplicate name " + n);
        }
    }

    @ParameterizedTest(name = "symlink in place of {0}")
    @ValueSource(strings = {"", "tmp", "new", "cur"})
    void refusesASymlinkInPlaceOfTheMaildirOrAFolder(String folder) throws Exception {
        Path root = tmp.resolve("Maildir");
        maildir(root).prepare();
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
        for (String sub : List.of("tmp", "new", "cur")) {
            Files.createDirectories(elsewhere.resolve(sub));
        }
        Path planted = folder.isEmpty() ? root : root.resolve(folder);
        if (folder.isEmpty()) {
            for (String sub : List.of("tmp", "new", "cur")) {
                Files.delete(root.resolve(sub));
            }
        }
        Files.delete(planted);
        Files.createSymbolicLink(planted, folder.isEmpty() ? elsewhere : elsewhere.resolve(folder));

        Failure f = assertThrows(Failure.class, () -> maildir(root).store(source(MESSAGE), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertTrue(f.getMessage().contains("symbolic link"), f.getMessage());
        for (String sub : List.of("tmp", "new", "cur")) {
            assertEquals(List.of(), list(elsewhere.resolve(sub)), "nothing written through the link into " + sub);
        }
    }

    @Test
    void neverWritesThroughAFilePlantedInTmp() throws Exception {
        Path root = tmp.resolve("Maildir");
        Maildir m = maildir(root);
        m.prepare();
        Path victim = Files.writeString(tmp.resolve("victim"), "precious\n");
        String name = m.uniqueName();
        Files.createSymbolicLink(root.resolve("tmp").resolve(name), victim);
        Failure f = assertThrows(Failure.class, () -> m.storeAs(source(MESSAGE), name));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertEquals("precious\n", Files.readString(victim));
        assertEquals(List.of(), list(root.resolve("new")));
    }

    @ParameterizedTest(name = "{0} owned by another user")
    @ValueSource(strings = {"", "new"})
    void refusesAMaildirOwnedByAnotherUser(String folder) throws Exception {
        assumeTrue(FileSafety.uid() == 0, "only root can give a directory away");
        Path root = tmp.resolve("Maildir");
        maildir(root).prepare();
        Files.setAttribute(folder.isEmpty() ? root : root.resolve(folder), "unix:uid", 4242);
        Failure f = assertThrows(Failure.class, () -> maildir(root).store(source(MESSAGE), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertTrue(f.getMessage().contains("owned by uid 4242"), f.getMessage());
        assertEquals(List.of(), list(root.resolve("new")));
        assertEquals(List.of(), list(root.resolve("tmp")));
    }

    @Test
    void aFullDiskLeavesNothingBehind() throws Exception {
        Path root = tmp.resolve("Maildir");
        FileSink full = file -> new FilterOutputStream(file) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, Math.min(len, 10));
                throw new IOException("No space left on device");
            }
        };
        Maildir m = new Maildir(root, "cf.test", Clock.systemUTC(), new SecureRandom(), full);
        Failure f = assertThrows(Failure.class, () -> m.store(source(MESSAGE), "a@b"));
        assertEquals(ExitCodes.TEMPFAIL, f.exitCode());
        assertEquals("4.3.1", f.status());
        assertEquals(List.of(), list(root.resolve("new")));
        assertEquals(List.of(), list(root.resolve("tmp")), "the partial file is removed");
    }

    @Test
    void leftoversInTmpAreSweptAfter36Hours() throws Exception {
        Path root = tmp.resolve("Maildir");
        Maildir m = maildir(root);
        m.prepare();
        Path old = Files.writeString(root.resolve("tmp/1.old.cf.test"), "partial");
        Path recent = Files.writeString(root.resolve("tmp/2.recent.cf.test"), "partial");
        Files.setLastModifiedTime(old, FileTime.from(Clock.systemUTC().instant().minus(Duration.ofHours(37))));
        Files.setLastModifiedTime(
                recent, FileTime.from(Clock.systemUTC().instant().minus(Duration.ofHours(35))));
        m.store(source(MESSAGE), "a@b");
        assertFalse(Files.exists(old));
        assertTrue(Files.exists(recent), "a delivery may still be writing it");
    }

    @Test
    void findsAStoredMessageAlsoOnceAReaderMovedItToCur() throws Exception {
        Path root = tmp.resolve("Maildir");
        Maildir m = maildir(root);
        String name = m.uniqueName();
        Path stored = m.storeAs(source(MESSAGE), name);
        assertTrue(m.contains(name));
        Files.move(stored, root.resolve("cur").resolve(name + ":2,S"));
        assertTrue(m.contains(name));
        assertFalse(m.contains(name.substring(0, name.length() - 1)), "a prefix is another name");
        assertFalse(m.contains(m.uniqueName()));
    }
}
