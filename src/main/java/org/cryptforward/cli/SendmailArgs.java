package org.cryptforward.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.cryptforward.core.Failure;

/**
 * The command line of {@code sendmail}, read as sendmail, Postfix, nullmailer, dma and msmtp read
 * it — getopt style, not by picocli's rules: single-letter options, clustered ({@code -ti}), with
 * their value attached or in the next argument ({@code -fsender}, {@code -f sender}); {@code -o}
 * and {@code -b} take the rest of their word ({@code -oi}, {@code -oem}, {@code -bp}); options and
 * recipients may come in any order until {@code --}, after which every argument is a recipient.
 *
 * <p>What matters here: {@code -t} (recipients from To, Cc and Bcc, added to those on the command
 * line), {@code -i}/{@code -oi} (a line with a single dot does not end the message), {@code -f}/
 * {@code -r} (envelope sender), {@code -F} (full name, for a From field the message lacks),
 * {@code -bm} (deliver, the default), {@code -bp} ({@code mailq}), {@code -bi} ({@code newaliases}),
 * {@code -q} (run the queue), {@code -odq} (queue only, do not try the relay now), {@code -v}.
 * Options that make no sense without a local MTA's own machinery ({@code -oem}, {@code -oee},
 * {@code -odi}, {@code -odb}, {@code -B}, {@code -N}, {@code -R}, {@code -V}, {@code -C},
 * {@code -h}, {@code -L}, {@code -X}, {@code -U}, {@code -G}, {@code -n}, {@code -m}, {@code -A},
 * {@code -e}, {@code -d}, {@code -O}) are accepted and listed in {@link #ignored()}, for the log.
 * Modes that need a daemon or an alias database ({@code -bd}, {@code -bs}, {@code -bv},
 * {@code -bt}, {@code -bh}, {@code -bH}, {@code -bD}, {@code -bP}) and unknown letters are a
 * usage error (exit 64) with one line.
 *
 * <p>Two long options of cryptforward's own are read before any recipient: {@code --config FILE}
 * and {@code --debug}.
 */
public final class SendmailArgs {
    /** What the command line asks for. */
    public enum Mode {
        /** -bm, the default: read a message and send it */
        DELIVER,
        /** -bp, mailq: list the queue */
        LIST_QUEUE,
        /** -bi, newaliases: nothing to rebuild */
        REBUILD_ALIASES,
        /** -q: run the queue now */
        RUN_QUEUE
    }

    /** Letters whose value is the rest of the word or, when that is empty, the next argument. */
    private static final String WITH_VALUE = "fFrBNRVCLXheAOo";

    Mode mode = Mode.DELIVER;
    boolean extractRecipients;
    boolean ignoreDots;
    boolean queueOnly;
    boolean verbose;
    boolean debug;
    String sender;
    String fullName;
    String config;
    final List<String> recipients = new ArrayList<>();
    final List<String> ignored = new ArrayList<>();

    private SendmailArgs() {}

    /** Reads a command line (the arguments after {@code sendmail}); a wrong one is a usage failure (64). */
    public static SendmailArgs parse(List<String> args) throws Failure {
        SendmailArgs a = new SendmailArgs();
        boolean optionsEnded = false;
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            if (optionsEnded || !arg.startsWith("-") || arg.equals("-")) {
                a.addRecipients(arg);
                continue;
            }
            if (arg.equals("--")) {
                optionsEnded = true;
                continue;
            }
            if (arg.startsWith("--")) {
                String name = arg;
                String value = null;
                int eq = arg.indexOf('=');
                if (eq > 0) {
                    name = arg.substring(0, eq);
                    value = arg.substring(eq + 1);
                }
                switch (name) {
                    case "--debug" -> {
                        if (value != null) {
                            throw Failure.usage("option --debug takes no value");
                        }
                        a.debug = true;
                    }
                    case "--config" -> {
                        if (value == null) {
                            if (i + 1 >= args.size()) {
                                throw Failure.usage("option --config needs a file");
                            }
                            value = args.get(++i);
                        }
                        a.config = value;
                    }
                    default ->
                        throw Failure.usage(
                                "unknown option " + printable(name) + " (sendmail takes -t, -i, -f, -F, -o..., -b...)");
                }
                continue;
            }
            // a cluster of single letters: -ti, -oi, -fsender, -f sender
            for (int j = 1; j < arg.length(); j++) {
                char c = arg.charAt(j);
                if (WITH_VALUE.indexOf(c) >= 0) {
                    String value = arg.substring(j + 1);
                    if (value.isEmpty()) {
                        if (i + 1 >= args.size()) {
                            throw Failure.usage("option -" + c + " needs a value");
                        }
                        value = args.get(++i);
                    }
                    a.withValue(c, value);
                    break;
                }
                if (c == 'b') {
                    a.mode(arg.substring(j + 1));
                    break;
                }
                if (c == 'q') {
                    // -q, -q30m, -qf, -qIid...: run the queue once (there is no daemon to start)
                    a.mode = Mode.RUN_QUEUE;
                    if (j + 1 < arg.length()) {
                        a.ignored.add(arg);
                    }
                    break;
                }
                if (c == 'd') {
                    a.ignored.add(arg); // -d0.1: debugging of sendmail itself
                    break;
                }
                switch (c) {
                    case 't' -> a.extractRecipients = true;
                    case 'i' -> a.ignoreDots = true;
                    case 'v' -> a.verbose = true;
                    case 'U', 'G', 'n', 'm', 'x', 'c', 'I' -> a.ignored.add("-" + c);
                    default -> throw Failure.usage("unknown option -" + printable(String.valueOf(c)));
                }
            }
        }
        if (a.mode == Mode.DELIVER && !a.extractRecipients && a.recipients.isEmpty()) {
            throw Failure.usage("no recipients given (name them, or use -t to take them from To, Cc and Bcc)");
        }
        return a;
    }

    private void withValue(char c, String value) throws Failure {
        switch (c) {
            case 'f', 'r' -> {
                String s = value.strip();
                if (s.startsWith("<") && s.endsWith(">")) {
                    s = s.substring(1, s.length() - 1).strip();
                }
                if (s.chars().anyMatch(ch -> ch < 33 || ch == 127 || ch == '<' || ch == '>')) {
                    throw Failure.usage("sender " + printable(value) + " is not an address");
                }
                sender = s;
            }
            case 'F' -> fullName = value;
            case 'o' -> option(value);
            default -> ignored.add("-" + c + value);
        }
    }

    /** {@code -oX...}: sendmail's old-style options; only {@code -oi} and {@code -odq} mean anything here. */
    private void option(String value) {
        if (value.equals("i")) {
            ignoreDots = true;
        } else if (value.equals("dq")) {
            queueOnly = true;
        } else {
            ignored.add("-o" + value);
        }
    }

    private void mode(String value) throws Failure {
        switch (value) {
            case "m" -> mode = Mode.DELIVER;
            case "p" -> mode = Mode.LIST_QUEUE;
            case "i" -> mode = Mode.REBUILD_ALIASES;
            case "" -> throw Failure.usage("option -b needs a mode (-bm, -bp, -bi)");
            default ->
                throw Failure.usage("-b" + printable(value) + " is not supported here (cryptforward has no SMTP daemon,"
                        + " no address test mode and no aliases; -bm, -bp and -bi are)");
        }
    }

    private void addRecipients(String arg) throws Failure {
        if (arg.chars().anyMatch(ch -> ch < 32 && ch != '\t' || ch == 127)) {
            throw Failure.usage("recipient " + printable(arg) + " is not an address");
        }
        for (String part : arg.split(",")) {
            String r = part.strip();
            int lt = r.lastIndexOf('<');
            int gt = r.lastIndexOf('>');
            if (lt >= 0 && gt > lt) {
                r = r.substring(lt + 1, gt).strip();
            }
            if (r.isEmpty()) {
                continue;
            }
            if (r.chars().anyMatch(ch -> ch < 33 || ch == 127)) {
                throw Failure.usage("recipient " + printable(part) + " is not an address");
            }
            recipients.add(r);
        }
    }

    public Mode mode() {
        return mode;
    }

    public boolean extractRecipients() {
        return extractRecipients;
    }

    public boolean ignoreDots() {
        return ignoreDots;
    }

    public boolean queueOnly() {
        return queueOnly;
    }

    public boolean verbose() {
        return verbose;
    }

    public boolean debug() {
        return debug;
    }

    /** The envelope sender named by -f or -r; {@code ""} for the null sender. */
    public Optional<String> sender() {
        return Optional.ofNullable(sender);
    }

    public Optional<String> fullName() {
        return Optional.ofNullable(fullName);
    }

    public Optional<String> config() {
        return Optional.ofNullable(config);
    }

    public List<String> recipients() {
        return List.copyOf(recipients);
    }

    /** The options accepted but without effect here, as given. */
    public List<String> ignored() {
        return List.copyOf(ignored);
    }

    static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() < 100; i++) {
            char c = s.charAt(i);
            sb.append(c >= 32 && c < 127 ? c : '?');
        }
        return sb.toString();
    }
}
