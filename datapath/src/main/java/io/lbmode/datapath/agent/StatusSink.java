package io.lbmode.datapath.agent;

import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;

/** Where the agent publishes its NodeDataplane: the API server in a cluster, a file standalone. */
interface StatusSink {
    void publish(NodeDataplane status) throws Exception;

    /** For dry runs: publishes nothing. */
    StatusSink NONE = ndp -> {
    };
}
