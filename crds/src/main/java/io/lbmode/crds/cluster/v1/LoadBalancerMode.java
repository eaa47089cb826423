package io.lbmode.crds.cluster.v1;

import com.fasterxml.jackson.annotation.JsonProperty;

/** {@code loadBalancer.mode}: MetalLB bundled with the cluster, or a load balancer the user runs. */
public enum LoadBalancerMode {
    @JsonProperty("bundled") BUNDLED,
    @JsonProperty("manual") MANUAL
}
