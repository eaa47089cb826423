package io.lbmode.crds.cluster.v1;

import io.fabric8.generator.annotation.Required;
import java.util.List;

/** {@code spec.loadBalancer}. BGP settings ({@code localASN}, {@code bgpPeers}) are kept as unmodelled fields. */
public class LoadBalancer extends Extensible {
    @Required
    public LoadBalancerMode mode;
    public LoadBalancerType type;
    @Required
    public Ports ports;
    @Required
    public Vips vips;
    public List<AddressPool> addressPools;
    public NodePoolSpec nodePoolSpec;

    public static class Ports extends Extensible {
        @Required
        public Integer controlPlaneLBPort;
    }

    public static class Vips extends Extensible {
        @Required
        public String controlPlaneVIP;
        public String ingressVIP;
    }
}
