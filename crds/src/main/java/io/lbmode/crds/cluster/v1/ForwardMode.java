package io.lbmode.crds.cluster.v1;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * {@code spec.clusterNetwork.forwardMode}: how a load-balancer node forwards traffic to a Service's backends.
 *
 * <p>Also the API's one reading of a cluster's mode ({@link #effective}): the field if set; else {@code dsr} if the
 * 1.16 preview annotation is {@code enable}; else {@code snat}. The rules about changing it (migration, immutability)
 * are in the rules module ({@code io.lbmode.forwardmode.ForwardModes}).
 */
public enum ForwardMode {
    /** Direct server return: the client address is kept, the VIP travels in an IPv4 option, replies bypass the LB node. */
    @JsonProperty("dsr") DSR,
    /** Source NAT to the LB node (the default): replies return through the LB node. */
    @JsonProperty("snat") SNAT;

    /** The 1.16 preview annotation: {@code enable} selects dsr while the field is unset. */
    public static final String PREVIEW_ANNOTATION = "preview.baremetal.cluster.gke.io/dpv2-lbmode-dsr";
    /** The one value of {@link #PREVIEW_ANNOTATION} that selects dsr. */
    public static final String PREVIEW_ENABLE = "enable";

    /** The spelling used in YAML, status and messages. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The mode spelled {@code wireName} ({@code dsr} or {@code snat}), if it is one. */
    public static Optional<ForwardMode> fromWireName(String wireName) {
        return Arrays.stream(values()).filter(mode -> mode.wireName().equals(wireName)).findFirst();
    }

    /** The mode the datapath programs for this cluster: the field, else the preview annotation, else snat. */
    public static ForwardMode effective(Cluster cluster) {
        return field(cluster).orElseGet(() -> previewEnables(cluster) ? DSR : SNAT);
    }

    /** {@code spec.clusterNetwork.forwardMode}, when set. */
    public static Optional<ForwardMode> field(Cluster cluster) {
        if (cluster == null || cluster.getSpec() == null || cluster.getSpec().clusterNetwork == null) {
            return Optional.empty();
        }
        return Optional.ofNullable(cluster.getSpec().clusterNetwork.forwardMode);
    }

    /** The value of the 1.16 preview annotation, when present. */
    public static Optional<String> previewAnnotation(Cluster cluster) {
        if (cluster == null || cluster.getMetadata() == null) {
            return Optional.empty();
        }
        Map<String, String> annotations = cluster.getMetadata().getAnnotations();
        return annotations == null ? Optional.empty() : Optional.ofNullable(annotations.get(PREVIEW_ANNOTATION));
    }

    /** Whether the preview annotation says {@code enable}. */
    public static boolean previewEnables(Cluster cluster) {
        return previewAnnotation(cluster).map(PREVIEW_ENABLE::equals).orElse(false);
    }

    @Override
    public String toString() {
        return wireName();
    }
}
