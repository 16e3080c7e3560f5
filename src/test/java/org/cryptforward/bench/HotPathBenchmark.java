package org.cryptforward.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.api.OpenPGPKeyReader;
import org.cryptforward.crypto.Encryptor;
import org.cryptforward.keys.KeyUsability;
import org.cryptforward.message.ForwardComposer;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.message.Spool;
import org.cryptforward.support.TestKeys;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Microbenchmarks of the hot paths, so that a regression shows: reading and splitting the header
 * of a 200 KB report, encrypting and armoring 1 MB, composing a whole PGP/MIME forward, and
 * spooling 8 MB to the (encrypted, unlinked) temporary file and reading it back.
 * Run with {@code bench/jmh.sh}; they are not part of the test run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class HotPathBenchmark {
    private static final Set<String> NAMES = Set.of("from", "subject", "to", "cc", "content-type", "message-id");

    byte[] report;
    byte[] megabyte;
    byte[] eightMegabytes;
    List<PGPPublicKey> keys;
    Encryptor encryptor;
    ForwardComposer composer;
    InputMessage reportMessage;
    HeaderSection reportHeader;
    Path tmp;

    @Setup
    public void setUp() throws IOException {
        StringBuilder sb =
                new StringBuilder("From: logwatch@host.example\nTo: root@host.example\nSubject: Logwatch for host\n"
                        + "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\n");
        Random r = new Random(3);
        while (sb.length() < 200 * 1024) {
            sb.append("sshd: Failed password for invalid user admin from 203.0.113.")
                    .append(r.nextInt(255))
                    .append(" port ")
                    .append(r.nextInt(65535))
                    .append(" ssh2\n");
        }
        report = sb.toString().getBytes(StandardCharsets.UTF_8);
        megabyte = new byte[1 << 20];
        r.nextBytes(megabyte);
        eightMegabytes = new byte[8 << 20];
        r.nextBytes(eightMegabytes);
        keys = KeyUsability.evaluate(new OpenPGPKeyReader().parseCertificate(TestKeys.ED.publicKey()), new Date())
                .encryptionKeys();
        SecureRandom random = new SecureRandom();
        encryptor = new Encryptor(random);
        composer = new ForwardComposer("bench.example", Clock.systemUTC(), random);
        reportMessage = InputMessage.of(report);
        reportHeader = HeaderSection.parse(reportMessage, NAMES);
        tmp = Files.createTempDirectory("cf-jmh");
    }

    @TearDown
    public void tearDown() throws IOException {
        reportMessage.close();
        Files.deleteIfExists(tmp);
    }

    @Benchmark
    public int parseHeader() throws IOException {
        try (InputMessage m = InputMessage.of(report)) {
            return HeaderSection.parse(m, NAMES).fieldCount();
        }
    }

    @Benchmark
    public long encryptAndArmorOneMegabyte() throws Exception {
        Counting out = new Counting();
        try (OutputStream enc = encryptor.open(out, keys, Map.of())) {
            enc.write(megabyte);
        }
        return out.count;
    }

    @Benchmark
    public long composePgpMimeForward() throws IOException {
        Counting out = new Counting();
        composer.pgpMime(reportHeader, "admin@example.org", keys, "", false).writeTo(out);
        return out.count;
    }

    @Benchmark
    public long spoolEightMegabytes() throws IOException {
        try (Spool s = Spool.create(tmp, 1 << 20)) {
            for (int off = 0; off < eightMegabytes.length; off += 65536) {
                s.write(eightMegabytes, off, 65536);
            }
            s.finish();
            long n = 0;
            byte[] buf = new byte[65536];
            try (InputStream in = s.open(0, s.size())) {
                int k;
                while ((k = in.read(buf)) > 0) {
                    n += k;
                }
            }
            return n;
        }
    }

    /** Counts and discards. */
    static final class Counting extends OutputStream {
        long count;

        @Override
        public void write(int b) {
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            count += len;
        }
    }
}
