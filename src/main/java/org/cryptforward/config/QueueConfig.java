package org.cryptforward.config;

import java.time.Duration;

/**
 * The {@code [queue]} table: the queue of encrypted forwards that {@code sendmail} keeps until the
 * relay takes them.
 *
 * @param lifetime how long an entry is retried before it is given up (with a notice in the local mailbox) and set aside
 */
public record QueueConfig(Duration lifetime) {
    public static final QueueConfig DEFAULT = new QueueConfig(Duration.ofDays(5));
}
