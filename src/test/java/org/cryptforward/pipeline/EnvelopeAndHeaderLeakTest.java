package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.cryptforward.support.Messages;
import org.cryptforward.support.PgpMime;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.ScriptedRelay;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What reaches the relay from the envelope and the header: every source of a sender yields a
 * valid address or {@code <>} (no SMTP parameter, no header field smuggled in); a non-ASCII
 * sender goes with SMTPUTF8 or falls back to {@code <>}, said in the log line; bare-CR line ends
 * never put the message into the outer header; {@code From : x} is a header field, not the
 * envelope line; {@code check} refuses the forward addresses {@code deliver} could not use.
 */
class EnvelopeAndHeaderLeakTest {
    static final String CANARY = "Canary9Inside";
    static ScriptedRelay relay;

    @TempDir
    Path tmp;

    Sandbox sb;

    @BeforeAll
    static void start() {
        relay = new ScriptedRelay();
    }

    @AfterAll
    static void stop() {
        relay.close();
    }

    @BeforeEach
    void sandbox() throws Exception {
        relay.clear().smtpUtf8(false);
        sb = new Sandbox(tmp.resolve("sb"), relay.port(), "", true);
        // no envelope_from: the message's own sender goes into MAIL FROM
        sb.writeConfig(Files.readString(sb.config).replace("envelope_from = \"cryptforward@cf.test\"\n", ""));
    }

    /** The MAIL FROM command of the last session, as the bytes it was sent in. */
    static String lastMailFrom() {
        List<String> c = relay.commands();
        for (int i = c.size() - 1; i >= 0; i--) {
            if (c.get(i).toUpperCase().startsWith("MAIL FROM:")) {
                return c.get(i);
            }
        }
        throw new AssertionError("no MAIL FROM in " + c);
    }

    byte[] deliverOk(byte[] message, String... args) throws java.io.IOException {
        // the same message again is a retry the journal knows: start each delivery afresh
        try (var files = Files.walk(sb.state)) {
            files.sorted(java.util.Comparator.reverseOrder())
                    .filter(p -> !p.equals(sb.state))
                    .forEach(p -> p.toFile().delete());
        }
        int before = relay.accepted().size();
        Sandbox.Run run = sb.deliver(message, args);
        assertEquals(0, run.exit(), run.combined());
        List<byte[]> got = relay.accepted();
        assertEquals(before + 1, got.size());
        return got.get(got.size() - 1);
    }

    static byte[] latin1(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "a@b.example\tSIZE=1",
                "a@b.example>SIZE=1",
                "a@b.example\rRSET",
                "<a@b.example> AUTH=<evil@x>",
                "a@b.example RET=FULL",
                "a b@c.example",
                "a@b.example>\tNOTIFY=NEVER"
            })
    void everySenderSourceYieldsAValidAddressOrTheNullSender(String hostile) throws Exception {
        byte[] body = latin1("To: root\nSubject: s\nMessage-ID: <s@b>\n\n" + CANARY + "\n");
        String ok = "MAIL FROM:<>";
        // the envelope From_ line (the date after the sender), --sender, $SENDER, Return-Path
        byte[] fromLine = latin1(
                "From " + hostile + "  Tue Dec  1 08:29:51 2026\n" + new String(body, StandardCharsets.ISO_8859_1));
        byte[] wire = deliverOk(fromLine, "--recipient", "root");
        assertSafeMailFrom(lastMailFrom(), ok);
        assertNoExtraField(wire);
        relay.clear();
        deliverOk(body, "--recipient", "root", "--sender", hostile);
        assertSafeMailFrom(lastMailFrom(), ok);
        sb.env("SENDER", hostile);
        deliverOk(body, "--recipient", "root");
        assertSafeMailFrom(lastMailFrom(), ok);
    }

    static void assertSafeMailFrom(String cmd, String expected) {
        assertTrue(
                cmd.equals(expected) || cmd.matches("MAIL FROM:<[A-Za-z0-9.@-]+>"),
                "MAIL FROM with nothing after the path: " + cmd);
        assertFalse(
                cmd.contains("SIZE=") || cmd.contains("AUTH=") || cmd.contains("RET=") || cmd.contains("NOTIFY="), cmd);
    }

    static void assertNoExtraField(byte[] wire) {
        String header = new String(wire, 0, Messages.bodyStart(wire), StandardCharsets.ISO_8859_1);
        for (String line : header.split("\r\n")) {
            if (line.isEmpty() || line.startsWith(" ") || line.startsWith("\t")) {
                continue;
            }
            String name = line.substring(0, Math.max(0, line.indexOf(':'))).toLowerCase();
            assertTrue(
                    List.of(
                                    "from",
                                    "subject",
                                    "to",
                                    "date",
                                    "message-id",
                                    "in-reply-to",
                                    "references",
                                    "x-cryptforward-loop",
                                    "mime-version",
                                    "content-type")
                            .contains(name),
                    "unexpected field outside: " + line);
        }
    }

    @Test
    void noFromAndAHostileEnvelopeSenderPutsNoFieldIntoTheOuterHeader() throws Exception {
        // with envelope_from set, MAIL FROM is that; the outer From is built from the envelope sender
        sb.writeConfig(Files.readString(sb.config)
                .replace("[relay]\n", "[relay]\nenvelope_from = \"cryptforward@cf.test\"\n"));
        byte[] m = latin1(
                "From x@y.example\rBcc: victim@evil.example  Tue Dec  1 08:29:51 2026\nTo: root\nSubject: nofrom\n\n"
                        + CANARY + "\n");
        byte[] wire = deliverOk(m, "--recipient", "root");
        assertEquals("MAIL FROM:<cryptforward@cf.test>", lastMailFrom());
        assertNoExtraField(wire);
        assertFalse(new String(wire, StandardCharsets.ISO_8859_1).contains("victim@evil.example"), "no Bcc outside");
        relay.clear();
        byte[] viaSender = latin1("To: root\nSubject: nofrom\n\n" + CANARY + "\n");
        byte[] wire2 =
                deliverOk(viaSender, "--recipient", "root", "--sender", "x@y.example>\nBcc: victim@evil.example");
        assertNoExtraField(wire2);
        assertFalse(new String(wire2, StandardCharsets.ISO_8859_1).contains("victim@evil.example"), "no Bcc outside");
    }

    @Test
    void aNonAsciiSenderGoesWithSmtpUtf8OrFallsBackToTheNullSender() throws Exception {
        byte[] m = latin1("To: root\nSubject: utf8\n\n" + CANARY + "\n");
        deliverOk(m, "--recipient", "root", "--sender", "jos\u00e9@b.example");
        assertEquals("MAIL FROM:<>", lastMailFrom(), "no SMTPUTF8 offered: the null sender");
        assertTrue(sb.logText().contains("non-ASCII sender needs SMTPUTF8"), sb.logText());
        relay.smtpUtf8(true);
        deliverOk(m, "--recipient", "root", "--sender", "jos\u00e9@b.example");
        String cmd = lastMailFrom();
        // the relay keeps commands as ISO-8859-1 text: the UTF-8 bytes of é are two characters
        assertEquals("MAIL FROM:<jos\u00c3\u00a9@b.example> SMTPUTF8", cmd);
        assertTrue(sb.logText().contains("non-ASCII sender sent with SMTPUTF8"), sb.logText());
        // bytes that are not UTF-8 in the From_ line (or U+FFFD from a C locale) are no address
        relay.clear();
        byte[] latin = latin1(
                "From jos\u00e9@b.example  Tue Dec  1 08:29:51 2026\n" + new String(m, StandardCharsets.ISO_8859_1));
        deliverOk(latin, "--recipient", "root");
        assertEquals("MAIL FROM:<>", lastMailFrom());
        deliverOk(m, "--recipient", "root", "--sender", "jos\uFFFD\uFFFD@b.example");
        assertEquals("MAIL FROM:<>", lastMailFrom());
    }

    @Test
    void bareCrLineEndsNeverPutTheMessageIntoTheOuterHeader() throws Exception {
        String body = (CANARY + " line\r").repeat(2000);
        byte[] m = latin1("From: a@b.example\rTo: root\rSubject: cr only\rX-Secret: " + CANARY + "\r\r" + body);
        byte[] wire = deliverOk(m, "--recipient", "root");
        String text = new String(wire, StandardCharsets.ISO_8859_1);
        assertFalse(text.contains(CANARY), "nothing of the message outside");
        assertTrue(text.contains("From: a@b.example\r\n"), "the From value alone");
        assertTrue(text.contains("Subject: cr only\r\n"), "the Subject value alone");
        assertNoExtraField(wire);
        byte[] plain = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(wire)));
        assertTrue(new String(plain, StandardCharsets.ISO_8859_1).contains(body), "the message is inside");
    }

    @Test
    void fromWithASpaceBeforeTheColonIsAHeaderFieldNotTheEnvelope() throws Exception {
        byte[] m = latin1("From : x@y.example\nTo: root\nSubject: colon\n\n" + CANARY + "\n");
        byte[] wire = deliverOk(m, "--recipient", "root");
        List<Path> local = sb.maildirMessages();
        assertArrayEquals(m, Files.readAllBytes(local.get(local.size() - 1)), "the first line is kept");
        byte[] plain = TestKeys.ED.decrypt(PgpMime.encryptedPart(PgpMime.parse(wire)));
        assertTrue(Messages.isOriginalWithMark(m, plain), "and forwarded");
        assertTrue(
                new String(wire, StandardCharsets.ISO_8859_1).contains("From : x@y.example\r\n"),
                "it is the From outside");
        // a real envelope line is still split off
        byte[] real =
                latin1("From x@y.example  Tue Dec  1 08:29:51 2026\nFrom: x@y.example\nTo: root\nSubject: e\n\nb\n");
        deliverOk(real, "--recipient", "root");
        local = sb.maildirMessages();
        assertTrue(
                local.stream().anyMatch(p -> {
                    try {
                        return new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1)
                                .startsWith("From: x@y.example\nTo: root\nSubject: e\n");
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }),
                "the envelope line is not in the local copy");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "admin.@example.org",
                "ad..min@example.org",
                "admin@example..org",
                "admin@-example.org",
                "admin@example.org.",
                "\u00e9@example.org",
                "admin@exa_mple.org"
            })
    void checkRefusesTheForwardAddressesDeliverCannotUse(String address) throws Exception {
        sb.writeConfig(Files.readString(sb.config)
                .replace("forward_to = [\"admin@example.org\"]", "forward_to = [\"" + address + "\"]"));
        Sandbox.Run check = sb.run(new byte[0], "check");
        assertTrue(check.exit() != 0, check::combined);
        assertTrue(check.combined().contains("not an e-mail address"), check::combined);
        Sandbox.Run run = sb.deliver(latin1("To: root\nSubject: x\n\nx\n"), "--recipient", "root");
        assertEquals(75, run.exit(), "an unusable configuration defers, never bounces: " + run.combined());
    }

    @Test
    void theInlineArmorNamesOnlyAKnownCharset() throws Exception {
        sb.writeConfig(Files.readString(sb.config)
                .replace(
                        "forward_to = [\"admin@example.org\"]",
                        "forward_to = [\"admin@example.org\"]\nformat = \"inline\""));
        byte[] m = latin1("To: root\nSubject: inline\nContent-Type: text/plain; charset=\"" + CANARY + "\"\n\nbody\n");
        String wire = new String(deliverOk(m, "--recipient", "root"), StandardCharsets.ISO_8859_1);
        assertFalse(wire.contains(CANARY), wire);
        assertTrue(wire.contains("Charset: us-ascii"), wire);
        byte[] latin = latin1("To: root\nSubject: inline\nContent-Type: text/plain; charset=latin1\n\nbody\n");
        assertTrue(new String(deliverOk(latin, "--recipient", "root"), StandardCharsets.ISO_8859_1)
                .contains("Charset: latin1"));
    }

    @Test
    void aRelayNamedDotLocalhostIsNotLoopbackByItsNameAlone() throws Exception {
        sb.writeConfig(Files.readString(sb.config)
                .replace("host = \"127.0.0.1\"", "host = \"relay.localhost\"")
                .replace("[relay]\n", "[relay]\nsecurity = \"none\"\n"));
        Sandbox.Run check = sb.run(new byte[0], "check");
        assertTrue(
                check.exit() != 0 && check.combined().contains("sends over the network in the clear"), check::combined);
    }

    @Test
    void aLogFileThatIsASymlinkIsNotFollowedAndSaidSo() throws Exception {
        Path target = tmp.resolve("elsewhere.log");
        Files.writeString(target, "");
        Files.createSymbolicLink(sb.log, target);
        Sandbox.Run run = sb.deliver(latin1("To: root\nSubject: x\n\nx\n"), "--recipient", "root");
        assertEquals(0, run.exit(), run.combined());
        assertEquals("", Files.readString(target), "the link is not followed");
        assertTrue(
                run.err().contains("cannot write log_file " + sb.log)
                        && run.err().contains("symbolic link"),
                run.err());
        Sandbox.Run check = sb.run(new byte[0], "check");
        assertTrue(check.out().contains("log_file " + sb.log + " is a symbolic link"), check.out());
    }
}
