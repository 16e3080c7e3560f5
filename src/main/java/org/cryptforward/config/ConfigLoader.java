package org.cryptforward.config;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.IntSupplier;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.cryptforward.config.RelayConfig.Security;
import org.cryptforward.config.Rule.Format;
import org.cryptforward.core.IoErrors;
import org.cryptforward.core.Limits;

/**
 * Reads and validates the TOML configuration.
 *
 * <p>Every problem is collected, not just the first, each with the file, the line and the key:
 * a syntax error, an unknown key, a value of the wrong type, a value out of range, a pattern that
 * does not compile. Relative paths are taken relative to the directory of the configuration file,
 * never to the working directory (which, under an MTA, means nothing).
 */
public final class ConfigLoader {
    /** Where the configuration is looked for when neither --config nor the environment names one. */
    public static final Path DEFAULT_PATH = Path.of("/etc/cryptforward/cryptforward.toml");

    public static final String ENV_VARIABLE = "CRYPTFORWARD_CONFIG";

    static final Set<String> TOP_KEYS = Set.of(
            "keyring",
            "state_dir",
            "deadline_seconds",
            "log_file",
            "syslog_socket",
            "hostname",
            "state_retention_days",
            "local",
            "relay",
            "rule",
            "queue",
            "service");
    static final Set<String> LOCAL_KEYS = Set.of("mailbox", "lock_timeout_seconds");
    static final Set<String> RELAY_KEYS = Set.of(
            "host",
            "port",
            "security",
            "allow_plaintext",
            "username",
            "password_file",
            "ca_file",
            "timeout_seconds",
            "envelope_from");
    static final Set<String> QUEUE_KEYS = Set.of("lifetime_days");
    static final Set<String> SERVICE_KEYS =
            Set.of("socket", "max_deliveries", "idle_exit_seconds", "stop_timeout_seconds", "allowed_users");
    static final Set<String> RULE_KEYS =
            Set.of("name", "recipient", "header", "forward_to", "keys", "format", "local_copy", "protect_subject");

    private static final Pattern HOSTNAME =
            Pattern.compile("[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\\.?");
    private static final Pattern HEADER_NAME = Pattern.compile("[!-9;-~]+");

    /** The largest configuration read. */
    static final long MAX_CONFIG = Limits.DEFAULT.configFileBytes();

    private final Path file;
    private final Path baseDir;
    private final List<ConfigProblem> problems = new ArrayList<>();
    private TomlDocument doc;

    /** A table of the document and where it is, so that problems can name their line. */
    private record Table(Map<String, Object> values, List<Object> path) {
        boolean contains(String key) {
            return values.containsKey(key);
        }

        Object get(String key) {
            return values.get(key);
        }

        List<Object> pathOf(Object... more) {
            List<Object> p = new ArrayList<>(path);
            p.addAll(List.of(more));
            return p;
        }
    }

    private ConfigLoader(Path file) {
        this.file = file;
        Path abs = file.toAbsolutePath().normalize();
        this.baseDir = abs.getParent() == null ? Path.of("/") : abs.getParent();
    }

    /** Which file to read: {@code --config}, else {@code $CRYPTFORWARD_CONFIG}, else the default. */
    public static Path locate(Path option, Map<String, String> env) {
        if (option != null) {
            return option;
        }
        String fromEnv = env.get(ENV_VARIABLE);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Path.of(fromEnv);
        }
        return DEFAULT_PATH;
    }

    /** Loads and validates {@code file}. */
    public static Config load(Path file) throws ConfigException {
        ConfigLoader loader = new ConfigLoader(file);
        Config config = loader.read();
        if (!loader.problems.isEmpty()) {
            List<ConfigProblem> sorted = new ArrayList<>(loader.problems);
            sorted.sort(java.util.Comparator.comparingInt(ConfigProblem::line));
            throw new ConfigException(sorted);
        }
        return config;
    }

    private Config read() {
        String text;
        try {
            // at once, before reading: a FIFO, a device or a directory would hang or flood the reader
            java.nio.file.attribute.BasicFileAttributes a =
                    Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class);
            if (!a.isRegularFile()) {
                problem(
                        0,
                        "",
                        "not a regular file (" + (a.isDirectory() ? "a directory" : "a FIFO, socket or device") + ")");
                return null;
            }
            if (a.size() > MAX_CONFIG) {
                problem(0, "", "larger than " + (MAX_CONFIG >> 10) + " KiB: not a configuration");
                return null;
            }
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            problem(0, "", "no such file");
            return null;
        } catch (AccessDeniedException e) {
            problem(0, "", "not readable by this user");
            return null;
        } catch (IOException e) {
            problem(0, "", "cannot be read: " + IoErrors.describe(e));
            return null;
        }
        List<TomlDocument.SyntaxError> syntax = new ArrayList<>();
        doc = TomlDocument.parse(text, syntax);
        if (doc == null) {
            for (TomlDocument.SyntaxError e : syntax) {
                problem(e.line(), "", "TOML syntax: " + e.message());
            }
            return null;
        }
        Table toml = new Table(doc.root(), List.of());
        unknownKeys(toml, TOP_KEYS, "");

        Path keyring = path(toml, "keyring", "").orElse(Path.of("/var/lib/cryptforward/keyring"));
        Path stateDir = path(toml, "state_dir", "").orElse(Path.of("/var/lib/cryptforward/state"));
        Duration deadline = seconds(toml, "deadline_seconds", "", 600, 10, 86_400);
        Optional<Path> logFile = path(toml, "log_file", "");
        Path syslogSocket = path(toml, "syslog_socket", "").orElse(Path.of("/dev/log"));
        String hostname = string(toml, "hostname", "").orElse(null);
        if (hostname != null && !HOSTNAME.matcher(hostname).matches()) {
            problem(line(toml, "hostname"), "hostname", "not a valid host name: " + quote(hostname));
        }
        if (hostname == null || hostname.isEmpty()) {
            hostname = SystemNames.mailName();
        }
        Duration retention = Duration.ofDays(integer(toml, "state_retention_days", "", 14, 1, 3650));

        LocalConfig local = local(table(toml, "local", ""));
        RelayConfig relay = relay(table(toml, "relay", ""));
        List<Rule> rules = rules(toml);
        QueueConfig queue = queue(table(toml, "queue", ""));
        ServiceConfig service = service(table(toml, "service", ""));
        if (!problems.isEmpty()) {
            return null;
        }
        return new Config(
                file,
                keyring,
                stateDir,
                deadline,
                logFile,
                syslogSocket,
                hostname,
                retention,
                local,
                relay,
                rules,
                queue,
                service);
    }

    private LocalConfig local(Table t) {
        unknownKeys(t, LOCAL_KEYS, "local.");
        String mailbox = string(t, "mailbox", "local.").orElse("/var/lib/cryptforward/Maildir/");
        boolean maildir = mailbox.endsWith("/");
        Path path = resolve(mailbox, t, "mailbox", "local.");
        Duration lockTimeout = seconds(t, "lock_timeout_seconds", "local.", 60, 1, 3600);
        return new LocalConfig(path, maildir, lockTimeout);
    }

    private QueueConfig queue(Table t) {
        unknownKeys(t, QUEUE_KEYS, "queue.");
        return new QueueConfig(Duration.ofDays(integer(t, "lifetime_days", "queue.", 5, 1, 365)));
    }

    private RelayConfig relay(Table t) {
        String p = "relay.";
        unknownKeys(t, RELAY_KEYS, p);
        String host = string(t, "host", p).orElse("localhost");
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.isEmpty() || !(HOSTNAME.matcher(host).matches() || host.indexOf(':') >= 0)) {
            problem(line(t, "host"), p + "host", "not a valid host name or address: " + quote(host));
        }
        Security security = Security.NONE;
        Optional<String> sec = string(t, "security", p);
        if (sec.isPresent()) {
            security = switch (sec.get().toLowerCase(Locale.ROOT)) {
                case "none" -> Security.NONE;
                case "starttls" -> Security.STARTTLS;
                case "tls" -> Security.TLS;
                default -> {
                    problem(
                            line(t, "security"),
                            p + "security",
                            "must be \"none\", \"starttls\" or \"tls\", not " + quote(sec.get()));
                    yield Security.NONE;
                }
            };
        }
        int port = (int) integer(t, "port", p, security == Security.TLS ? 465 : 25, 1, 65535);
        boolean allowPlaintext = bool(t, "allow_plaintext", p, false);
        if (security == Security.NONE && !allowPlaintext && !isLoopback(host)) {
            problem(
                    line(t, t.contains("security") ? "security" : "host"),
                    p + "security",
                    "\"none\" sends over the network in the clear to " + host
                            + "; use \"starttls\" or \"tls\", or set allow_plaintext = true");
        }
        Optional<String> username = string(t, "username", p).filter(s -> !s.isEmpty());
        Optional<Path> passwordFile = path(t, "password_file", p);
        if (username.isPresent() && passwordFile.isEmpty()) {
            problem(line(t, "username"), p + "password_file", "required when username is set");
        }
        if (username.isEmpty() && passwordFile.isPresent()) {
            problem(line(t, "password_file"), p + "username", "required when password_file is set");
        }
        Optional<Path> caFile = path(t, "ca_file", p);
        Duration timeout = seconds(t, "timeout_seconds", p, 60, 1, 3600);
        Optional<String> envelopeFrom = string(t, "envelope_from", p).filter(s -> !s.isEmpty());
        if (envelopeFrom.isPresent()) {
            String ef = envelopeFrom.get();
            if (ef.equals("<>")) {
                envelopeFrom = Optional.of("");
            } else if (!isAddress(ef)) {
                problem(line(t, "envelope_from"), p + "envelope_from", "not an e-mail address: " + quote(ef));
            }
        }
        return new RelayConfig(
                host, port, security, allowPlaintext, username, passwordFile, caFile, timeout, envelopeFrom);
    }

    /**
     * {@code [service]}. The socket must be an absolute path of plain characters: {@code deliver}
     * finds it with a scan of the file much lighter than this loader (see {@code FastDeliver}),
     * and both must read it alike.
     */
    private ServiceConfig service(Table t) {
        String p = "service.";
        unknownKeys(t, SERVICE_KEYS, p);
        ServiceConfig d = ServiceConfig.defaults();
        Path socket = d.socket();
        Optional<String> s = string(t, "socket", p);
        if (s.isPresent()) {
            if (!s.get().matches("/[A-Za-z0-9._+@/-]*") || s.get().length() > 100) {
                problem(
                        line(t, "socket"),
                        p + "socket",
                        "must be an absolute path of letters, digits and . _ + @ - / (at most 100 characters): "
                                + quote(s.get()));
            } else {
                socket = Path.of(s.get());
            }
        }
        int max = (int) integer(t, "max_deliveries", p, d.maxDeliveries(), 1, 256);
        Duration idle = seconds(t, "idle_exit_seconds", p, d.idleExit().toSeconds(), 0, 86_400);
        Duration stop = seconds(t, "stop_timeout_seconds", p, d.stopTimeout().toSeconds(), 0, 3600);
        List<String> users = t.contains("allowed_users")
                ? strings(t, "allowed_users", p, false, () -> line(t, "allowed_users"))
                : List.of();
        for (String u : users) {
            if (!u.matches("[A-Za-z0-9._][A-Za-z0-9._-]*\\$?")) {
                problem(line(t, "allowed_users"), p + "allowed_users", "not a user name or uid: " + quote(u));
            }
        }
        return new ServiceConfig(socket, max, idle, stop, users);
    }

    @SuppressWarnings("unchecked")
    private List<Rule> rules(Table root) {
        List<Rule> rules = new ArrayList<>();
        if (!root.contains("rule")) {
            return rules;
        }
        if (!(root.get("rule") instanceof List<?> array)) {
            problem(line(root, "rule"), "rule", "must be an array of tables: write [[rule]]");
            return rules;
        }
        Set<String> names = new HashSet<>();
        for (int i = 0; i < array.size(); i++) {
            int index = i;
            IntSupplier elementLine = () -> line(root, "rule", index); // looked up only for a problem
            if (!(array.get(i) instanceof Map)) {
                problem(line(root, "rule"), "rule", "must be an array of tables: write [[rule]]");
                continue;
            }
            Table t = new Table((Map<String, Object>) array.get(i), root.pathOf("rule", i));
            String p = "rule[" + (i + 1) + "].";
            unknownKeys(t, RULE_KEYS, p);
            Optional<String> name = string(t, "name", p);
            if (name.isEmpty() || name.get().isBlank()) {
                if (!t.contains("name")) {
                    problem(elementLine.getAsInt(), p + "name", "every rule needs a name");
                } else {
                    problem(line(t, "name"), p + "name", "must not be empty");
                }
            } else if (!names.add(name.get())) {
                problem(line(t, "name"), p + "name", "duplicate rule name " + quote(name.get()));
            } else if (!name.get().matches("[A-Za-z0-9._@+-]+")) {
                problem(line(t, "name"), p + "name", "use only letters, digits and . _ @ + -: " + quote(name.get()));
            }
            String k = p;
            List<Glob> recipients = new ArrayList<>();
            for (String g : strings(t, "recipient", k, false, elementLine)) {
                if (g.isBlank()) {
                    problem(line(t, "recipient"), k + "recipient", "empty pattern");
                } else {
                    recipients.add(new Glob(g.strip()));
                }
            }
            Map<String, Pattern> headers = new LinkedHashMap<>();
            if (t.contains("header")) {
                if (!(t.get("header") instanceof Map)) {
                    problem(line(t, "header"), k + "header", "must be a table, e.g. header = { Subject = \"^Cron \" }");
                } else {
                    Table h = table(t, "header", k);
                    for (String field : h.values().keySet()) {
                        int l = line(h, field);
                        if (!HEADER_NAME.matcher(field).matches()) {
                            problem(l, k + "header." + field, "not a header field name");
                            continue;
                        }
                        if (!(h.get(field) instanceof String re)) {
                            problem(l, k + "header." + field, "must be a string (a regular expression)");
                            continue;
                        }
                        try {
                            headers.put(field, Pattern.compile(re));
                        } catch (PatternSyntaxException e) {
                            problem(
                                    l,
                                    k + "header." + field,
                                    "bad regular expression: " + e.getDescription() + " near index " + e.getIndex());
                        }
                    }
                }
            }
            List<String> forwardTo = strings(t, "forward_to", k, true, elementLine);
            for (String a : forwardTo) {
                if (!isAddress(a)) {
                    problem(line(t, "forward_to"), k + "forward_to", "not an e-mail address: " + quote(a));
                }
            }
            List<String> keys = strings(t, "keys", k, true, elementLine);
            Format format = Format.PGP_MIME;
            Optional<String> f = string(t, "format", k);
            if (f.isPresent()) {
                format = switch (f.get().toLowerCase(Locale.ROOT)) {
                    case "pgp-mime", "pgp/mime" -> Format.PGP_MIME;
                    case "inline" -> Format.INLINE;
                    default -> {
                        problem(
                                line(t, "format"),
                                k + "format",
                                "must be \"pgp-mime\" or \"inline\", not " + quote(f.get()));
                        yield Format.PGP_MIME;
                    }
                };
            }
            boolean localCopy = bool(t, "local_copy", k, true);
            boolean protectSubject = bool(t, "protect_subject", k, false);
            rules.add(
                    new Rule(name.orElse(""), recipients, headers, forwardTo, keys, format, localCopy, protectSubject));
        }
        return rules;
    }

    // ---- typed accessors that record problems ----

    @SuppressWarnings("unchecked")
    private Table table(Table t, String key, String prefix) {
        Object v = t.get(key);
        if (v == null) {
            return new Table(Map.of(), t.pathOf(key));
        }
        if (!(v instanceof Map)) {
            problem(line(t, key), prefix + key, "must be a table: write [" + key + "]");
            return new Table(Map.of(), t.pathOf(key));
        }
        return new Table((Map<String, Object>) v, t.pathOf(key));
    }

    private Optional<String> string(Table t, String key, String prefix) {
        if (!t.contains(key)) {
            return Optional.empty();
        }
        Object v = t.get(key);
        if (v instanceof String s) {
            if (s.indexOf('\n') >= 0 || s.indexOf('\r') >= 0 || s.indexOf(0) >= 0) {
                problem(line(t, key), prefix + key, "must not contain line breaks or NUL");
                return Optional.empty();
            }
            return Optional.of(s);
        }
        problem(line(t, key), prefix + key, "must be a string, not " + typeName(v));
        return Optional.empty();
    }

    private List<String> strings(Table t, String key, String prefix, boolean required, IntSupplier tableLine) {
        List<String> out = new ArrayList<>();
        if (!t.contains(key)) {
            if (required) {
                problem(tableLine.getAsInt(), prefix + key, "required");
            }
            return out;
        }
        Object v = t.get(key);
        if (v instanceof String s) {
            out.add(s);
        } else if (v instanceof List<?> a) {
            for (Object o : a) {
                if (o instanceof String s) {
                    out.add(s);
                } else {
                    problem(line(t, key), prefix + key, "must be a list of strings, found " + typeName(o));
                    return List.of();
                }
            }
        } else {
            problem(line(t, key), prefix + key, "must be a string or a list of strings, not " + typeName(v));
            return out;
        }
        if (required && out.isEmpty()) {
            problem(line(t, key), prefix + key, "must not be empty");
        }
        return out;
    }

    private long integer(Table t, String key, String prefix, long dflt, long min, long max) {
        if (!t.contains(key)) {
            return dflt;
        }
        Object v = t.get(key);
        if (!(v instanceof Long l)) {
            problem(line(t, key), prefix + key, "must be an integer, not " + typeName(v));
            return dflt;
        }
        if (l < min || l > max) {
            problem(line(t, key), prefix + key, "must be between " + min + " and " + max + ", not " + l);
            return dflt;
        }
        return l;
    }

    private Duration seconds(Table t, String key, String prefix, long dflt, long min, long max) {
        return Duration.ofSeconds(integer(t, key, prefix, dflt, min, max));
    }

    private boolean bool(Table t, String key, String prefix, boolean dflt) {
        if (!t.contains(key)) {
            return dflt;
        }
        Object v = t.get(key);
        if (v instanceof Boolean b) {
            return b;
        }
        problem(line(t, key), prefix + key, "must be true or false, not " + typeName(v));
        return dflt;
    }

    private Optional<Path> path(Table t, String key, String prefix) {
        Optional<String> s = string(t, key, prefix).filter(x -> !x.isEmpty());
        return s.map(x -> resolve(x, t, key, prefix));
    }

    private Path resolve(String s, Table t, String key, String prefix) {
        try {
            return baseDir.resolve(s).normalize();
        } catch (InvalidPathException e) {
            problem(line(t, key), prefix + key, "not a valid path: " + quote(s));
            return baseDir;
        }
    }

    private void unknownKeys(Table t, Set<String> known, String prefix) {
        for (String key : t.values().keySet()) {
            if (!known.contains(key)) {
                String hint = suggestion(key, known);
                problem(
                        line(t, key),
                        prefix + key,
                        "unknown key" + (hint == null ? "" : " (did you mean " + hint + "?)"));
            }
        }
    }

    private static String suggestion(String key, Set<String> known) {
        String best = null;
        int bestDistance = 3;
        for (String k : known) {
            int d = distance(key.toLowerCase(Locale.ROOT), k);
            if (d < bestDistance) {
                bestDistance = d;
                best = k;
            }
        }
        return best;
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] tmp = prev;
            prev = cur;
            cur = tmp;
        }
        return prev[b.length()];
    }

    private int line(Table t, Object... more) {
        return doc.line(t.pathOf(more));
    }

    private void problem(int line, String key, String message) {
        problems.add(new ConfigProblem(file, line, key, message));
    }

    private static String typeName(Object v) {
        if (v instanceof String) {
            return "a string";
        }
        if (v instanceof Long) {
            return "an integer";
        }
        if (v instanceof Double) {
            return "a float";
        }
        if (v instanceof Boolean) {
            return "a boolean";
        }
        if (v instanceof List) {
            return "an array";
        }
        if (v instanceof Map) {
            return "a table";
        }
        return "a date or time";
    }

    private static String quote(String s) {
        return "\"" + s + "\"";
    }

    /**
     * A bare address, as the SMTP layer will accept it when sending: the one rule of
     * {@link org.cryptforward.core.Addresses}, so that a configured address can never fail a delivery
     * permanently and {@code check} judges it as {@code deliver} does. ASCII only: a relay without
     * SMTPUTF8 could not take anything else.
     */
    static boolean isAddress(String s) {
        return org.cryptforward.core.Addresses.isValid(s, false);
    }

    /** Whether a relay host is this machine, decided without DNS. */
    static boolean isLoopback(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        // by name, only localhost itself: "x.localhost" is whatever the resolver makes of it
        if (h.equals("localhost") || h.equals("localhost.")) {
            return true;
        }
        if (h.matches("[0-9.]+") || h.indexOf(':') >= 0) {
            try {
                return InetAddress.getByName(h).isLoopbackAddress();
            } catch (IOException e) {
                return false;
            }
        }
        return false;
    }
}
