package io.lbmode.crds.nodedataplane.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * What the datapath agent on one node has programmed. Cluster-scoped, named after the node.
 *
 * <p>Written by the agent (spec on creation, status after every sync); read by the operator, which aggregates them
 * into the Cluster's {@code DatapathReady} condition and node summary.
 */
@Group(NodeDataplane.GROUP)
@Version(NodeDataplane.VERSION)
@Kind("NodeDataplane")
@Plural("nodedataplanes")
@Singular("nodedataplane")
@ShortNames("ndp")
@AdditionalPrinterColumn(name = "Mode", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.mode")
@AdditionalPrinterColumn(name = "Services", type = AdditionalPrinterColumn.Type.INTEGER, jsonPath = ".status.services")
@AdditionalPrinterColumn(name = "Endpoints", type = AdditionalPrinterColumn.Type.INTEGER, jsonPath = ".status.endpoints")
@AdditionalPrinterColumn(name = "Synced", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".status.lastSyncTime")
@AdditionalPrinterColumn(name = "Error", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.lastError")
public class NodeDataplane extends CustomResource<NodeDataplaneSpec, NodeDataplaneStatus> {
    public static final String GROUP = "lbmode.io";
    public static final String VERSION = "v1alpha1";
}
