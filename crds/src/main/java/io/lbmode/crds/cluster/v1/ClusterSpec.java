package io.lbmode.crds.cluster.v1;

import io.fabric8.generator.annotation.Required;

/** {@code spec} of a {@link Cluster}. Fields not modelled here (gkeConnect, storage, proxy, ...) are kept verbatim. */
public class ClusterSpec extends Extensible {
    @Required
    public ClusterType type;
    public String profile;
    @Required
    public String anthosBareMetalVersion;
    @Required
    public ControlPlane controlPlane;
    @Required
    public ClusterNetwork clusterNetwork;
    @Required
    public LoadBalancer loadBalancer;
    public NodeConfig nodeConfig;
}
