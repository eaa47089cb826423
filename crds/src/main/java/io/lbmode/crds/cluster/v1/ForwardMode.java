package io.lbmode.crds.cluster.v1;

import com.fasterxml.jackson.annotation.JsonProperty;

/** {@code spec.clusterNetwork.forwardMode}: how a load-balancer node forwards traffic to a Service's backends. */
public enum ForwardMode {
    /** Direct server return: the client address is kept, the VIP travels in an IPv4 option, replies bypass the LB node. */
    @JsonProperty("dsr") DSR,
    /** Source NAT to the LB node (the default): replies return through the LB node. */
    @JsonProperty("snat") SNAT;

    /** The spelling used in YAML, status and messages. */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public String toString() {
        return wireName();
    }
}
