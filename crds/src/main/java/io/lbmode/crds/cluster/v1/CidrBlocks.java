package io.lbmode.crds.cluster.v1;

import io.fabric8.generator.annotation.Required;
import java.util.List;

/** {@code clusterNetwork.pods} and {@code clusterNetwork.services}. */
public class CidrBlocks extends Extensible {
    @Required
    public List<String> cidrBlocks;
}
