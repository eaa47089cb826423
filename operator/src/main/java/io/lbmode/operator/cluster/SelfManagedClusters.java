package io.lbmode.operator.cluster;

import io.lbmode.crds.cluster.v1.Cluster;
import java.util.List;
import java.util.stream.Stream;

/** Which Cluster drives this API server's nodes: the one of type admin, hybrid or standalone. */
final class SelfManagedClusters {
    private SelfManagedClusters() {
    }

    static boolean isSelfManaged(Cluster cluster) {
        return cluster.getSpec() != null && cluster.getSpec().type != null && cluster.getSpec().type.selfManaged();
    }

    static boolean isUser(Cluster cluster) {
        return cluster.getSpec() != null && cluster.getSpec().type != null && !cluster.getSpec().type.selfManaged();
    }

    /** {@code namespace/name} of every self-managed Cluster, sorted. */
    static List<String> names(Stream<Cluster> all) {
        return all.filter(SelfManagedClusters::isSelfManaged).map(SelfManagedClusters::key).sorted().toList();
    }

    static String key(Cluster cluster) {
        return cluster.getMetadata().getNamespace() + "/" + cluster.getMetadata().getName();
    }
}
