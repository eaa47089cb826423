package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.testsupport.Await;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A 1.16 cluster that used the DSR preview annotation, upgraded to 1.28.0 with kubectl: the operator writes
 * forwardMode dsr into its spec on the real server and says so in an Event that {@code kubectl describe} shows.
 */
@Tag("kube")
@Order(4)
@ExtendWith(KubeControlPlane.Extension.class)
class MigrationKubeTest {
    final KubeControlPlane kube = KubeControlPlane.get();

    /** A second self-managed Cluster would stop the datapath of the one the next classes use. */
    @AfterAll
    static void deleteThePreviewCluster() {
        ExamplesKubeTest.deleteClusters(KubeControlPlane.get(), "lb-preview");
    }

    @Test
    void theOperatorWritesForwardModeDsrWhenAPreviewClusterIsUpgraded() {
        ObjectNode preview = ExamplesKubeTest.clusters(KubeState.documents(kube.example("cluster-1.16-preview.yaml"))).getFirst();
        String namespace = preview.at("/metadata/namespace").asText();
        String name = preview.at("/metadata/name").asText();
        ExamplesKubeTest.createNamespace(kube, namespace);
        kube.kubectl("apply", "-f", kube.example("cluster-1.16-preview.yaml").toString()).ok("kubectl apply");
        JsonNode before = Await.until("preview cluster Valid, effective mode dsr from the annotation",
                () -> KubeState.cluster(kube, namespace, name),
                c -> "True".equals(KubeState.condition(c, "Valid")) && "dsr".equals(c.at("/status/effectiveForwardMode").asText()));
        assertThat(before.at("/spec/clusterNetwork/forwardMode").isMissingNode()).isTrue();

        kube.kubectl("patch", KubeState.CLUSTERS, name, "-n", namespace, "--type=merge",
                "-p", "{\"spec\":{\"anthosBareMetalVersion\":\"1.28.0\"}}").ok("kubectl patch (the upgrade)");
        Await.until("forwardMode written as dsr after the upgrade to 1.28.0", () -> KubeState.cluster(kube, namespace, name),
                c -> "dsr".equals(c.at("/spec/clusterNetwork/forwardMode").asText()));
        String describe = Await.until("kubectl describe shows the ForwardModeMigrated event",
                () -> kube.kubectl("describe", KubeState.CLUSTERS, name, "-n", namespace).ok("kubectl describe").stdout(),
                out -> out.contains("ForwardModeMigrated"));
        assertThat(describe).contains("Normal").contains("forwardMode");
    }
}
