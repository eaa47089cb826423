package io.lbmode.crds.cluster.v1;

import java.util.List;

/** A list of node machines, as in {@code controlPlane.nodePoolSpec} and {@code loadBalancer.nodePoolSpec}. */
public class NodePoolSpec extends Extensible {
    public List<NodeAddress> nodes;
}
