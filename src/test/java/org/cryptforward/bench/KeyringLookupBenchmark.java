package org.cryptforward.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Date;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.cryptforward.keys.KeyImporter;
import org.cryptforward.keys.Keyring;
import org.cryptforward.keys.KeyringException;
import org.cryptforward.support.BcKeys;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What a delivery's key lookup costs as the keyring grows: a lookup by address with the index
 * (which should cost what one key costs, whatever the keyring's size), by fingerprint (matched on
 * file names), and by address without the index (every key read, the cost the index avoids).
 * Run with {@code bench/jmh.sh KeyringLookup}; not part of the test run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class KeyringLookupBenchmark {
    @Param({"10", "200"})
    int keys;

    Path dir;
    Keyring indexed;
    Keyring unindexed;
    String address;
    String fingerprint;

    @Setup
    public void setUp() throws Exception {
        dir = Files.createTempDirectory("cf-jmh-keyring");
        indexed = new Keyring(dir.resolve("indexed"));
        List<KeyImporter.Input> inputs = new ArrayList<>();
        for (int i = 0; i < keys; i++) {
            inputs.add(new KeyImporter.Input(
                    "key" + i, BcKeys.publicKey(BcKeys.key(4, "Key " + i + " <key" + i + "@example.org>"))));
        }
        new KeyImporter(indexed, new Date()).importAll(inputs);
        Path plain = Files.createDirectories(dir.resolve("plain"));
        try (Stream<Path> s = Files.list(indexed.dir())) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (p.getFileName().toString().endsWith(Keyring.SUFFIX)) {
                    Files.copy(p, plain.resolve(p.getFileName()));
                }
            }
        }
        unindexed = new Keyring(plain);
        address = "key" + (keys / 2) + "@example.org";
        fingerprint = indexed.find(address).fingerprint();
    }

    @TearDown
    public void tearDown() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Benchmark
    public String byAddressWithTheIndex() throws KeyringException {
        return indexed.find(address).fingerprint();
    }

    @Benchmark
    public String byFingerprint() throws KeyringException {
        return indexed.find(fingerprint).fingerprint();
    }

    @Benchmark
    public String byAddressReadingEveryKey() throws KeyringException {
        return unindexed.find(address).fingerprint();
    }
}
