package org.cryptforward.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One description and one classification of I/O errors, and the one-line form of foreign text. */
class IoErrorsTest {
    @TempDir
    Path tmp;

    @Test
    void aFullDiskOrQuotaIs431WhateverTheExceptionType() {
        IOException write = new IOException("No space left on device");
        FileSystemException create = new FileSystemException("/var/mail/root", null, "Disk quota exceeded");
        assertEquals(IoErrors.Kind.FULL, IoErrors.kind(write));
        assertEquals(IoErrors.Kind.FULL, IoErrors.kind(create));
        assertEquals(
                IoErrors.Kind.FULL, IoErrors.kind(new UncheckedIOException(write)), "also when a library wrapped it");
        Failure f = IoErrors.temporary("4.2.0", "cannot append to mailbox /var/mail/root", create);
        assertEquals("4.3.1", f.status());
        assertTrue(f.isTemporary());
        assertEquals(
                "cannot append to mailbox /var/mail/root: Disk quota exceeded",
                f.getMessage(),
                "the path once, then the reason");
    }

    @Test
    void otherErrorsKeepTheCallersStatus() {
        Failure f = IoErrors.temporary("4.2.0", "cannot open mailbox /m", new AccessDeniedException("/m"));
        assertEquals("4.2.0", f.status());
        assertEquals("cannot open mailbox /m: permission denied", f.getMessage());
        assertEquals(
                IoErrors.Kind.READ_ONLY, IoErrors.kind(new FileSystemException("/m", null, "Read-only file system")));
        assertFalse(IoErrors.isFull(new IOException("a message that mentions space")));
    }

    @Test
    void realErrorsOfTheFileSystemAreDescribedWithoutTheirPath() throws Exception {
        Path missing = tmp.resolve("missing");
        IOException e = null;
        try {
            Files.readAllBytes(missing);
        } catch (IOException x) {
            e = x;
        }
        assertTrue(e instanceof NoSuchFileException);
        assertEquals("no such file or directory", IoErrors.describe(e));
        assertEquals(IoErrors.Kind.NOT_FOUND, IoErrors.kind(e));
        assertEquals("IOException", IoErrors.describe(new IOException()));
        assertEquals("IllegalStateException", IoErrors.describe(new IllegalStateException(" ")));
    }

    @Test
    void foreignTextBecomesOneLine() {
        assertEquals("550 5.1.1 <x>: user unknown", Text.oneLine("550 5.1.1 <x>:\r\n    user unknown\n", 200));
        assertEquals("a b c", Text.oneLine("a\tb\u001b[2Jc".replace("[2J", " "), 200));
        assertEquals("no escape", Text.oneLine("no\u001bescape", 200).replace("  ", " "));
        assertEquals("jürgen", Text.oneLine("jürgen", 200));
        assertEquals("abc", Text.oneLine("abcdef", 3));
        assertEquals("", Text.oneLine(null, 3));
        assertFalse(Text.oneLine("x\u2028y\u0085z", 200).chars().anyMatch(c -> c < 32 || c == 0x85 || c == 0x2028));
    }
}
