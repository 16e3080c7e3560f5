package org.cryptforward.core;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/** The moment by which a run must be over; every wait and timeout is cut to fit before it. */
public final class Deadline {
    private final Clock clock;
    private final Instant end;

    public Deadline(Clock clock, Duration budget) {
        this.clock = clock;
        this.end = clock.instant().plus(budget);
    }

    public Duration remaining() {
        Duration d = Duration.between(clock.instant(), end);
        return d.isNegative() ? Duration.ZERO : d;
    }

    public boolean passed() {
        return remaining().isZero();
    }

    /** {@code limit}, or less when the deadline is nearer; at least one millisecond. */
    public Duration cap(Duration limit) {
        Duration r = remaining();
        Duration d = r.compareTo(limit) < 0 ? r : limit;
        return d.toMillis() < 1 ? Duration.ofMillis(1) : d;
    }
}
