package org.cryptforward.message;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spool reads back every range of what was written, in memory and on disk, and leaves no file behind. */
class SpoolTest {
    @TempDir
    Path tmp;

    @Test
    void everyRangeReadsBack() throws Exception {
        Random r = new Random(1);
        for (int size : new int[] {0, 1, 63, 64, 65, 4095, 70_000, 300_001}) {
            byte[] data = new byte[size];
            r.nextBytes(data);
            for (long memoryLimit : new long[] {Long.MAX_VALUE, 1000}) {
                try (Spool s = Spool.create(tmp, memoryLimit)) {
                    int off = 0;
                    while (off < size) {
                        int n = Math.min(size - off, 1 + r.nextInt(9000));
                        s.write(data, off, n);
                        off += n;
                    }
                    s.finish();
                    assertEquals(size, s.size());
                    assertEquals(memoryLimit < size, s.isOnDisk());
                    try (var files = Files.list(tmp)) {
                        assertEquals(0, files.count(), "the spool file is unlinked at once");
                    }
                    for (int i = 0; i < 40; i++) {
                        int from = size == 0 ? 0 : r.nextInt(size + 1);
                        int to = from + (size - from == 0 ? 0 : r.nextInt(size - from + 1));
                        try (InputStream in = s.open(from, to)) {
                            assertArrayEquals(
                                    Arrays.copyOfRange(data, from, to),
                                    in.readAllBytes(),
                                    size + ": " + from + ".." + to);
                        }
                    }
                }
            }
        }
    }

    @Test
    void twoReadersAtOnce() throws Exception {
        byte[] data = new byte[200_000];
        new Random(2).nextBytes(data);
        try (Spool s = Spool.create(tmp, 10)) {
            s.write(data, 0, data.length);
            s.finish();
            try (InputStream a = s.open(0, data.length);
                    InputStream b = s.open(100_003, data.length)) {
                byte[] first = a.readNBytes(150_000);
                byte[] second = b.readAllBytes();
                byte[] rest = a.readAllBytes();
                assertArrayEquals(Arrays.copyOfRange(data, 0, 150_000), first);
                assertArrayEquals(Arrays.copyOfRange(data, 100_003, data.length), second);
                assertArrayEquals(Arrays.copyOfRange(data, 150_000, data.length), rest);
                assertTrue(s.isOnDisk());
            }
        }
    }
}
