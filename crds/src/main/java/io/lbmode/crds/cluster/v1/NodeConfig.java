package io.lbmode.crds.cluster.v1;

/** {@code spec.nodeConfig}. */
public class NodeConfig extends Extensible {
    public PodDensity podDensity;

    public static class PodDensity extends Extensible {
        public Integer maxPodsPerNode;
    }
}
