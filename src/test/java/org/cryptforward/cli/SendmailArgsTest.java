package org.cryptforward.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.cryptforward.core.ExitCodes;
import org.cryptforward.core.Failure;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * sendmail's command line as the programs that call it write it (cron, mail(1), at, smartd,
 * mdadm, unattended-upgrades, logwatch, sudo), read getopt-style: clustered letters, values
 * attached or separate, options after recipients, {@code --}.
 */
class SendmailArgsTest {
    static SendmailArgs parse(String... args) throws Failure {
        return SendmailArgs.parse(List.of(args));
    }

    @Test
    void debianCron() throws Failure {
        SendmailArgs a = parse("-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root");
        assertEquals(List.of("root"), a.recipients());
        assertEquals(Optional.of("CronDaemon"), a.fullName());
        assertTrue(a.ignoreDots());
        assertFalse(a.extractRecipients());
        assertEquals(List.of("-B8BITMIME", "-oem"), a.ignored());
        assertEquals(SendmailArgs.Mode.DELIVER, a.mode());
    }

    @Test
    void clusteredAndSeparateForms() throws Failure {
        SendmailArgs a = parse("-oi", "-t");
        assertTrue(a.ignoreDots() && a.extractRecipients());
        SendmailArgs b = parse("-ti");
        assertTrue(b.ignoreDots() && b.extractRecipients());
        SendmailArgs c = parse("-itf", "logwatch@host.example");
        assertTrue(c.ignoreDots() && c.extractRecipients());
        assertEquals(
                Optional.of("logwatch@host.example"),
                c.sender(),
                "a value-taking letter at the end of a cluster takes the next word");
        assertEquals(Optional.of("a@b.example"), parse("-fa@b.example", "root").sender());
        assertEquals(
                Optional.of("a@b.example"), parse("-f", "a@b.example", "root").sender());
        assertEquals(
                Optional.of("a@b.example"), parse("-r", "<a@b.example>", "root").sender());
        assertEquals(Optional.of(""), parse("-f", "<>", "root").sender(), "the null sender");
        assertEquals(
                Optional.of("Cron Daemon"), parse("-F", "Cron Daemon", "root").fullName());
    }

    @Test
    void optionsMayFollowRecipientsUntilDoubleDash() throws Failure {
        SendmailArgs a = parse("root", "-oi", "admin@example.org");
        assertEquals(List.of("root", "admin@example.org"), a.recipients());
        assertTrue(a.ignoreDots());
        SendmailArgs b = parse("-i", "--", "-odd-name", "root");
        assertEquals(List.of("-odd-name", "root"), b.recipients(), "after --, everything is a recipient");
    }

    @Test
    void commaSeparatedAndBracketedRecipients() throws Failure {
        assertEquals(
                List.of("root", "admin@example.org", "ops@example.org"),
                parse("root, admin@example.org", "Ops <ops@example.org>").recipients());
    }

    @Test
    void modes() throws Failure {
        assertEquals(SendmailArgs.Mode.LIST_QUEUE, parse("-bp").mode());
        assertEquals(SendmailArgs.Mode.REBUILD_ALIASES, parse("-bi").mode());
        assertEquals(SendmailArgs.Mode.RUN_QUEUE, parse("-q").mode());
        assertEquals(SendmailArgs.Mode.RUN_QUEUE, parse("-q30m").mode());
        assertEquals(SendmailArgs.Mode.DELIVER, parse("-bm", "root").mode());
        assertTrue(parse("-odq", "root").queueOnly());
        assertFalse(parse("-odi", "root").queueOnly());
        assertTrue(parse("-v", "root").verbose());
    }

    @Test
    void optionsWithoutMeaningHereAreIgnoredAndListed() throws Failure {
        SendmailArgs a = parse(
                "-oee",
                "-odb",
                "-N",
                "never",
                "-Rhdrs",
                "-V",
                "envid",
                "-U",
                "-G",
                "-n",
                "-m",
                "-C",
                "/etc/mail/sendmail.cf",
                "-h",
                "17",
                "-L",
                "tag",
                "-OMaxHopCount=5",
                "-Am",
                "-d0.1",
                "root");
        assertEquals(List.of("root"), a.recipients());
        assertEquals(
                List.of(
                        "-oee",
                        "-odb",
                        "-Nnever",
                        "-Rhdrs",
                        "-Venvid",
                        "-U",
                        "-G",
                        "-n",
                        "-m",
                        "-C/etc/mail/sendmail.cf",
                        "-h17",
                        "-Ltag",
                        "-OMaxHopCount=5",
                        "-Am",
                        "-d0.1"),
                a.ignored());
    }

    @Test
    void cryptforwardsOwnLongOptions() throws Failure {
        SendmailArgs a = parse("--config", "/tmp/x.toml", "--debug", "-t");
        assertEquals(Optional.of("/tmp/x.toml"), a.config());
        assertTrue(a.debug());
        assertEquals(
                Optional.of("/tmp/y.toml"),
                parse("--config=/tmp/y.toml", "root").config());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "-z root",
                "-bd",
                "-bs",
                "-bv root",
                "-b",
                "-f",
                "--verbose root",
                "-F",
                "-oi",
                "-i --",
                "--config"
            })
    void badUsageIsA64WithOneLine(String line) {
        Failure f = assertThrows(Failure.class, () -> SendmailArgs.parse(List.of(line.split(" "))));
        assertEquals(ExitCodes.USAGE, f.exitCode());
        assertFalse(f.getMessage().contains("\n"));
        assertFalse(f.getMessage().isBlank());
    }

    @Test
    void aRecipientOrSenderThatCouldBreakAProtocolLineIsRefused() {
        assertEquals(
                ExitCodes.USAGE,
                assertThrows(Failure.class, () -> parse("root\r\nRCPT TO:<x@y>"))
                        .exitCode());
        assertEquals(
                ExitCodes.USAGE,
                assertThrows(Failure.class, () -> parse("-f", "a@b>\r\nDATA", "root"))
                        .exitCode());
    }

    @Test
    void theCommandLineSendmailGetsFromPicocliUsersIsNotPicocliS() throws Failure {
        // picocli would read -oem as -o with value "em" only if -o were declared; here every letter counts
        SendmailArgs a = parse("-oem", "-oi", "root");
        assertTrue(a.ignoreDots());
        assertEquals(List.of("-oem"), a.ignored());
    }
}
