package io.lbmode.forwardmode;

import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.crds.cluster.v1.ClusterNetwork;
import io.lbmode.crds.cluster.v1.ClusterSpec;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.yaml.KubeYaml;
import java.util.Objects;

/**
 * Writing the effective forward mode into {@code spec.clusterNetwork.forwardMode} (the 1.16 preview annotation
 * honoured on the way to 1.28 and later).
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
}
