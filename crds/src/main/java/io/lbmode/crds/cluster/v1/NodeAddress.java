package io.lbmode.crds.cluster.v1;

import io.fabric8.generator.annotation.Required;

/** One node machine: {@code address} (mutable) and an optional {@code k8sIP} (immutable). */
public class NodeAddress extends Extensible {
    @Required
    public String address;
    public String k8sIP;
}
