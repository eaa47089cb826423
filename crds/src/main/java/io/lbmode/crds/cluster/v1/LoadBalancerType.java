package io.lbmode.crds.cluster.v1;

import com.fasterxml.jackson.annotation.JsonProperty;

/** {@code loadBalancer.type}: how VIPs are announced; layer2 when unset. */
public enum LoadBalancerType {
    @JsonProperty("layer2") LAYER2,
    @JsonProperty("bgp") BGP
}
