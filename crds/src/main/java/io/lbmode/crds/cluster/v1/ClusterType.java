package io.lbmode.crds.cluster.v1;

import com.fasterxml.jackson.annotation.JsonProperty;

/** {@code spec.type}. Admin, hybrid and standalone clusters manage themselves; user clusters are managed by an admin cluster. */
public enum ClusterType {
    @JsonProperty("admin") ADMIN,
    @JsonProperty("user") USER,
    @JsonProperty("hybrid") HYBRID,
    @JsonProperty("standalone") STANDALONE;

    /** True for the kinds of cluster that run their own control plane and so their own datapath. */
    public boolean selfManaged() {
        return this != USER;
    }
}
