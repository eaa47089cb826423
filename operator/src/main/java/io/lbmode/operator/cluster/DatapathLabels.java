package io.lbmode.operator.cluster;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.lbmode.crds.cluster.v1.Cluster;
import java.util.Map;
import java.util.Optional;

/** Labels on everything the operator deploys; the dependents' informers select on {@link #SELECTOR}. */
final class DatapathLabels {
    static final String NAME = io.lbmode.datapathconfig.DatapathConfig.DAEMON_SET_NAME;
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

    /**
     * A datapath object found by name in the operator's namespace, not through the primary annotations JOSDK
     * writes on it. After the self-managed Cluster is deleted and another one created, the objects still name the
     * old Cluster; looked up by annotation, the new one would not see them and would try to create them again (the
     * API server answers 409, forever). Found by name, the Cluster that drives the datapath now takes them over: the
     * update rewrites the annotations.
     */
    static <R extends HasMetadata> Optional<R> byName(KubernetesDependentResource<R, Cluster> dependent, String name,
            Context<Cluster> context) {
        ResourceID id = new ResourceID(name, context.getClient().getNamespace());
        return dependent.eventSource().flatMap(source -> source.get(id));
    }

    /** The DaemonSet selector: immutable once created, so it holds only the stable name label. */
    static Map<String, String> selector() {
        return Map.of("app.kubernetes.io/name", NAME);
    }
}
