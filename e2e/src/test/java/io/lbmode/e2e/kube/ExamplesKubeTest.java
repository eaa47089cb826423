package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.testsupport.Await;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Every Cluster in {@code examples/} applied with {@code kubectl apply -f}, as the README says, on the real API
 * server: it is stored, the operator marks it Valid with its effective mode, {@code kubectl get bmc -A} shows the
 * printer columns, and the full GDC configuration reads back with no field lost (the real server's pruning, where
 * the unit tests only model it).
 */
@Tag("kube")
@Order(2)
@ExtendWith(KubeControlPlane.Extension.class)
class ExamplesKubeTest {
    final KubeControlPlane kube = KubeControlPlane.get();

    /**
     * The examples are four self-managed Clusters; one API server may hold only one (the operator then deploys no
     * datapath), so the classes after this one start from none.
     */
    @AfterAll
    static void deleteTheExamples() {
        deleteClusters(KubeControlPlane.get(), "lb-dual-stack", "lb-full", "lb-mode", "lb-preview", "lb-snat");
    }

    @Test
    void everyExampleAppliesAndBecomesValidWithItsEffectiveMode() throws IOException {
        List<Path> examples;
        try (Stream<Path> files = Files.list(kube.root.resolve("examples"))) {
            examples = files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
        }
        assertThat(examples).hasSizeGreaterThanOrEqualTo(4);
        for (Path example : examples) {
            List<ObjectNode> documents = KubeState.documents(example);
            for (ObjectNode cluster : clusters(documents)) {
                createNamespace(kube, cluster.at("/metadata/namespace").asText());
            }
            if (apiDocuments(documents).size() == documents.size()) {
                kube.kubectl("apply", "-f", example.toString()).ok("kubectl apply -f " + example);
            } else {
                kube.apply(KubeState.yaml(apiDocuments(documents)));
            }
            for (ObjectNode cluster : clusters(documents)) {
                String namespace = cluster.at("/metadata/namespace").asText();
                String name = cluster.at("/metadata/name").asText();
                String expected = expectedMode(cluster);
                JsonNode stored = Await.until(example.getFileName() + ": " + namespace + "/" + name
                                + " Valid with effective mode " + expected,
                        () -> KubeState.cluster(kube, namespace, name),
                        c -> "True".equals(KubeState.condition(c, "Valid"))
                                && expected.equals(c.at("/status/effectiveForwardMode").asText()));
                assertThat(stored.at("/status/observedGeneration").asLong()).isEqualTo(stored.at("/metadata/generation").asLong());
            }
        }
    }

    @Test
    void kubectlGetShowsThePrinterColumns() {
        createNamespace(kube, "cluster-lb-mode");
        kube.kubectl("apply", "-f", kube.example("cluster-dsr.yaml").toString()).ok("kubectl apply");
        Await.until("Cluster lb-mode Valid", () -> KubeState.cluster(kube, "cluster-lb-mode", "lb-mode"),
                c -> "True".equals(KubeState.condition(c, "Valid")));
        List<String> lines = kube.kubectl("get", "bmc", "-A").ok("kubectl get bmc -A").stdout().lines().toList();
        assertThat(lines.getFirst().split("\\s+"))
                .containsExactly("NAMESPACE", "NAME", "FORWARD-MODE", "VERSION", "READY", "AGE");
        String row = lines.stream().filter(l -> l.startsWith("cluster-lb-mode ")).findFirst().orElseThrow();
        assertThat(row.split("\\s+")).startsWith("cluster-lb-mode", "lb-mode", "dsr", "1.28.300-gke.131");
    }

    @Test
    void theFullGdcConfigurationReadsBackWithNoFieldLost() {
        List<ObjectNode> documents = KubeState.documents(kube.example("cluster-full.yaml"));
        kube.apply(KubeState.yaml(apiDocuments(documents)));
        ObjectNode sent = clusters(documents).getFirst();
        JsonNode stored = KubeState.cluster(kube, sent.at("/metadata/namespace").asText(), sent.at("/metadata/name").asText());
        assertThat(stored.path("spec")).as("spec read back from the API server").isEqualTo(sent.path("spec"));
        for (String field : List.of("labels", "annotations")) {
            Iterator<Map.Entry<String, JsonNode>> entries = sent.path("metadata").path(field).fields();
            while (entries.hasNext()) {
                Map.Entry<String, JsonNode> entry = entries.next();
                assertThat(stored.path("metadata").path(field).path(entry.getKey())).as(field + " " + entry.getKey())
                        .isEqualTo(entry.getValue());
            }
        }
    }

    /** Deletes Clusters by name (each in its namespace {@code cluster-NAME}) and waits until they are gone. */
    static void deleteClusters(KubeControlPlane kube, String... names) {
        for (String name : names) {
            kube.kubectl("delete", KubeState.CLUSTERS, name, "-n", "cluster-" + name, "--ignore-not-found", "--wait=true",
                    "--timeout=60s").ok("kubectl delete cluster " + name);
        }
    }

    /** {@code kubectl create namespace NAME}, as the README says before the first apply (GDC's bmctl does it too). */
    static void createNamespace(KubeControlPlane kube, String name) {
        KubeControlPlane.Result create = kube.kubectl("create", "namespace", name);
        if (create.exitCode() != 0) {
            assertThat(create.stderr()).as("kubectl create namespace " + name).contains("AlreadyExists");
        }
    }

    /**
     * The documents the API serves. A bmctl configuration file (cluster-full.yaml) also holds bmctl's own settings
     * (no apiVersion) and a NodePool (a GDC CRD lbmode does not install): bmctl sends only the rest to the API.
     */
    static List<ObjectNode> apiDocuments(List<ObjectNode> documents) {
        return documents.stream().filter(d -> List.of("Namespace", "Cluster").contains(d.path("kind").asText())).toList();
    }

    static List<ObjectNode> clusters(List<ObjectNode> documents) {
        return documents.stream().filter(d -> "Cluster".equals(d.path("kind").asText())).toList();
    }

    /** The effective mode: the field, else the 1.16 preview annotation, else snat (the rule users read in the README). */
    static String expectedMode(JsonNode cluster) {
        String field = cluster.at("/spec/clusterNetwork/forwardMode").asText("");
        if (!field.isEmpty()) {
            return field;
        }
        String preview = cluster.at("/metadata/annotations").path("preview.baremetal.cluster.gke.io/dpv2-lbmode-dsr").asText("");
        return "enable".equals(preview) ? "dsr" : "snat";
    }
}
