package org.cryptforward.cli;

import java.nio.file.Path;
import java.util.Map;
import org.cryptforward.config.ConfigLoader;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The {@code --config} option every command shares, and where it leads when not given. Inherited
 * by subcommands, so that {@code key}'s commands take it before or after their name.
 */
final class ConfigFile {
    @Option(
            names = "--config",
            paramLabel = "FILE",
            scope = ScopeType.INHERIT,
            description =
                    "Configuration file (default: $CRYPTFORWARD_CONFIG, else /etc/cryptforward/cryptforward.toml).")
    Path path;

    /** The file to read: the option, else {@code $CRYPTFORWARD_CONFIG}, else the default. */
    Path locate(Map<String, String> env) {
        return ConfigLoader.locate(path, env);
    }
}
