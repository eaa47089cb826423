package io.lbmode.e2e.k3s;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.lbmode.testsupport.Await;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.testcontainers.containers.Container.ExecResult;
import org.testcontainers.images.builder.Transferable;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.k3s.K3sContainer;
import org.testcontainers.utility.DockerImageName;
import org.testcontainers.utility.MountableFile;

/**
 * lbmode on a real Kubernetes (k3s in Docker), driven as a user would: the chart installed with Helm, Cluster
 * objects applied and edited with kubectl (run inside the k3s container), the results read back.
 *
 * <p>Needs Docker: skipped (reported as skipped) where there is none. The images come from images/build.sh; when
 * they are not in the Docker engine yet this test builds them.
 */
@Tag("integration")
@Testcontainers(disabledWithoutDocker = true)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class K3sEndToEndTest {

    private static final String K3S_IMAGE = "rancher/k3s:v1.33.1-k3s1";
    private static final String RELEASE = "lbmode";
    private static final String NAMESPACE = "lbmode-system";
    private static final String WEBHOOK = "clusters.validate.lbmode.io";
    private static final String CEL_MESSAGE = "spec.clusterNetwork.forwardMode is chosen at cluster creation only";
    private static final Duration TIMEOUT = Duration.ofMinutes(3);
    private static final ObjectMapper YAML = new YAMLMapper();

    private static K3sContainer k3s;
    private static KubernetesClient client;

    @BeforeAll
    static void installLbmode() throws Exception {
        Path root = root();
        LbmodeImages.ensureBuilt(root);
        Path images = root.resolve("e2e/target/e2e-images");
        k3s = new K3sContainer(DockerImageName.parse(K3S_IMAGE));
        // k3s imports every tarball in this directory when it starts: no registry needed.
        for (String image : List.of(LbmodeImages.OPERATOR, LbmodeImages.DATAPATH)) {
            Path tar = LbmodeImages.save(image, images);
            k3s.withCopyFileToContainer(MountableFile.forHostPath(tar),
                    "/var/lib/rancher/k3s/agent/images/" + tar.getFileName());
        }
        k3s.start();
        // Nodes mount bpffs at /sys/fs/bpf (systemd does); the agent's DaemonSet expects it there and, without
        // SYS_ADMIN, can't mount it itself. The k3s container is the node here.
        ExecResult bpffs = k3s.execInContainer("sh", "-c",
                "grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf");
        assertThat(bpffs.getExitCode()).as("mount bpffs in the k3s node: %s", bpffs.getStderr()).isZero();
        String kubeconfig = k3s.getKubeConfigYaml();
        client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfig)).build();

        new Helm(root.resolve("helm/lbmode")).install()
                .withName(RELEASE).withNamespace(NAMESPACE).createNamespace()
                .withKubeConfigContents(kubeconfig)
                .set("operator.image.repository", LbmodeImages.REGISTRY + "/lbmode-operator")
                .set("operator.image.tag", LbmodeImages.TAG)
                .set("operator.image.pullPolicy", "Never")
                .set("datapath.image.repository", LbmodeImages.REGISTRY + "/lbmode-datapath")
                .set("datapath.image.tag", LbmodeImages.TAG)
                .set("datapath.image.pullPolicy", "Never")
                .waitReady().withTimeout((int) TIMEOUT.toSeconds())
                .call();
        awaitOperatorReplicas(2);
    }

    @AfterAll
    static void tearDown() {
        if (client != null) {
            client.close();
        }
        if (k3s != null) {
            k3s.stop();
        }
    }

    @Test
    @Order(1)
    void theSeedsDsrClusterBecomesValidWithEffectiveModeDsr() throws Exception {
        kubectlOk("create", "namespace", "cluster-lb-mode");
        apply(Files.readString(root().resolve("examples/cluster-dsr.yaml")));

        GenericKubernetesResource cluster = await("Cluster lb-mode reports effectiveForwardMode dsr and Valid=True",
                () -> cluster("cluster-lb-mode", "lb-mode"),
                c -> "dsr".equals(status(c).path("effectiveForwardMode").asText())
                        && "True".equals(condition(c, "Valid")));
        assertThat(cluster.getMetadata().getGeneration()).isPositive();
    }

    @Test
    @Order(2)
    void theDatapathDaemonSetComesUpAndEveryNodeDataplaneReportsTheMode() {
        DaemonSet daemonSet = await("DaemonSet lbmode-datapath ready on every node",
                () -> client.apps().daemonSets().inNamespace(NAMESPACE).withName("lbmode-datapath").get(),
                ds -> ds.getStatus() != null && ds.getStatus().getDesiredNumberScheduled() != null
                        && ds.getStatus().getDesiredNumberScheduled() > 0
                        && Objects.equals(ds.getStatus().getNumberReady(), ds.getStatus().getDesiredNumberScheduled()));
        List<String> nodes = client.nodes().list().getItems().stream().map(n -> n.getMetadata().getName()).toList();
        assertThat(daemonSet.getStatus().getNumberReady()).isEqualTo(nodes.size());

        for (String node : nodes) {
            await("NodeDataplane " + node + " reports mode dsr",
                    () -> client.genericKubernetesResources("lbmode.io/v1alpha1", "NodeDataplane").withName(node).get(),
                    ndp -> "dsr".equals(status(ndp).path("mode").asText()) && status(ndp).path("lastError").isMissingNode());
        }
        await("Cluster lb-mode counts every node programmed", () -> cluster("cluster-lb-mode", "lb-mode"),
                c -> status(c).at("/nodes/programmed").asInt(-1) == nodes.size()
                        && "True".equals(condition(c, "DatapathReady")));
    }

    @Test
    @Order(3)
    void changingForwardModeIsDeniedWithTheWebhooksMessage() throws Exception {
        // A cluster created without forwardMode runs snat; setting dsr later passes the CRD's CEL rule (the field
        // was unset) but changes the effective mode, which only the webhook can see.
        ObjectNode unset = (ObjectNode) YAML.readTree(Files.readString(root().resolve("examples/cluster-dsr.yaml")));
        ((ObjectNode) unset.path("metadata")).put("name", "lb-default").put("namespace", "cluster-lb-default");
        ((ObjectNode) unset.path("spec")).put("type", "user");
        ((ObjectNode) unset.at("/spec/clusterNetwork")).remove("forwardMode");
        kubectlOk("create", "namespace", "cluster-lb-default");
        apply(YAML.writeValueAsString(unset));
        await("Cluster lb-default valid with effective mode snat", () -> cluster("cluster-lb-default", "lb-default"),
                c -> "snat".equals(status(c).path("effectiveForwardMode").asText()));

        ExecResult denied = patchForwardMode("cluster-lb-default", "lb-default", "dsr");
        assertThat(denied.getExitCode()).isNotZero();
        // The webhook's Invalid status carries causes, so kubectl prints it like the API server's own validation
        // (as the kube tier shows on a real API server), not as "admission webhook ... denied the request".
        assertThat(denied.getStderr()).contains("The Cluster \"lb-default\" is invalid: spec.clusterNetwork.forwardMode");

        // A set field can't change: the API server answers with the CRD's rule before it even asks the webhook.
        ExecResult snat = patchForwardMode("cluster-lb-mode", "lb-mode", "snat");
        assertThat(snat.getExitCode()).isNotZero();
        assertThat(snat.getStderr()).contains(CEL_MESSAGE);
        assertThat(spec(cluster("cluster-lb-mode", "lb-mode")).at("/clusterNetwork/forwardMode").asText())
                .isEqualTo("dsr");
    }

    @Test
    @Order(4)
    void withTheOperatorScaledToZeroTheCrdRuleStillDenies() throws Exception {
        kubectlOk("scale", "deployment/lbmode-operator", "-n", NAMESPACE, "--replicas=0");
        await("no operator pod left", () -> client.pods().inNamespace(NAMESPACE)
                .withLabel("app.kubernetes.io/component", "operator").list().getItems(), List::isEmpty);
        try {
            ExecResult snat = patchForwardMode("cluster-lb-mode", "lb-mode", "snat");
            assertThat(snat.getExitCode()).isNotZero();
            assertThat(snat.getStderr()).contains(CEL_MESSAGE);
            // And what only the webhook checks fails closed (failurePolicy Fail) rather than slipping through.
            ExecResult dsr = patchForwardMode("cluster-lb-default", "lb-default", "dsr");
            assertThat(dsr.getExitCode()).isNotZero();
            assertThat(dsr.getStderr()).contains("failed calling webhook \"" + WEBHOOK + "\"");
        } finally {
            kubectlOk("scale", "deployment/lbmode-operator", "-n", NAMESPACE, "--replicas=2");
            awaitOperatorReplicas(2);
        }
    }

    @Test
    @Order(5)
    void aPreviewClusterUpgradedTo128GetsForwardModeDsr() throws Exception {
        ObjectNode preview = (ObjectNode) YAML.readTree(
                Files.readString(root().resolve("examples/cluster-1.16-preview.yaml")));
        // A user cluster: the cluster of type hybrid applied first stays the one self-managed cluster.
        ((ObjectNode) preview.path("spec")).put("type", "user");
        kubectlOk("create", "namespace", preview.at("/metadata/namespace").asText());
        apply(YAML.writeValueAsString(preview));
        String ns = preview.at("/metadata/namespace").asText();
        String name = preview.at("/metadata/name").asText();
        GenericKubernetesResource before = await("preview cluster valid, effective mode dsr from the annotation",
                () -> cluster(ns, name), c -> "dsr".equals(status(c).path("effectiveForwardMode").asText())
                        && "True".equals(condition(c, "Valid")));
        assertThat(spec(before).at("/clusterNetwork/forwardMode").isMissingNode()).isTrue();

        kubectlOk("patch", "clusters.baremetal.cluster.gke.io", name, "-n", ns, "--type=merge",
                "-p", "{\"spec\":{\"anthosBareMetalVersion\":\"1.28.0\"}}");
        await("forwardMode written as dsr after the upgrade to 1.28.0", () -> cluster(ns, name),
                c -> "dsr".equals(spec(c).at("/clusterNetwork/forwardMode").asText()));
    }

    @Test
    @Order(6)
    void theFullGdcConfigurationReadsBackUnchanged() throws Exception {
        String file = Files.readString(root().resolve("examples/cluster-full.yaml"));
        List<JsonNode> documents = new ArrayList<>();
        try (var parser = new YAMLFactory().createParser(file)) {
            YAML.readValues(parser, JsonNode.class).forEachRemaining(documents::add);
        }
        // The header document (no apiVersion) and the NodePool (no CRD here) are for the GDC tooling, not the API.
        List<JsonNode> applicable = documents.stream()
                .filter(d -> List.of("Namespace", "Cluster").contains(d.path("kind").asText())).toList();
        JsonNode sent = applicable.stream().filter(d -> d.path("kind").asText().equals("Cluster")).findFirst()
                .orElseThrow();
        StringBuilder yaml = new StringBuilder();
        for (JsonNode d : applicable) {
            yaml.append("---\n").append(YAML.writeValueAsString(d));
        }
        apply(yaml.toString());

        GenericKubernetesResource stored = cluster(sent.at("/metadata/namespace").asText(),
                sent.at("/metadata/name").asText());
        assertThat(spec(stored)).as("spec read back from the API server").isEqualTo(sent.path("spec"));
        JsonNode metadata = new ObjectMapper().valueToTree(stored.getMetadata());
        sent.path("metadata").path("labels").fields().forEachRemaining(label ->
                assertThat(metadata.at("/labels/" + label.getKey())).isEqualTo(label.getValue()));
        sent.path("metadata").path("annotations").fields().forEachRemaining(annotation ->
                assertThat(metadata.at("/annotations/" + annotation.getKey().replace("/", "~1")))
                        .isEqualTo(annotation.getValue()));
    }

    // ---- kubectl, as a user would run it (inside the k3s container, which ships kubectl) ----

    private static ExecResult kubectl(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("kubectl"));
        command.addAll(List.of(args));
        return k3s.execInContainer(command.toArray(String[]::new));
    }

    private static void kubectlOk(String... args) throws IOException, InterruptedException {
        ExecResult result = kubectl(args);
        assertThat(result.getExitCode()).as("kubectl %s: %s", String.join(" ", args), result.getStderr()).isZero();
    }

    private static void apply(String yaml) throws IOException, InterruptedException {
        String path = "/tmp/apply-" + System.nanoTime() + ".yaml";
        k3s.copyFileToContainer(Transferable.of(yaml), path);
        kubectlOk("apply", "-f", path);
    }

    private static ExecResult patchForwardMode(String namespace, String name, String mode)
            throws IOException, InterruptedException {
        return kubectl("patch", "clusters.baremetal.cluster.gke.io", name, "-n", namespace, "--type=merge",
                "-p", "{\"spec\":{\"clusterNetwork\":{\"forwardMode\":\"" + mode + "\"}}}");
    }

    // ---- reading state ----

    private static GenericKubernetesResource cluster(String namespace, String name) {
        Resource<GenericKubernetesResource> resource = client.genericKubernetesResources(
                "baremetal.cluster.gke.io/v1", "Cluster").inNamespace(namespace).withName(name);
        return resource.get();
    }

    private static JsonNode spec(GenericKubernetesResource resource) {
        return new ObjectMapper().valueToTree(resource.getAdditionalProperties().getOrDefault("spec", Map.of()));
    }

    private static JsonNode status(GenericKubernetesResource resource) {
        return new ObjectMapper().valueToTree(resource.getAdditionalProperties().getOrDefault("status", Map.of()));
    }

    private static String condition(GenericKubernetesResource resource, String type) {
        for (JsonNode condition : status(resource).path("conditions")) {
            if (type.equals(condition.path("type").asText())) {
                return condition.path("status").asText();
            }
        }
        return "";
    }

    private static void awaitOperatorReplicas(int replicas) {
        await(replicas + " operator replicas ready",
                () -> client.apps().deployments().inNamespace(NAMESPACE).withName("lbmode-operator").get(),
                (Deployment d) -> d.getStatus() != null && Objects.equals(d.getStatus().getReadyReplicas(), replicas));
    }

    /** {@link Await#until} with this suite's timeout, reading the cluster once a second. */
    private static <T> T await(String what, Supplier<T> read, java.util.function.Predicate<T> done) {
        return Await.until(what, TIMEOUT, Duration.ofSeconds(1), read, done);
    }

    private static Path root() {
        return Path.of(System.getProperty("lbmode.root", "..")).toAbsolutePath().normalize();
    }
}
