package io.lbmode.lab;

import java.util.Objects;

/**
 * How to build a lab.
 *
 * @param prefix name prefix of every namespace and of the lab's directory under /run/lbmode-lab; unique per lab so
 *               parallel and stale labs never clash ({@link #unique()} for tests)
 * @param pods   start the echo backends in the pod namespaces
 */
public record LabSpec(String prefix, boolean pods) {
    /** Prefix of labs made by {@link #unique()}: their process id is encoded, so a later run can remove them when stale. */
    static final String TEST_PREFIX = "lbt";

    public LabSpec {
        Objects.requireNonNull(prefix, "prefix");
        if (!prefix.matches("[a-z][a-z0-9]{1,11}")) {
            throw new IllegalArgumentException("lab prefix must be 2-12 lower-case letters/digits, not '" + prefix + "'");
        }
    }

    private static final java.util.concurrent.atomic.AtomicInteger COUNTER = new java.util.concurrent.atomic.AtomicInteger();

    /** A prefix owned by this process: {@code lbt<pid base 36>x<n>}. */
    public static LabSpec unique() {
        return new LabSpec(TEST_PREFIX + Long.toString(ProcessHandle.current().pid(), 36) + "x" + COUNTER.incrementAndGet(), true);
    }
}
