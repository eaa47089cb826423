package io.lbmode.crds.cluster.v1;

import io.fabric8.generator.annotation.Required;
import java.util.List;

/**
 * {@code clusterNetwork.pods} and {@code clusterNetwork.services}: one IPv4 block, and in {@code services} of a
 * dual-stack cluster also one IPv6 block (the rules are in {@code io.lbmode.validation.ClusterValidator}).
 */
public class CidrBlocks extends Extensible {
    @Required
    public List<String> cidrBlocks;
}
