package io.lbmode.crds.cluster.v1;

import io.fabric8.generator.annotation.Required;

/** {@code spec.controlPlane}. {@code apiServerArgs} and the like are kept as unmodelled fields. */
public class ControlPlane extends Extensible {
    @Required
    public NodePoolSpec nodePoolSpec;
}
