package io.lbmode.datapath.agent;

import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;

/** Where the agent publishes its NodeDataplane and its reports on Services: the API server in a cluster, a file standalone. */
interface StatusSink {
    void publish(NodeDataplane status) throws Exception;

    /**
     * A Warning Event on a Service (in the cluster: {@code kubectl describe service} shows it). Called once per
     * Service and distinct reason; standalone there is no Service object to attach it to, and the log has it.
     */
    default void serviceEvent(ServiceEvent event) throws Exception {
    }

    /** For dry runs: publishes nothing. */
    StatusSink NONE = ndp -> {
    };

    /**
     * What the agent tells a Service's owner.
     *
     * @param uid    the Service's {@code metadata.uid} (kubectl describe finds Events by it); empty when unknown
     * @param reason {@link #SKIPPED} or {@link #IGNORED}
     */
    record ServiceEvent(String namespace, String name, String uid, String reason, String message) {
        /** Something of the Service is not programmed. */
        static final String SKIPPED = "LoadBalancerSkipped";
        /** The Service sets a field lbmode does not honour. */
        static final String IGNORED = "LoadBalancerFieldIgnored";
    }
}
