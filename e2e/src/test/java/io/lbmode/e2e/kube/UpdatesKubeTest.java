package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.testsupport.Await;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Updates as users make them, on the real API server: a Cluster stored before a rule existed (written here with the
 * webhook configuration removed) can still be labeled, edited without new problems, and lose its finalizer while it
 * is deleted (ratcheting); conditions other controllers write survive the operator's status writes; with the webhook
 * configuration removed, the API server itself still refuses {@code {"spec": null}} (the CRD requires spec) and a
 * change of the mode a 1.16 cluster got from its annotation (the chart's ValidatingAdmissionPolicy). Every Cluster
 * here is of type user, so the one self-managed Cluster of the other classes is not disturbed.
 */
@Tag("kube")
@Order(6)
@ExtendWith(KubeControlPlane.Extension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class UpdatesKubeTest {
    static final String STORED = "lb-stored";
    static final String OTHERS = "lb-others";
    static final String PREVIEW = "lb-old-preview";

    final KubeControlPlane kube = KubeControlPlane.get();

    @BeforeAll
    static void namespaces() {
        KubeControlPlane kube = KubeControlPlane.get();
        for (String name : List.of(STORED, OTHERS, PREVIEW)) {
            ExamplesKubeTest.createNamespace(kube, "cluster-" + name);
        }
    }

    @AfterAll
    static void deleteOurClusters() {
        ExamplesKubeTest.deleteClusters(KubeControlPlane.get(), STORED, OTHERS, PREVIEW);
    }

    /** cluster-dsr.yaml as a user Cluster named {@code name} in {@code cluster-NAME}. */
    ObjectNode userCluster(String name) {
        ObjectNode cluster = ExamplesKubeTest.clusters(KubeState.documents(kube.example("cluster-dsr.yaml"))).getFirst();
        ((ObjectNode) cluster.path("metadata")).put("name", name).put("namespace", "cluster-" + name);
        ((ObjectNode) cluster.path("spec")).put("type", "user");
        return cluster;
    }

    /** Runs {@code action} with the webhook configuration deleted, and restores it (as ForwardModeKubeTest does). */
    void withoutTheWebhook(Runnable action) {
        JsonNode webhooks = KubeState.readJson(kube.kubectl("get", "validatingwebhookconfigurations",
                "-l", "app.kubernetes.io/instance=" + KubeControlPlane.RELEASE, "-o", "json").ok("get webhooks").stdout());
        ObjectNode saved = (ObjectNode) webhooks.at("/items/0");
        kube.kubectl("delete", "validatingwebhookconfiguration", saved.at("/metadata/name").asText()).ok("delete the webhook configuration");
        try {
            action.run();
        } finally {
            ((ObjectNode) saved.path("metadata")).remove(List.of("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"));
            kube.kubectlWithInput(saved.toString(), "create", "-f", "-").ok("restore the webhook configuration");
        }
    }

    KubeControlPlane.Result patch(String name, String type, String patch) {
        return kube.kubectl("patch", KubeState.CLUSTERS, name, "-n", "cluster-" + name, "--type=" + type, "-p", patch);
    }

    @Test
    @Order(1)
    void aStoredInvalidClusterCanBeLabeledAndEditedButNotBrokenFurther() {
        // Stored before the rule existed: 2 control-plane nodes (today: 1, or 3 for high availability).
        ObjectNode stored = userCluster(STORED);
        ((com.fasterxml.jackson.databind.node.ArrayNode) stored.at("/spec/controlPlane/nodePoolSpec/nodes"))
                .addObject().put("address", "10.200.0.3");
        withoutTheWebhook(() -> kube.kubectlWithInput(KubeState.yaml(List.of(stored)), "create", "-f", "-").ok("store an invalid Cluster"));
        Await.until("Cluster " + STORED + " Valid=False", () -> KubeState.cluster(kube, "cluster-" + STORED, STORED),
                c -> c != null && "False".equals(KubeState.condition(c, "Valid")));

        kube.kubectl("label", KubeState.CLUSTERS, STORED, "-n", "cluster-" + STORED, "team=platform").ok("kubectl label");
        patch(STORED, "merge", "{\"spec\":{\"gkeConnect\":{\"projectID\":\"my-project\"}}}").ok("a spec edit that adds no problem");

        KubeControlPlane.Result worse = patch(STORED, "merge",
                "{\"spec\":{\"clusterNetwork\":{\"services\":{\"cidrBlocks\":[\"10.96.0.0/8\"]}}}}");
        assertThat(worse.exitCode()).isNotZero();
        assertThat(worse.stderr()).contains("The Cluster \"" + STORED + "\" is invalid")
                .contains("spec.clusterNetwork.services.cidrBlocks").doesNotContain("spec.controlPlane.nodePoolSpec.nodes");

        KubeControlPlane.Result mode = patch(STORED, "merge", "{\"spec\":{\"clusterNetwork\":{\"forwardMode\":\"snat\"}}}");
        assertThat(mode.exitCode()).isNotZero();
        assertThat(mode.stderr()).contains("spec.clusterNetwork.forwardMode");

        JsonNode now = KubeState.cluster(kube, "cluster-" + STORED, STORED);
        assertThat(now.at("/metadata/labels/team").asText()).isEqualTo("platform");
        assertThat(now.at("/spec/gkeConnect/projectID").asText()).isEqualTo("my-project");
        assertThat(now.at("/spec/clusterNetwork/forwardMode").asText()).isEqualTo("dsr");
    }

    @Test
    @Order(2)
    void aStoredInvalidClusterBeingDeletedLosesItsFinalizer() {
        patch(STORED, "merge", "{\"metadata\":{\"finalizers\":[\"example.com/hold\"]}}").ok("add a finalizer");
        kube.kubectl("delete", KubeState.CLUSTERS, STORED, "-n", "cluster-" + STORED, "--wait=false").ok("kubectl delete");
        Await.until("Cluster " + STORED + " being deleted", () -> KubeState.cluster(kube, "cluster-" + STORED, STORED),
                c -> c != null && c.at("/metadata/deletionTimestamp").isTextual());
        patch(STORED, "json", "[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]").ok("remove the finalizer");
        Await.until("Cluster " + STORED + " gone", () -> kube.kubectl("get", KubeState.CLUSTERS, STORED, "-n",
                "cluster-" + STORED).stderr(), e -> e.contains("NotFound"));
    }

    @Test
    @Order(3)
    void conditionsOfOtherControllersSurviveTheOperatorsStatusWrites() {
        kube.kubectlWithInput(KubeState.yaml(List.of(userCluster(OTHERS))), "apply", "-f", "-").ok("kubectl apply");
        Await.until("Cluster " + OTHERS + " Valid", () -> KubeState.cluster(kube, "cluster-" + OTHERS, OTHERS),
                c -> c != null && "True".equals(KubeState.condition(c, "Valid")));
        kube.kubectl("patch", KubeState.CLUSTERS, OTHERS, "-n", "cluster-" + OTHERS, "--subresource=status", "--type=json",
                "-p", "[{\"op\":\"add\",\"path\":\"/status/conditions/-\",\"value\":{\"type\":\"Reconciling\",\"status\":\"False\","
                        + "\"reason\":\"Done\",\"message\":\"written by another controller\","
                        + "\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}}]").ok("another controller's condition");

        // A spec change: the operator reconciles and writes its status (observedGeneration moves).
        patch(OTHERS, "merge", "{\"spec\":{\"gkeConnect\":{\"projectID\":\"p2\"}}}").ok("a spec edit");
        long generation = KubeState.cluster(kube, "cluster-" + OTHERS, OTHERS).at("/metadata/generation").asLong();
        JsonNode written = Await.until("the operator's status for generation " + generation,
                () -> KubeState.cluster(kube, "cluster-" + OTHERS, OTHERS),
                c -> c != null && c.at("/status/observedGeneration").asLong() == generation);
        assertThat(KubeState.condition(written, "Reconciling")).as("the other controller's condition").isEqualTo("False");
        assertThat(KubeState.condition(written, "Valid")).isEqualTo("True");
    }

    @Test
    @Order(4)
    void withoutTheWebhookTheApiServerStillRefusesSpecNullAndAnnotationModeChanges() {
        ObjectNode preview = ExamplesKubeTest.clusters(KubeState.documents(kube.example("cluster-1.16-preview.yaml"))).getFirst();
        ((ObjectNode) preview.path("metadata")).put("name", PREVIEW).put("namespace", "cluster-" + PREVIEW);
        ((ObjectNode) preview.path("spec")).put("type", "user");
        kube.kubectlWithInput(KubeState.yaml(List.of(preview)), "apply", "-f", "-").ok("kubectl apply a 1.16 preview Cluster");
        Await.until("Cluster " + PREVIEW + " effective dsr", () -> KubeState.cluster(kube, "cluster-" + PREVIEW, PREVIEW),
                c -> c != null && "dsr".equals(c.at("/status/effectiveForwardMode").asText()));

        withoutTheWebhook(() -> {
            KubeControlPlane.Result specNull = patch(OTHERS, "merge", "{\"spec\":null}");
            assertThat(specNull.exitCode()).isNotZero();
            assertThat(specNull.stderr()).contains("spec: Required value").doesNotContain("admission webhook");

            KubeControlPlane.Result unannotated = kube.kubectl("annotate", KubeState.CLUSTERS, PREVIEW, "-n", "cluster-" + PREVIEW,
                    "preview.baremetal.cluster.gke.io/dpv2-lbmode-dsr-");
            assertThat(unannotated.exitCode()).isNotZero();
            assertThat(unannotated.stderr()).contains("ValidatingAdmissionPolicy")
                    .contains("this update would change it to snat; to drop the annotation, set spec.clusterNetwork.forwardMode: dsr first");

            KubeControlPlane.Result snat = patch(PREVIEW, "merge", "{\"spec\":{\"clusterNetwork\":{\"forwardMode\":\"snat\"}}}");
            assertThat(snat.exitCode()).isNotZero();
            assertThat(snat.stderr()).contains("ValidatingAdmissionPolicy").contains("this update would change it to snat");

            kube.kubectl("label", KubeState.CLUSTERS, PREVIEW, "-n", "cluster-" + PREVIEW, "team=platform")
                    .ok("an edit that keeps the mode passes the policy");
        });
        JsonNode now = KubeState.cluster(kube, "cluster-" + PREVIEW, PREVIEW);
        assertThat(now.at("/metadata/annotations").has("preview.baremetal.cluster.gke.io/dpv2-lbmode-dsr")).isTrue();
        assertThat(now.at("/spec/clusterNetwork/forwardMode").isMissingNode()).isTrue();
        assertThat(KubeState.cluster(kube, "cluster-" + OTHERS, OTHERS).path("spec").isObject()).isTrue();
    }
}
