package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.cryptforward.support.ConfigToml;
import org.cryptforward.support.Corpus;
import org.cryptforward.support.MboxReader;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PythonMailbox;
import org.cryptforward.support.Sandbox;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every corpus message, delivered by {@code deliver} (no rule: kept locally only) into one Maildir
 * and one mbox, reads back byte for byte — with the test's own reader and with Python's
 * {@code mailbox} module, an independent implementation.
 *
 * <p>Maildir: each file is the message exactly as it came (without the envelope {@code From }
 * line). mbox: after removing the {@code From } line and one {@code >} of mboxrd quoting per
 * quoted line, the message is the original — except that a message that does not end with a
 * line end gets one, because the mbox format has no way to keep that difference.
 */
class CorpusLocalCopyTest {
    @TempDir
    Path tmp;

    record Delivered(String name, byte[] expected, Path file) {}

    @Test
    void everyCorpusMessageReadsBackFromMaildirAndMbox() throws Exception {
        Sandbox maildir = new ConfigToml(new Sandbox(tmp.resolve("md"), 9, "", true))
                .mailbox(tmp.resolve("md/Maildir"), true)
                .write();
        Sandbox mbox = new ConfigToml(new Sandbox(tmp.resolve("mb"), 9, "", false)).write();
        List<Delivered> delivered = new ArrayList<>();
        int n = 0;
        int withoutFinalNewline = 0;
        for (Path p : Corpus.all()) {
            byte[] input = Corpus.read(p);
            byte[] expected = Messages.withoutEnvelopeLine(input);
            String recipient = "keep" + (n++) + "@cf.test";
            Set<Path> before = new HashSet<>(maildir.maildirMessages());
            Sandbox.Run md = maildir.deliver(input, "--recipient", recipient);
            assertEquals(0, md.exit(), () -> Corpus.name(p) + ": " + md.combined());
            List<Path> added = maildir.maildirMessages().stream()
                    .filter(f -> !before.contains(f))
                    .toList();
            assertEquals(1, added.size(), Corpus.name(p));
            Sandbox.Run mb = mbox.deliver(input, "--recipient", recipient);
            assertEquals(0, mb.exit(), () -> Corpus.name(p) + ": " + mb.combined());
            delivered.add(new Delivered(Corpus.name(p), expected, added.get(0)));
            if (expected.length > 0 && expected[expected.length - 1] != '\n') {
                withoutFinalNewline++;
            }
        }
        assertTrue(delivered.size() >= 300, "the whole corpus: " + delivered.size());

        // Maildir, read directly and by Python
        Map<String, byte[]> python = PythonMailbox.readMaildir(maildir.mailbox, tmp);
        assertEquals(delivered.size(), python.size(), "Python finds every message in the Maildir");
        for (Delivered d : delivered) {
            assertArrayEquals(d.expected(), Files.readAllBytes(d.file()), d.name() + " in Maildir");
            byte[] py = python.get(d.file().getFileName().toString());
            assertArrayEquals(d.expected(), py, d.name() + " in Maildir, as Python reads it");
        }

        // mbox, read by the test's reader and by Python
        List<MboxReader.Entry> entries = MboxReader.read(mbox.mailbox);
        List<PythonMailbox.MboxMessage> pyMbox = PythonMailbox.readMbox(mbox.mailbox, tmp);
        int quoted = 0;
        assertEquals(delivered.size(), entries.size(), "one mbox entry per message");
        assertEquals(delivered.size(), pyMbox.size(), "Python splits the mbox into the same messages");
        for (int i = 0; i < delivered.size(); i++) {
            Delivered d = delivered.get(i);
            byte[] want = MboxReader.expectedReadBack(d.expected());
            assertArrayEquals(want, entries.get(i).message(), d.name() + " in mbox");
            assertArrayEquals(
                    want, MboxReader.unquote(pyMbox.get(i).stored()), d.name() + " in mbox, as Python reads it");
            assertEquals(entries.get(i).fromLine(), pyMbox.get(i).fromLine(), d.name());
            assertTrue(
                    MboxReader.FROM_LINE.matcher(entries.get(i).fromLine()).matches(),
                    entries.get(i).fromLine());
            if (!java.util.Arrays.equals(entries.get(i).stored(), entries.get(i).message())) {
                quoted++;
            }
        }
        assertTrue(quoted > 0, "the corpus exercises the quoting");
        System.out.printf(
                "corpus: %d messages read back from Maildir and mbox (%d with quoted From lines;"
                        + " %d without a final line end got one in the mbox)%n",
                delivered.size(), quoted, withoutFinalNewline);
    }
}
