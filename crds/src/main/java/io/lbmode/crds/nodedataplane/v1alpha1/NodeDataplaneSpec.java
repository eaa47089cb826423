package io.lbmode.crds.nodedataplane.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;

/** Identity of the node and of the Cluster whose configuration the agent follows. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class NodeDataplaneSpec {
    public String nodeName;
    public String clusterNamespace;
    public String clusterName;
}
