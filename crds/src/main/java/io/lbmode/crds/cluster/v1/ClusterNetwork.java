package io.lbmode.crds.cluster.v1;

import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;

/**
 * {@code spec.clusterNetwork}.
 *
 * <p>{@code forwardMode} deliberately has no schema default: 1.16 clusters select DSR with an annotation, and a
 * default written by the API server would hide it. The CEL rule is the backstop that holds when the admission
 * webhook is down: once set, the mode can neither change nor be removed.
 */
@ValidationRule(
        value = "!has(oldSelf.forwardMode) || (has(self.forwardMode) && self.forwardMode == oldSelf.forwardMode)",
        message = "spec.clusterNetwork.forwardMode is chosen at cluster creation only: once set it can't be changed or removed",
        reason = "FieldValueForbidden")
public class ClusterNetwork extends Extensible {
    public Boolean advancedNetworking;
    public Boolean bundledIngress;
    public Boolean flatIPv4;
    public ForwardMode forwardMode;
    public Boolean multipleNetworkInterfaces;
    @Required
    public CidrBlocks pods;
    @Required
    public CidrBlocks services;
    public Boolean sriovOperator;
}
