package io.lbmode.crds.cluster.v1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/** The GDC bare-metal cluster configuration ({@code baremetal.cluster.gke.io/v1}, kind {@code Cluster}). */
@Group(Cluster.GROUP)
@Version(Cluster.VERSION)
@Kind("Cluster")
@Plural("clusters")
@Singular("cluster")
@ShortNames("bmc")
@AdditionalPrinterColumn(name = "Forward-Mode", type = AdditionalPrinterColumn.Type.STRING,
        jsonPath = ".status.effectiveForwardMode")
@AdditionalPrinterColumn(name = "Version", type = AdditionalPrinterColumn.Type.STRING,
        jsonPath = ".spec.anthosBareMetalVersion")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING,
        jsonPath = ".status.conditions[?(@.type==\"DatapathReady\")].status")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class Cluster extends CustomResource<ClusterSpec, ClusterStatus> implements Namespaced {
    public static final String GROUP = "baremetal.cluster.gke.io";
    public static final String VERSION = "v1";
    public static final String API_VERSION = GROUP + "/" + VERSION;
    public static final String KIND = "Cluster";
}
