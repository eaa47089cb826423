package io.lbmode.testsupport;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Waits for an event (a status field, a counter, a metric) instead of the clock: polls until a condition holds and
 * fails with the last value seen. Exceptions while reading count as "not yet" and the last one becomes the cause.
 */
public final class Await {
    public static final Duration DEFAULT = Duration.ofSeconds(30);
    /** How often a value is read unless a caller asks for less (a real cluster over the network, say). */
    public static final Duration POLL = Duration.ofMillis(50);

    private Await() {
    }

    public static <T> T until(String what, Supplier<T> value, Predicate<T> done) {
        return until(what, DEFAULT, value, done);
    }

    public static void until(String what, BooleanSupplier condition) {
        until(what, DEFAULT, condition);
    }

    public static void until(String what, Duration timeout, BooleanSupplier condition) {
        until(what, timeout, condition::getAsBoolean, Boolean.TRUE::equals);
    }

    public static <T> T until(String what, Duration timeout, Supplier<T> value, Predicate<T> done) {
        return until(what, timeout, POLL, value, done);
    }

    /**
     * Reads {@code value} every {@code poll} until it is non-null and {@code done}, for at most {@code timeout}.
     * An {@link Error} thrown by {@code value} (an {@link AssertionError} saying the awaited thing can't happen any
     * more, say) ends the wait at once.
     */
    public static <T> T until(String what, Duration timeout, Duration poll, Supplier<T> value, Predicate<T> done) {
        long deadline = System.nanoTime() + timeout.toNanos();
        T last = null;
        RuntimeException lastError = null;
        while (true) {
            try {
                last = value.get();
                lastError = null;
                if (last != null && done.test(last)) {
                    return last;
                }
            } catch (RuntimeException e) {
                lastError = e;
            }
            if (System.nanoTime() >= deadline) {
                break;
            }
            try {
                Thread.sleep(poll.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
        AssertionError error = new AssertionError("timed out after " + timeout + " waiting for " + what + "; last value: " + last);
        if (lastError != null) {
            error.initCause(lastError);
        }
        throw error;
    }
}
