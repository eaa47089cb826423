package io.lbmode.forwardmode;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.fabric8.zjsonpatch.JsonDiff;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.crds.cluster.v1.ClusterNetwork;
import io.lbmode.crds.cluster.v1.ClusterSpec;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.yaml.KubeYaml;
import java.util.Objects;

/**
 * Writing the effective forward mode into {@code spec.clusterNetwork.forwardMode} (the 1.16 preview annotation
 * honoured on the way to 1.28 and later). {@link #applyTo} is the change; {@link #jsonPatch} is the same change as the
 * operator sends it to the API server.
 *
 * @param mode    the mode written into the field
 * @param message what changed, for users and logs
 */
public record Migration(ForwardMode mode, String message) {
    public Migration {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(message, "message");
    }

    /** A deep copy of {@code cluster} with the field set; every other field, modelled or not, is kept. */
    public Cluster applyTo(Cluster cluster) {
        Cluster copy = KubeYaml.copy(cluster);
        if (copy.getSpec() == null) {
            copy.setSpec(new ClusterSpec());
        }
        if (copy.getSpec().clusterNetwork == null) {
            copy.getSpec().clusterNetwork = new ClusterNetwork();
        }
        copy.getSpec().clusterNetwork.forwardMode = mode;
        return copy;
    }

    /**
     * The JSON Patch (RFC 6902) that writes this migration into the stored {@code cluster}: a {@code test} of its
     * resource version, so that the patch fails instead of acting on a stale read (a user's concurrent edit always
     * wins), then the operations that turn {@code cluster} into {@link #applyTo}{@code (cluster)}: only the field.
     */
    public String jsonPatch(Cluster cluster) {
        ArrayNode patch = JsonNodeFactory.instance.arrayNode();
        patch.addObject().put("op", "test").put("path", "/metadata/resourceVersion")
                .put("value", cluster.getMetadata().getResourceVersion());
        patch.addAll((ArrayNode) JsonDiff.asJson(KubeYaml.toNode(cluster), KubeYaml.toNode(applyTo(cluster))));
        return patch.toString();
    }
}
