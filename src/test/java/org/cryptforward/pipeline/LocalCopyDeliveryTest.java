package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import jakarta.mail.internet.MimeMessage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.cryptforward.support.ConfigToml;
import org.cryptforward.support.ExternalTool;
import org.cryptforward.support.MboxReader;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.RelayExtension;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code deliver} and the local copy, end to end in-process: the SPEC's cases without a copy or
 * without a rule, idempotent retries (also after a run killed in the middle of its local copy,
 * set up on disk as such a run leaves it), damaged journals, and the temporary failures of the
 * mailbox — a lock held too long, a full disk, a foreign owner — each a 75 with its status line.
 */
class LocalCopyDeliveryTest {
    static final byte[] MESSAGE = ("From: Cron Daemon <root@host.example>\nTo: root\nSubject: Cron <root@host> backup\n"
                    + "Message-ID: <backup.1@host.example>\n\nbackup done\nFrom here on, nothing.\n")
            .getBytes(StandardCharsets.US_ASCII);
    static final byte[] OTHER =
            "From: a@host.example\nTo: root\nSubject: other\n\nanother message\n".getBytes(StandardCharsets.US_ASCII);

    @RegisterExtension
    static final RelayExtension relay = new RelayExtension();

    @TempDir
    Path tmp;

    Process holder;

    @AfterEach
    void release() {
        if (holder != null) {
            holder.destroyForcibly();
        }
    }

    Sandbox sandbox(boolean maildir) {
        return new Sandbox(tmp.resolve(maildir ? "md" : "mb"), relay.port(), "", maildir);
    }

    /** The message as Postfix pipes it: the envelope line differs from run to run. */
    static byte[] postfix(byte[] message, int run) {
        byte[] env =
                ("From root@host.example  Thu Mar  5 07:08:0" + run + " 2026\n").getBytes(StandardCharsets.US_ASCII);
        byte[] b = Arrays.copyOf(env, env.length + message.length);
        System.arraycopy(message, 0, b, env.length, message.length);
        return b;
    }

    static List<byte[]> copies(Sandbox sb) throws IOException {
        if (Files.isDirectory(sb.mailbox)) {
            List<byte[]> out = new java.util.ArrayList<>();
            for (Path p : sb.maildirMessages()) {
                out.add(Files.readAllBytes(p));
            }
            return out;
        }
        return MboxReader.read(sb.mailbox).stream()
                .map(MboxReader.Entry::message)
                .toList();
    }

    static long count(List<byte[]> copies, byte[] message) {
        return copies.stream().filter(c -> Arrays.equals(c, message)).count();
    }

    static void assertDecryptsToOriginal(MimeMessage forward, byte[] original) {
        byte[] payload = TestKeys.ED.decrypt(PgpMime.encryptedPart(forward));
        assertTrue(Messages.isOriginalWithMark(original, payload), "the forward decrypts to the original");
        assertArrayEquals(payload, TestKeys.RSA.decrypt(PgpMime.encryptedPart(forward)), "and so for every key");
    }

    @ParameterizedTest(name = "maildir={0}")
    @ValueSource(booleans = {false, true})
    void noRuleMatchedKeepsItLocallyOnly(boolean maildir) throws Exception {
        Sandbox sb = sandbox(maildir);
        byte[] message = "From: a@host.example\nTo: postmaster@cf.test\nSubject: for nobody in particular\n\nhello\n"
                .getBytes(StandardCharsets.US_ASCII);
        Sandbox.Run run = sb.deliver(postfix(message, 1), "--recipient", "postmaster@cf.test");
        assertEquals(0, run.exit(), run.combined());
        assertEquals("", run.combined());
        List<byte[]> copies = copies(sb);
        assertEquals(1, copies.size());
        assertArrayEquals(message, copies.get(0));
        assertEquals(0, relay.received().length, "nothing forwarded");
        assertTrue(sb.logText().contains("no rule matched"), sb.logText());
    }

    @ParameterizedTest(name = "maildir={0}")
    @ValueSource(booleans = {false, true})
    void localCopyFalseForwardsWithoutACopy(boolean maildir) throws Exception {
        Sandbox sb = new ConfigToml(sandbox(maildir))
                .relayPort(relay.port())
                .mailbox(tmp.resolve("box"), maildir)
                .rootRule(false, "admin@example.org")
                .write();
        Sandbox.Run run = sb.deliver(postfix(MESSAGE, 1), "--recipient", "root@cf.test");
        assertEquals(0, run.exit(), run.combined());
        assertFalse(Files.exists(tmp.resolve("box")), "no local copy written");
        assertEquals(1, relay.received().length);
        assertDecryptsToOriginal(relay.received()[0], MESSAGE);
        assertTrue(sb.logText().contains("local=none"), sb.logText());
    }

    @Test
    void localCopyFalseAndTheRelayDownIsATemporaryFailureWithNothingWritten() throws Exception {
        Sandbox sb = new ConfigToml(sandbox(false))
                .relayPort(closedPort())
                .mailbox(tmp.resolve("box"), false)
                .rootRule(false, "admin@example.org")
                .write();
        Sandbox.Run run = sb.deliver(postfix(MESSAGE, 1), "--recipient", "root@cf.test");
        assertEquals(75, run.exit(), run.combined());
        assertTrue(run.combined().startsWith("4."), run.combined());
        assertFalse(Files.exists(tmp.resolve("box")));
    }

    @ParameterizedTest(name = "maildir={0}")
    @ValueSource(booleans = {false, true})
    void theSameMessageTwiceIsKeptAndForwardedOnce(boolean maildir) throws Exception {
        Sandbox sb = sandbox(maildir);
        assertEquals(
                0,
                sb.deliver(postfix(MESSAGE, 1), "--recipient", "root@cf.test").exit());
        Sandbox.Run again = sb.deliver(postfix(MESSAGE, 2), "--recipient", "root@cf.test");
        assertEquals(0, again.exit(), again.combined());
        assertEquals(1, count(copies(sb), MESSAGE));
        assertEquals(1, copies(sb).size());
        assertEquals(1, relay.received().length);
        assertTrue(sb.logText().contains("already delivered by an earlier run"), sb.logText());
    }

    // ---- a run killed in the middle of its local copy, and its retry

    /** The journal key of MESSAGE for root@cf.test, computed here from its definition. */
    static String key() throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(MESSAGE);
        sha.update("root@cf.test".getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(digest);
        return HexFormat.of().formatHex(sha.digest());
    }

    static final byte[] FROM_LINE =
            "From root@host.example Thu Mar  5 07:08:01 2026\n".getBytes(StandardCharsets.US_ASCII);

    /** The bytes a complete append of MESSAGE writes: From line, the message quoted (one line needs it), empty line. */
    static byte[] entry() {
        byte[] quoted = new String(MESSAGE, StandardCharsets.US_ASCII)
                .replace("\nFrom here", "\n>From here")
                .getBytes(StandardCharsets.US_ASCII);
        assertEquals(MESSAGE.length + 1, quoted.length);
        byte[] e = Arrays.copyOf(FROM_LINE, FROM_LINE.length + quoted.length + 1);
        System.arraycopy(quoted, 0, e, FROM_LINE.length, quoted.length);
        e[e.length - 1] = '\n';
        return e;
    }

    /** The mbox and state_dir as a run killed after writing {@code written} bytes of its append leaves them. */
    static void killedAppend(Sandbox sb, int written) throws Exception {
        byte[] base = Files.readAllBytes(sb.mailbox);
        byte[] entry = entry();
        try (var out = Files.newOutputStream(sb.mailbox, java.nio.file.StandardOpenOption.APPEND)) {
            out.write(entry, 0, written);
        }
        String fileKey = String.valueOf(
                Files.readAttributes(sb.mailbox, BasicFileAttributes.class).fileKey());
        String pathHash = HexFormat.of()
                .formatHex(MessageDigest.getInstance("SHA-256")
                        .digest(sb.mailbox.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8)));
        Path pending = Files.createDirectories(sb.state.resolve("pending")).resolve("mbox-" + pathHash);
        Files.writeString(
                pending,
                "v1 " + base.length + " 0 " + entry.length + " "
                        + HexFormat.of().formatHex(FROM_LINE) + " " + fileKey + " " + key() + "\n");
    }

    @ParameterizedTest(name = "killed after {0} of the bytes")
    @ValueSource(ints = {0, 10, 60, 100, -1})
    void theRetryOfAKilledMboxAppendEndsWithExactlyOneCopy(int written) throws Exception {
        Sandbox sb = sandbox(false);
        assertEquals(
                0, sb.deliver(postfix(OTHER, 1), "--recipient", "root@cf.test").exit(), "an earlier message");
        relay.reset();
        int n = written < 0 ? entry().length : written;
        killedAppend(sb, n);

        Sandbox.Run retry = sb.deliver(postfix(MESSAGE, 2), "--recipient", "root@cf.test");
        assertEquals(0, retry.exit(), retry.combined());
        List<MboxReader.Entry> entries = MboxReader.read(sb.mailbox);
        assertEquals(2, entries.size(), "the earlier message and this one, once");
        assertArrayEquals(OTHER, entries.get(0).message());
        assertArrayEquals(MESSAGE, entries.get(1).message());
        assertEquals(
                n == entry().length,
                entries.get(1).fromLine().equals(new String(FROM_LINE, StandardCharsets.US_ASCII).strip()),
                "a complete append is kept, not written again");
        assertEquals(1, relay.received().length);
        assertDecryptsToOriginal(relay.received()[0], MESSAGE);
        assertStateClean(sb);
    }

    @ParameterizedTest(name = "complete={0}")
    @ValueSource(booleans = {false, true})
    void anotherDeliveryRepairsTheMailboxBeforeTheRetryComes(boolean complete) throws Exception {
        Sandbox sb = sandbox(false);
        assertEquals(
                0, sb.deliver(postfix(OTHER, 1), "--recipient", "root@cf.test").exit());
        killedAppend(sb, complete ? entry().length : 70);
        byte[] third = "To: root\nSubject: third\n\nthird\n".getBytes(StandardCharsets.US_ASCII);
        assertEquals(
                0, sb.deliver(postfix(third, 1), "--recipient", "root@cf.test").exit());
        List<byte[]> between = copies(sb);
        assertEquals(complete ? 3 : 2, between.size(), "no trace, or the complete message");
        assertEquals(complete ? 1 : 0, count(between, MESSAGE));

        assertEquals(
                0,
                sb.deliver(postfix(MESSAGE, 2), "--recipient", "root@cf.test").exit());
        List<byte[]> after = copies(sb);
        assertEquals(3, after.size());
        assertEquals(1, count(after, MESSAGE), "exactly one copy");
        assertEquals(1, count(after, third));
        assertEquals(1, count(after, OTHER));
        assertStateClean(sb);
    }

    @ParameterizedTest(name = "linked={0}")
    @ValueSource(booleans = {false, true})
    void theRetryOfAKilledMaildirDeliveryEndsWithExactlyOneCopy(boolean linked) throws Exception {
        Sandbox sb = sandbox(true);
        String name = "1772694489.M1P4242R00112233445566778Q1.cf.test";
        Path journal = Files.createDirectories(sb.state.resolve("journal")).resolve(key());
        Files.writeString(journal, "maildir-intent " + name + "\n");
        for (String d : List.of("tmp", "new", "cur")) {
            Files.createDirectories(sb.mailbox.resolve(d));
        }
        Path tmpFile = sb.mailbox.resolve("tmp").resolve(name);
        if (linked) {
            Files.write(tmpFile, MESSAGE);
            Files.createLink(sb.mailbox.resolve("new").resolve(name), tmpFile);
        } else {
            Files.write(tmpFile, Arrays.copyOf(MESSAGE, 40)); // killed while writing
        }
        Sandbox.Run retry = sb.deliver(postfix(MESSAGE, 2), "--recipient", "root@cf.test");
        assertEquals(0, retry.exit(), retry.combined());
        List<byte[]> copies = copies(sb);
        assertEquals(1, copies.size());
        assertArrayEquals(MESSAGE, copies.get(0));
        assertEquals(linked, Files.exists(sb.mailbox.resolve("new").resolve(name)), "a linked copy is the one kept");
        try (Stream<Path> s = Files.list(sb.mailbox.resolve("tmp"))) {
            assertEquals(0, s.count(), "the leftover in tmp/ is removed");
        }
        assertEquals(1, relay.received().length);
    }

    static void assertStateClean(Sandbox sb) throws IOException {
        try (Stream<Path> s = Files.list(sb.state.resolve("pending"))) {
            assertEquals(List.of(), s.toList(), "no pending append and no uncollected outcome left");
        }
    }

    // ---- damaged journals never block a new message

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"garbage", "torn", "directory", "symlink", "journal-is-a-file"})
    void aDamagedJournalDoesNotBlockDelivery(String damage) throws Exception {
        Sandbox sb = sandbox(false);
        Path journal = sb.state.resolve("journal");
        Path entry = journal.resolve(key());
        switch (damage) {
            case "garbage" -> {
                Files.createDirectories(journal);
                Files.write(entry, new byte[] {(byte) 0xde, (byte) 0xad, 0, '\n', 's', 'e', 'n', 't', 0x7f, '\n'});
            }
            case "torn" -> {
                Files.createDirectories(journal);
                Files.writeString(entry, "loc");
            }
            case "directory" -> Files.createDirectories(entry.resolve("x"));
            case "symlink" -> {
                Files.createDirectories(journal);
                Files.createSymbolicLink(entry, Path.of("/dev/zero"));
            }
            case "journal-is-a-file" -> Files.writeString(journal, "junk");
            default -> throw new IllegalArgumentException(damage);
        }
        Sandbox.Run run = sb.deliver(postfix(MESSAGE, 1), "--recipient", "root@cf.test");
        assertEquals(0, run.exit(), run.combined());
        assertEquals(1, count(copies(sb), MESSAGE));
        assertEquals(1, relay.received().length);
        Sandbox.Run again = sb.deliver(postfix(MESSAGE, 2), "--recipient", "root@cf.test");
        assertEquals(0, again.exit(), again.combined());
        assertEquals(1, count(copies(sb), MESSAGE), "and the journal works again afterwards");
        assertEquals(1, relay.received().length);
    }

    @Test
    void oldJournalEntriesArePrunedAfterTheConfiguredRetention() throws Exception {
        Sandbox sb = new ConfigToml(sandbox(false))
                .relayPort(relay.port())
                .retentionDays(2)
                .rootRule(true, "admin@example.org")
                .write();
        Path journal = Files.createDirectories(sb.state.resolve("journal"));
        Path old = Files.writeString(journal.resolve("a".repeat(64)), "local /x\n");
        Path young = Files.writeString(journal.resolve("b".repeat(64)), "local /x\n");
        Files.setLastModifiedTime(old, FileTime.from(Instant.now().minus(Duration.ofDays(3))));
        Files.setLastModifiedTime(young, FileTime.from(Instant.now().minus(Duration.ofDays(1))));
        assertEquals(
                0,
                sb.deliver(postfix(MESSAGE, 1), "--recipient", "root@cf.test").exit());
        assertFalse(Files.exists(old));
        assertTrue(Files.exists(young));
        assertTrue(Files.exists(journal.resolve(key())), "this message's entry stays");
    }

    // ---- the mailbox's temporary failures

    @Test
    void aMailboxLockedTooLongIsATemporaryFailure() throws Exception {
        Sandbox sb = new ConfigToml(sandbox(false))
                .relayPort(relay.port())
                .lockTimeoutSeconds(1)
                .rootRule(true, "admin@example.org")
                .write();
        Files.writeString(sb.mailbox, "");
        ExternalTool.require("python3");
        holder = new ProcessBuilder(
                        "python3",
                        "-c",
                        "import fcntl,sys,time\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(600)",
                        sb.mailbox.toString())
                .redirectErrorStream(true)
                .start();
        assertEquals("locked", new String(holder.getInputStream().readNBytes(6), StandardCharsets.US_ASCII));
        Sandbox.Run run = sb.deliver(postfix(MESSAGE, 1), "--recipient", "root@cf.test");
        assertEquals(75, run.exit());
        assertTrue(
                run.err().startsWith("4.2.0 cryptforward: mailbox " + sb.mailbox + " is locked by another process"),
                run.err());
        assertEquals(0, Files.size(sb.mailbox));
        assertEquals(0, relay.received().length, "nothing is forwarded before the copy is safe");
        holder.destroyForcibly().waitFor();
        assertEquals(
                0,
                sb.deliver(postfix(MESSAGE, 2), "--recipient", "root@cf.test").exit(),
                "the MTA's retry succeeds");
        assertEquals(1, count(copies(sb), MESSAGE));
    }

    @Test
    void aFullDiskIsATemporaryFailureAndLeavesTheMailboxAsItWas() throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve("small"));
        assumeTrue(
                "root".equals(System.getProperty("user.name"))
                        && run("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mnt.toString()) == 0,
                "needs root and permission to mount a tmpfs");
        try {
            Sandbox sb = new ConfigToml(sandbox(false))
                    .relayPort(relay.port())
                    .mailbox(mnt.resolve("root"), false)
                    .rootRule(true, "admin@example.org")
                    .write();
            assertEquals(
                    0,
                    sb.deliver(postfix(OTHER, 1), "--recipient", "root@cf.test").exit());
            byte[] before = Files.readAllBytes(mnt.resolve("root"));
            byte[] big = (new String(MESSAGE, StandardCharsets.US_ASCII) + "padding line\n".repeat(20_000))
                    .getBytes(StandardCharsets.US_ASCII);
            relay.reset();
            Sandbox.Run run = sb.deliver(postfix(big, 1), "--recipient", "root@cf.test");
            assertEquals(75, run.exit());
            assertTrue(run.err().startsWith("4.3.1 cryptforward: cannot append to mailbox"), run.err());
            assertArrayEquals(before, Files.readAllBytes(mnt.resolve("root")));
            assertEquals(0, relay.received().length);
        } finally {
            run("umount", mnt.toString());
        }
    }

    @Test
    void aMailboxOfAnotherUserIsRefused() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "only root can give a file away");
        Sandbox sb = sandbox(false);
        Files.writeString(sb.mailbox, "");
        Files.setAttribute(sb.mailbox, "unix:uid", 4242);
        Sandbox.Run run = sb.deliver(postfix(MESSAGE, 1), "--recipient", "root@cf.test");
        assertEquals(75, run.exit());
        assertTrue(
                run.err().startsWith("4.3.0 cryptforward: refusing " + sb.mailbox + ": owned by uid 4242"), run.err());
        assertEquals(0, Files.size(sb.mailbox));
    }

    static int closedPort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static int run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }
}
