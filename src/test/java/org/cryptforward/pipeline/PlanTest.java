package org.cryptforward.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.cryptforward.config.Config;
import org.cryptforward.config.ConfigLoader;
import org.cryptforward.rules.Router;
import org.cryptforward.support.Sandbox;
import org.cryptforward.support.TestKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one decision: which {@link Plan} variant each kind of message gets, and how {@code test}
 * renders each variant — from the variant, never from the words of the outcome.
 */
class PlanTest {
    static final String TEXT = "From: a@host.example\nTo: root\nSubject: s\nMessage-ID: <p.1@host.example>\n\nhello\n";
    static final String MULTIPART = "From: a@host.example\nTo: root\nSubject: s\nMIME-Version: 1.0\n"
            + "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhello\n--b--\n";

    @TempDir
    Path tmp;

    Config config(String extra, List<String> keys) throws Exception {
        return ConfigLoader.load(new Sandbox(tmp.resolve("sb" + System.nanoTime()), 9, extra, false, keys).config);
    }

    Config config(String extra) throws Exception {
        return config(extra, List.of(TestKeys.ED.email, TestKeys.RSA.email));
    }

    static Plan plan(Config cfg, String message, String recipient) throws Exception {
        return plan(cfg, message.getBytes(StandardCharsets.UTF_8), recipient);
    }

    static Plan plan(Config cfg, byte[] message, String recipient) throws Exception {
        Planner planner = new Planner(cfg, Clock.systemUTC(), new SecureRandom());
        try (Intake in = Intake.read(
                new Router(cfg.rules()),
                new ByteArrayInputStream(message),
                tmpDir(),
                false,
                Map.of(),
                Optional.of(recipient),
                Optional.of("a@host.example"))) {
            return planner.plan(in.header(), in.envelope(), in.rule());
        }
    }

    static Path tmpDir() {
        return Path.of(System.getProperty("java.io.tmpdir"));
    }

    @Test
    void noRuleKeepsOnly() throws Exception {
        Plan p = plan(config(""), TEXT.replace("To: root", "To: postmaster@cf.test"), "postmaster@cf.test");
        Plan.KeepOnly k = assertInstanceOf(Plan.KeepOnly.class, p);
        assertTrue(k.rule().isEmpty());
        assertEquals("keep locally only", Preview.action(p));
    }

    @Test
    void aLoopKeepsOnlyOrDefersWithoutALocalCopy() throws Exception {
        String looped = "X-Cryptforward-Loop: cf.test\n" + TEXT;
        Plan kept = plan(config(""), looped, "root@cf.test");
        assertInstanceOf(Plan.KeepOnly.class, kept);
        assertTrue(Preview.action(kept).startsWith("kept locally, not forwarded: "), Preview.action(kept));
        Plan.Defer d = assertInstanceOf(Plan.Defer.class, plan(config("local_copy = false\n"), looped, "root@cf.test"));
        assertEquals("4.4.6", d.failure().status());
        assertTrue(Preview.action(d).startsWith("defer (exit 75): mail forwarding loop"), Preview.action(d));
    }

    @Test
    void pgpMimeByDefault() throws Exception {
        Plan.Encrypt e = assertInstanceOf(Plan.Encrypt.class, plan(config(""), TEXT, "root@cf.test"));
        assertEquals(Plan.Format.PGP_MIME, e.format());
        assertEquals(Optional.empty(), e.note());
        assertEquals("keep locally and forward encrypted as PGP/MIME to admin@example.org", Preview.action(e));
    }

    @Test
    void inlineWhereAskedAndPossibleElsePgpMimeWithANote() throws Exception {
        Config inline = config("format = \"inline\"\n");
        Plan.Encrypt e = assertInstanceOf(Plan.Encrypt.class, plan(inline, TEXT, "root@cf.test"));
        assertEquals(Plan.Format.INLINE, e.format());
        assertEquals("keep locally and forward encrypted inline to admin@example.org", Preview.action(e));
        Plan.Encrypt fallback = assertInstanceOf(Plan.Encrypt.class, plan(inline, MULTIPART, "root@cf.test"));
        assertEquals(Plan.Format.PGP_MIME, fallback.format());
        assertTrue(
                fallback.note().orElseThrow().contains("sent as PGP/MIME"),
                fallback.note().toString());
        assertEquals("keep locally and forward encrypted as PGP/MIME to admin@example.org", Preview.action(fallback));
    }

    @Test
    void anUnusableKeySendsANoticeOrDefersWithoutALocalCopy() throws Exception {
        List<String> missing = List.of(TestKeys.ED.email, "nobody@nowhere.example");
        Plan.Notice n = assertInstanceOf(Plan.Notice.class, plan(config("", missing), TEXT, "root@cf.test"));
        assertTrue(
                n.warning().orElseThrow().contains("nobody@nowhere.example"),
                n.warning().toString());
        assertTrue(n.isNotice());
        assertEquals("keep locally and send a notice without content to admin@example.org", Preview.action(n));
        Plan.Defer d =
                assertInstanceOf(Plan.Defer.class, plan(config("local_copy = false\n", missing), TEXT, "root@cf.test"));
        assertEquals("4.7.5", d.failure().status());
        assertTrue(d.keys().isPresent());
    }

    @Test
    void ourOwnEncryptedForwardIsPassedThroughAsItIs() throws Exception {
        Config cfg = config("");
        ByteArrayOutputStream forward = new ByteArrayOutputStream();
        Planner planner = new Planner(cfg, Clock.systemUTC(), new SecureRandom());
        try (Intake in = Intake.read(
                new Router(cfg.rules()),
                new ByteArrayInputStream(TEXT.getBytes(StandardCharsets.UTF_8)),
                tmpDir(),
                false,
                Map.of(),
                Optional.of("root@cf.test"),
                Optional.empty())) {
            Plan.Encrypt e = assertInstanceOf(Plan.Encrypt.class, planner.plan(in.header(), in.envelope(), in.rule()));
            e.forwarder().forwardTo("admin@example.org", "/var/mail/root").writeTo(forward);
        }
        byte[] again = forward.toString(StandardCharsets.UTF_8)
                .replaceFirst("(?m)^X-Cryptforward-Loop: .*\n", "")
                .getBytes(StandardCharsets.UTF_8);
        Plan.PassThrough p = assertInstanceOf(Plan.PassThrough.class, plan(cfg, again, "root@cf.test"));
        assertEquals("forwarded as it is", p.outcome());
        assertEquals("keep locally and forward as it is (already encrypted) to admin@example.org", Preview.action(p));
    }
}
