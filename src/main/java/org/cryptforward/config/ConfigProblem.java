package org.cryptforward.config;

import java.nio.file.Path;

/**
 * One thing wrong with a configuration file.
 *
 * @param line 1-based line, or 0 when the problem is the file as a whole
 * @param key the dotted key concerned, or empty
 */
public record ConfigProblem(Path file, int line, String key, String message) {
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder().append(file);
        if (line > 0) {
            sb.append(':').append(line);
        }
        sb.append(": ");
        if (!key.isEmpty()) {
            sb.append(key).append(": ");
        }
        return sb.append(message).toString();
    }
}
