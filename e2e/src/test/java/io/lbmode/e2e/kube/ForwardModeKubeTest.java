package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.testsupport.Await;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * forwardMode can't change after creation, whichever way a user edits it: {@code kubectl patch}, {@code replace},
 * {@code apply}, {@code apply --server-side} and {@code edit} are refused with the webhook's message as kubectl
 * prints it; edits that leave the mode alone pass. With the webhook configuration deleted, the CRD's CEL rule still
 * refuses a change of a set forwardMode.
 */
@Tag("kube")
@Order(3)
@ExtendWith(KubeControlPlane.Extension.class)
class ForwardModeKubeTest {
    /**
     * How kubectl prints the webhook's refusal: the webhook answers with an Invalid status whose causes name the
     * field, which kubectl shows like the API server's own validation errors.
     */
    static final String WEBHOOK_DENIED = "The Cluster \"lb-unset\" is invalid: spec.clusterNetwork.forwardMode: can't be set to dsr";
    static final String CEL_MESSAGE = "spec.clusterNetwork.forwardMode is chosen at cluster creation only";
    /** A Cluster created without forwardMode (effective snat): setting dsr passes the CEL rule, only the webhook sees it. */
    static final String NAMESPACE = "cluster-lb-unset";
    static final String NAME = "lb-unset";

    final KubeControlPlane kube = KubeControlPlane.get();

    @BeforeAll
    static void createAClusterWithoutForwardMode() {
        KubeControlPlane kube = KubeControlPlane.get();
        ExamplesKubeTest.createNamespace(kube, NAMESPACE);
        kube.kubectlWithInput(KubeState.yaml(List.of(unset(kube))), "apply", "-f", "-").ok("kubectl apply");
        Await.until("Cluster " + NAME + " Valid with effective mode snat", () -> KubeState.cluster(kube, NAMESPACE, NAME),
                c -> "True".equals(KubeState.condition(c, "Valid")) && "snat".equals(c.at("/status/effectiveForwardMode").asText()));
    }

    static ObjectNode unset(KubeControlPlane kube) {
        ObjectNode cluster = ExamplesKubeTest.clusters(KubeState.documents(kube.example("cluster-dsr.yaml"))).getFirst();
        ((ObjectNode) cluster.path("metadata")).put("name", NAME).put("namespace", NAMESPACE);
        ((ObjectNode) cluster.path("spec")).put("type", "user");
        ((ObjectNode) cluster.at("/spec/clusterNetwork")).remove("forwardMode");
        return cluster;
    }

    @Test
    void kubectlPatchIsRefused() {
        assertDenied(kube.kubectl("patch", KubeState.CLUSTERS, NAME, "-n", NAMESPACE, "--type=merge",
                "-p", "{\"spec\":{\"clusterNetwork\":{\"forwardMode\":\"dsr\"}}}"));
    }

    @Test
    void kubectlReplaceIsRefused() {
        ObjectNode stored = (ObjectNode) KubeState.cluster(kube, NAMESPACE, NAME);
        ((ObjectNode) stored.at("/spec/clusterNetwork")).put("forwardMode", "dsr");
        assertDenied(kube.kubectlWithInput(stored.toString(), "replace", "-f", "-"));
    }

    @Test
    void kubectlApplyIsRefused() {
        ObjectNode edited = unset(kube);
        ((ObjectNode) edited.at("/spec/clusterNetwork")).put("forwardMode", "dsr");
        assertDenied(kube.kubectlWithInput(KubeState.yaml(List.of(edited)), "apply", "-f", "-"));
    }

    @Test
    void kubectlApplyServerSideIsRefused() {
        ObjectNode edited = unset(kube);
        ((ObjectNode) edited.at("/spec/clusterNetwork")).put("forwardMode", "dsr");
        assertDenied(kube.kubectlWithInput(KubeState.yaml(List.of(edited)),
                "apply", "--server-side", "--force-conflicts", "-f", "-"));
    }

    @Test
    void kubectlEditIsRefused() throws IOException {
        // The editor a user would use, scripted: the first pass adds forwardMode: dsr under clusterNetwork. kubectl
        // reopens the file after a refusal with the reasons as comments on top; the second pass keeps a copy of what
        // the user sees there and changes nothing, so kubectl gives up.
        Path dir = Files.createTempDirectory("kube-edit");
        Path editor = dir.resolve("editor.sh");
        Path reopened = dir.resolve("reopened.yaml");
        try {
            Files.writeString(editor, "#!/bin/sh\n"
                    + "if grep -q '^    forwardMode: dsr$' \"$1\"; then cp \"$1\" " + reopened + "; exit 0; fi\n"
                    + "sed -i 's/^  clusterNetwork:$/  clusterNetwork:\\n    forwardMode: dsr/' \"$1\"\n");
            Files.setPosixFilePermissions(editor, PosixFilePermissions.fromString("rwx------"));
            KubeControlPlane.Result edit = kube.kubectlWithEnv(Map.of("KUBE_EDITOR", editor.toString(), "TMPDIR", dir.toString()),
                    "edit", KubeState.CLUSTERS, NAME, "-n", NAMESPACE);
            assertThat(edit.exitCode()).isNotZero();
            assertThat(edit.stderr()).contains("\"" + NAME + "\" is invalid");
            assertThat(Files.readString(reopened)).as("the reasons kubectl edit shows in the reopened file")
                    .contains("# * spec.clusterNetwork.forwardMode: can't be set to dsr");
            assertThat(KubeState.cluster(kube, NAMESPACE, NAME).at("/spec/clusterNetwork/forwardMode").isMissingNode()).isTrue();
        } finally {
            // kubectl also leaves its own copy of the refused edit in TMPDIR.
            try (var files = Files.list(dir)) {
                for (Path file : files.toList()) {
                    Files.delete(file);
                }
            }
            Files.delete(dir);
        }
    }

    @Test
    void editsThatKeepTheModePass() {
        kube.kubectl("label", KubeState.CLUSTERS, NAME, "-n", NAMESPACE, "team=platform").ok("kubectl label");
        kube.kubectl("annotate", KubeState.CLUSTERS, NAME, "-n", NAMESPACE, "example.com/owner=lb").ok("kubectl annotate");
        ObjectNode same = unset(kube);
        ((ObjectNode) same.path("metadata")).putObject("labels").put("team", "platform");
        kube.kubectlWithInput(KubeState.yaml(List.of(same)), "apply", "--server-side", "--force-conflicts", "-f", "-")
                .ok("kubectl apply --server-side of an unchanged mode");
        JsonNode stored = KubeState.cluster(kube, NAMESPACE, NAME);
        assertThat(stored.at("/metadata/labels/team").asText()).isEqualTo("platform");
        assertThat(stored.at("/spec/clusterNetwork/forwardMode").isMissingNode()).isTrue();
    }

    @Test
    void aSetModeIsRefusedByTheCrdRuleAlsoWithoutTheWebhook() {
        ExamplesKubeTest.createNamespace(kube, "cluster-lb-mode");
        kube.kubectl("apply", "-f", kube.example("cluster-dsr.yaml").toString()).ok("kubectl apply");
        String patch = "{\"spec\":{\"clusterNetwork\":{\"forwardMode\":\"snat\"}}}";
        assertThat(kube.kubectl("patch", KubeState.CLUSTERS, "lb-mode", "-n", "cluster-lb-mode", "--type=merge", "-p", patch)
                .stderr()).contains(CEL_MESSAGE);

        JsonNode webhooks = KubeState.readJson(kube.kubectl("get", "validatingwebhookconfigurations",
                "-l", "app.kubernetes.io/instance=" + KubeControlPlane.RELEASE, "-o", "json").ok("get webhooks").stdout());
        ObjectNode saved = (ObjectNode) webhooks.at("/items/0");
        String name = saved.at("/metadata/name").asText();
        kube.kubectl("delete", "validatingwebhookconfiguration", name).ok("kubectl delete validatingwebhookconfiguration");
        try {
            KubeControlPlane.Result refused = kube.kubectl("patch", KubeState.CLUSTERS, "lb-mode", "-n", "cluster-lb-mode",
                    "--type=merge", "-p", patch);
            assertThat(refused.exitCode()).isNotZero();
            assertThat(refused.stderr()).contains(CEL_MESSAGE).doesNotContain("admission webhook");
        } finally {
            ObjectNode metadata = (ObjectNode) saved.path("metadata");
            metadata.remove(List.of("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"));
            kube.kubectlWithInput(saved.toString(), "create", "-f", "-").ok("restore the webhook configuration");
        }
        assertThat(KubeState.cluster(kube, "cluster-lb-mode", "lb-mode").at("/spec/clusterNetwork/forwardMode").asText())
                .isEqualTo("dsr");
    }

    private void assertDenied(KubeControlPlane.Result result) {
        assertThat(result.exitCode()).as("kubectl exit code; stdout: %s", result.stdout()).isNotZero();
        assertThat(result.stderr()).contains(WEBHOOK_DENIED);
        JsonNode stored = KubeState.cluster(kube, NAMESPACE, NAME);
        assertThat(stored.at("/spec/clusterNetwork/forwardMode").isMissingNode()).as("forwardMode still unset").isTrue();
    }
}
