package org.cryptforward.cli;

import java.nio.file.Path;
import java.util.Map;
import org.cryptforward.config.ConfigLoader;
import picocli.CommandLine.Option;

/** The {@code --config} option the commands share, and where it leads when not given. */
final class ConfigFile {
    @Option(names = "--config", paramLabel = "FILE", description = "Configuration file (default: $CRYPTFORWARD_CONFIG, else /etc/cryptforward/cryptforward.toml).")
    Path path;

    /** The file to read: the option, else {@code $CRYPTFORWARD_CONFIG}, else the default. */
    Path locate(Map<String, String> env) {
        return ConfigLoader.locate(path, env);
    }
}
