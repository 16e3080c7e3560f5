package org.cryptforward.config;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The local plaintext copy.
 *
 * @param mailbox the mailbox: a Maildir when {@code maildir}, else an mbox file
 * @param maildir whether the configured path ended in {@code /}
 * @param lockTimeout how long to wait for an mbox lock before deferring
 */
public record LocalConfig(Path mailbox, boolean maildir, Duration lockTimeout) {}
