package io.lbmode.datapath.agent;

import java.time.Duration;
import java.util.Objects;

/**
 * Delays between retries of a failed sync or drift repair: {@code first}, then doubled each time up to {@code max};
 * back to {@code first} after a success. Used from the agent's one thread.
 */
class Backoff {
    static final Duration FIRST = Duration.ofSeconds(1);
    static final Duration MAX = Duration.ofSeconds(60);

    private final Duration first;
    private final Duration max;
    private Duration next;

    Backoff(Duration first, Duration max) {
        this.first = Objects.requireNonNull(first, "first");
        this.max = Objects.requireNonNull(max, "max");
        if (first.isNegative() || first.isZero() || max.compareTo(first) < 0) {
            throw new IllegalArgumentException("backoff needs 0 < first <= max, not " + first + " and " + max);
        }
        this.next = first;
    }

    /** The delay before the next retry; each call doubles the one after (capped). */
    Duration next() {
        Duration now = next;
        next = now.compareTo(max.dividedBy(2)) > 0 ? max : now.multipliedBy(2);
        return now;
    }

    void reset() {
        next = first;
    }
}
