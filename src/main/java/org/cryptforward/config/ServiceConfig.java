package org.cryptforward.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The resident delivery service ({@code cryptforward serve}) and how {@code deliver} finds it.
 *
 * @param socket the Unix socket it listens on, and {@code deliver} connects to
 * @param maxDeliveries how many deliveries run at once; more wait, each within its deadline
 * @param idleExit how long a socket-activated service waits for a request before it exits
 * @param stopTimeout how long running deliveries may go on after SIGTERM before they are aborted
 * @param allowedUsers the users (names or numeric uids) whose {@code deliver} it serves; empty =
 *     its own user and root
 */
public record ServiceConfig(
        Path socket, int maxDeliveries, Duration idleExit, Duration stopTimeout, List<String> allowedUsers) {
    public static final Path DEFAULT_SOCKET = Path.of("/run/cryptforward/deliver.sock");

    public ServiceConfig {
        allowedUsers = List.copyOf(allowedUsers);
    }

    public static ServiceConfig defaults() {
        return new ServiceConfig(DEFAULT_SOCKET, 4, Duration.ofSeconds(300), Duration.ofSeconds(30), List.of());
    }
}
