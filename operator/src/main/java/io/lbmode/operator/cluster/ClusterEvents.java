package io.lbmode.operator.cluster;

import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.lbmode.crds.cluster.v1.Cluster;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.UUID;
import org.jboss.logging.Logger;

/** Kubernetes Events on a Cluster ({@code kubectl describe cluster} shows them). */
final class ClusterEvents {
    private static final Logger LOG = Logger.getLogger(ClusterEvents.class);
    static final String COMPONENT = "lbmode-operator";
    /** Events carry one message; the API server rejects very long ones, so long problem lists are cut. */
    private static final int MAX_MESSAGE = 1024;

    private ClusterEvents() {
    }

    static void normal(KubernetesClient client, Cluster cluster, String reason, String message) {
        emit(client, cluster, "Normal", reason, message);
    }

    static void warning(KubernetesClient client, Cluster cluster, String reason, String message) {
        emit(client, cluster, "Warning", reason, message);
    }

    private static void emit(KubernetesClient client, Cluster cluster, String type, String reason, String message) {
        var metadata = cluster.getMetadata();
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        String text = message.length() > MAX_MESSAGE ? message.substring(0, MAX_MESSAGE - 3) + "..." : message;
        var event = new EventBuilder()
                .withNewMetadata()
                .withName(metadata.getName() + "." + UUID.randomUUID().toString().replace("-", "").substring(0, 16))
                .withNamespace(metadata.getNamespace())
                .endMetadata()
                .withNewInvolvedObject()
                .withApiVersion(Cluster.API_VERSION).withKind(Cluster.KIND)
                .withName(metadata.getName()).withNamespace(metadata.getNamespace())
                .withUid(metadata.getUid()).withResourceVersion(metadata.getResourceVersion())
                .endInvolvedObject()
                .withType(type).withReason(reason).withMessage(text)
                .withNewSource().withComponent(COMPONENT).endSource()
                .withReportingComponent(COMPONENT)
                .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                .build();
        try {
            client.v1().events().inNamespace(metadata.getNamespace()).resource(event).create();
        } catch (KubernetesClientException e) {
            // An event is a courtesy; the status carries the same facts, so a failed event must not fail the reconcile.
            LOG.warnf("Could not record %s event %s on Cluster %s/%s: %s", type, reason, metadata.getNamespace(),
                    metadata.getName(), e.getMessage());
        }
    }
}
