package org.cryptforward.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.cryptforward.config.Glob;
import org.cryptforward.config.Rule;
import org.cryptforward.message.HeaderSection;
import org.cryptforward.message.InputMessage;
import org.cryptforward.rules.Envelope;
import org.cryptforward.rules.LoopDetector;
import org.cryptforward.rules.Router;

/**
 * Coverage-guided fuzzing of the rule matcher: arbitrary globs, envelope recipients and headers
 * never make routing or loop detection fail, and a glob without wildcards matches exactly its own
 * text, case-insensitively.
 */
class RuleFuzzTest {
    @FuzzTest(maxDuration = "10m")
    void route(FuzzedDataProvider data) throws IOException {
        String glob = data.consumeString(40);
        String recipient = data.consumeString(80);
        byte[] message = data.consumeRemainingAsBytes();
        Glob g = new Glob(glob);
        if (glob.indexOf('*') < 0 && glob.indexOf('?') < 0) {
            assertTrue(g.matches(glob), "a literal glob matches itself");
            assertTrue(g.matches(glob.toLowerCase(java.util.Locale.ROOT)), "case-insensitive");
        }
        Rule rule = new Rule(
                "r",
                List.of(g),
                Map.of("Subject", Pattern.compile(".")),
                List.of("a@b.example"),
                List.of("k@b.example"),
                Rule.Format.PGP_MIME,
                true,
                false);
        Rule any = new Rule(
                "any",
                List.of(),
                Map.of(),
                List.of("a@b.example"),
                List.of("k@b.example"),
                Rule.Format.PGP_MIME,
                true,
                false);
        try (InputMessage m = InputMessage.of(message)) {
            Router router = new Router(List.of(rule, any));
            java.util.Set<String> wanted = new java.util.HashSet<>(router.headerNames());
            wanted.addAll(List.of("to", "cc", "delivered-to", "x-cryptforward-loop"));
            HeaderSection h = HeaderSection.parse(m, wanted);
            Envelope e = new Envelope(Optional.of(recipient), "fuzz", "", "fuzz");
            Optional<Router.Match> match = router.route(e, h);
            assertTrue(match.isPresent(), "the catch-all rule always matches");
            LoopDetector.loop(h, "cf.test", List.of("a@b.example"));
        }
    }
}
