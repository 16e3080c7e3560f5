package org.cryptforward.service;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;

/**
 * The clock of one request's {@code Deadline}: real time until the request is cancelled (its
 * client went away, or the service is stopping), then a time far past any deadline. Everything
 * that waits or times out within the deadline — the journal lock, the mailbox lock, every relay
 * timeout, the check before each forward — then gives up at its next look, so a cancelled
 * delivery relays nothing more. Dates written into messages come from the real clock, not this.
 */
final class RequestClock extends Clock {
    private static final Duration FAR = Duration.ofDays(365L * 1000);

    private final Clock real;
    private volatile boolean cancelled;

    RequestClock(Clock real) {
        this.real = real;
    }

    void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    @Override
    public ZoneId getZone() {
        return real.getZone();
    }

    @Override
    public Clock withZone(ZoneId zone) {
        // the same instants (and the same cancellation), seen in another zone
        RequestClock self = this;
        return new Clock() {
            @Override
            public ZoneId getZone() {
                return zone;
            }

            @Override
            public Clock withZone(ZoneId other) {
                return self.withZone(other);
            }

            @Override
            public Instant instant() {
                return self.instant();
            }
        };
    }

    @Override
    public Instant instant() {
        Instant now = real.instant();
        return cancelled ? now.plus(FAR) : now;
    }
}
