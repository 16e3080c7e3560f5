package org.cryptforward.core;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Making a change to a directory durable: after a file is created, linked, renamed or removed,
 * the directory itself is fsynced, so that the name survives a crash as the data does (as
 * Postfix's Maildir delivery and every careful mail store do).
 */
public final class Durability {
    private Durability() {}

    /** Fsyncs the directory {@code dir}. */
    public static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
