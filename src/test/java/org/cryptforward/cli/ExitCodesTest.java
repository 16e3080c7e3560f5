package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.cryptforward.support.Sandbox;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one table of exit codes: --help lists it, every failure maps through it, deliver and the launcher keep to its MTA set. */
class ExitCodesTest {
    @TempDir
    Path tmp;

    @Test
    void helpListsEveryCodeOfTheTableAndNoOther() {
        Sandbox sb = new Sandbox(tmp, 9, "", false);
        Sandbox.Run help = sb.run(new byte[0], "--help");
        assertEquals(0, help.exit());
        String list = help.out().substring(help.out().indexOf("Exit codes:"));
        for (ExitCodes.Code c : ExitCodes.TABLE) {
            assertTrue(
                    Pattern.compile("(?m)^\\s*" + c.value() + "\\s+" + Pattern.quote(c.meaning()) + "$")
                            .matcher(list)
                            .find(),
                    c + " in:\n" + list);
        }
        long listed =
                list.lines().skip(1).filter(l -> l.matches("\\s*\\d+\\s+.*")).count();
        assertEquals(ExitCodes.TABLE.size(), listed, list);
    }

    @Test
    void everyFailureMapsThroughTheTable() {
        assertEquals(75, ExitCodes.of(Failure.temporary("4.3.0", "x")));
        assertEquals(69, ExitCodes.of(Failure.permanent("5.1.1", "x")));
        assertEquals(64, ExitCodes.of(Failure.usage("x")));
        assertEquals(65, ExitCodes.of(Failure.dataError("x")));
        assertEquals(75, ExitCodes.of(new OutOfMemoryError()), "anything unexpected is temporary");
        assertEquals(75, ExitCodes.of(new IllegalStateException()));
        for (int code = 0; code < 256; code++) {
            int mapped = ExitCodes.forDeliver(code);
            assertTrue(ExitCodes.DELIVER.contains(mapped));
            assertEquals(ExitCodes.DELIVER.contains(code) ? code : 75, mapped);
        }
    }

    @Test
    void deliverNeverReportsACodeOutsideTheMtaSet() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Cli.report(
                Failure.dataError("bad key"), new PrintStream(err, true, StandardCharsets.UTF_8), true, false);
        assertEquals(75, code, "65 means nothing to an MTA");
        assertEquals(
                65,
                Cli.report(Failure.dataError("bad key"), new PrintStream(new ByteArrayOutputStream()), false, false));
    }

    @Test
    void theLauncherPassesOnExactlyTheCodesDeliverMayEndWith() throws Exception {
        String script = Files.readString(Path.of("src/main/sh/cryptforward"));
        Matcher m = Pattern.compile("(?m)^\\s*([0-9|]+)\\) exit \\$status ;;").matcher(script);
        assertTrue(m.find(), "the launcher's pass-through case");
        Set<Integer> passed = Arrays.stream(m.group(1).split("\\|"))
                .map(Integer::valueOf)
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(new TreeSet<>(ExitCodes.DELIVER), passed);
        assertTrue(script.contains("exit " + ExitCodes.TEMPFAIL), "and maps the rest to 75");
    }
}
