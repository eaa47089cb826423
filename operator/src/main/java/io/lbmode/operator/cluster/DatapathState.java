package io.lbmode.operator.cluster;

import java.util.List;
import java.util.Optional;

/** What the reconciler did about a cluster's datapath; the status aggregator turns it into the DatapathReady condition. */
sealed interface DatapathState {

    /** The cluster failed validation: nothing is deployed or changed for it. */
    record NotDeployedInvalid() implements DatapathState {
    }

    /** More than one self-managed Cluster: which one owns the nodes' datapath is ambiguous, so none deploys. */
    record SelfManagedConflict(List<String> clusters) implements DatapathState {
        public SelfManagedConflict {
            clusters = List.copyOf(clusters);
        }
    }

    /** A user cluster: its agents are deployed by the lbmode operator running in the user cluster itself. */
    record DrivenByOwnCluster() implements DatapathState {
    }

    /** This operator drives the datapath: ConfigMap and DaemonSet reconciled, or the error doing so. */
    record Driven(Optional<String> deployError) implements DatapathState {
    }
}
