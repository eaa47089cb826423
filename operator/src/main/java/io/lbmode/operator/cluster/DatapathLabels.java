package io.lbmode.operator.cluster;

import java.util.Map;

/** Labels on everything the operator deploys; the dependents' informers select on {@link #SELECTOR}. */
final class DatapathLabels {
    static final String NAME = "lbmode-datapath";
    static final String MANAGED_BY = "lbmode-operator";
    static final String SELECTOR = "app.kubernetes.io/managed-by=" + MANAGED_BY;

    private DatapathLabels() {
    }

    static Map<String, String> common() {
        return Map.of(
                "app.kubernetes.io/name", NAME,
                "app.kubernetes.io/part-of", "lbmode",
                "app.kubernetes.io/component", "datapath",
                "app.kubernetes.io/managed-by", MANAGED_BY);
    }

    /** The DaemonSet selector: immutable once created, so it holds only the stable name label. */
    static Map<String, String> selector() {
        return Map.of("app.kubernetes.io/name", NAME);
    }
}
