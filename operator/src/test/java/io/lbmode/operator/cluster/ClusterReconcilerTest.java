package io.lbmode.operator.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneSpec;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus;
import io.lbmode.datapathconfig.DatapathConfig;
import io.lbmode.operator.support.Fixtures;
import io.lbmode.operator.support.MockApiServerSetup;
import io.lbmode.operator.support.TestClients;
import io.lbmode.operator.support.WebhookTlsResource;
import io.lbmode.testsupport.ApiCallLog;
import io.lbmode.testsupport.Await;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The reconciler in the running app against the fabric8 mock API server (CRUD mode, the crds module's CRDs). */
@QuarkusTest
@WithKubernetesTestServer(crud = true, setup = MockApiServerSetup.class)
@QuarkusTestResource(WebhookTlsResource.class)
@Tag("apiserver")
class ClusterReconcilerTest {
    static final String NS = "cluster-lb-mode";

    @KubernetesTestServer
    KubernetesServer server;

    @io.quarkus.test.common.http.TestHTTPResource("/q/metrics")
    java.net.URL metrics;

    @Inject
    MeterRegistry meters;

    KubernetesClient client;
    String operatorNamespace;

    @BeforeEach
    void cleanSlate() {
        client = TestClients.testClient(server.getClient().getConfiguration());
        operatorNamespace = server.getClient().getNamespace();
        client.resources(Cluster.class).inAnyNamespace().delete();
        client.resources(NodeDataplane.class).delete();
        client.v1().events().inAnyNamespace().delete();
        client.configMaps().inNamespace(operatorNamespace).withName(DatapathConfig.CONFIG_MAP_NAME).delete();
        client.apps().daemonSets().inNamespace(operatorNamespace).withName("lbmode-datapath").delete();
        Await.until("a clean API server", () -> client.resources(Cluster.class).inAnyNamespace().list().getItems(), List::isEmpty);
    }

    @AfterEach
    void recordApiCalls() {
        ApiCallLog.drain(server.getKubernetesMockServer(), getClass(), TestClients.TEST_USER_AGENT);
        client.close();
    }

    @Test
    void validSelfManagedClusterGetsStatusAndTheDatapath() {
        create(Fixtures.valid(NS, "lb-mode", "standalone", "dsr"));

        Cluster cluster = awaitCondition("lb-mode", "DatapathReady", "False", "NoNodeReports");
        assertThat(cluster.getStatus().observedGeneration).isEqualTo(cluster.getMetadata().getGeneration());
        assertThat(cluster.getStatus().effectiveForwardMode).isEqualTo("dsr");
        assertThat(condition(cluster, "Valid")).hasValueSatisfying(c -> {
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getLastTransitionTime()).isNotBlank();
        });
        assertThat(cluster.getStatus().nodes.drivenBy).isEqualTo("this cluster");
        assertThat(cluster.getStatus().nodes.total).isZero();

        ConfigMap config = Await.until("the datapath ConfigMap", () -> configMap(), c -> c != null);
        assertThat(config.getData()).containsEntry("forwardMode", "dsr").containsEntry("podCIDRs", "192.168.0.0/16")
                .containsEntry("serviceCIDRs", "10.96.0.0/20").containsEntry("clusterNamespace", NS)
                .containsEntry("clusterName", "lb-mode")
                .as("the pool, the control plane VIP and the ingress VIP: what agents accept as VIPs")
                .containsEntry("vipRanges", "10.200.0.72-10.200.0.90,10.200.0.71,10.200.0.72");
        assertThat(DatapathConfig.fromConfigMapData(config.getData()).hashSeed())
                .isEqualTo(DatapathConfig.seedFor(NS, "lb-mode"));

        DaemonSet ds = Await.until("the datapath DaemonSet", () -> daemonSet(), d -> d != null);
        var pod = ds.getSpec().getTemplate().getSpec();
        assertThat(pod.getHostNetwork()).isTrue();
        assertThat(pod.getServiceAccountName()).isEqualTo("lbmode-datapath");
        var container = pod.getContainers().getFirst();
        assertThat(container.getSecurityContext().getPrivileged()).isFalse();
        assertThat(container.getSecurityContext().getCapabilities().getAdd()).containsExactly("NET_ADMIN", "BPF");
        assertThat(container.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("NODE_NAME");
            assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
        });
        assertThat(container.getArgs()).contains("--node=$(NODE_NAME)");
        assertThat(container.getVolumeMounts()).anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/sys/fs/bpf"));
        assertThat(pod.getVolumes()).anySatisfy(v -> assertThat(v.getHostPath().getPath()).isEqualTo("/sys/fs/bpf"));

        String text = Await.until("reconcile metrics", () -> {
            try {
                return new String(metrics.openStream().readAllBytes());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, t -> t.contains("lbmode_reconciles_total"));
        assertThat(text).containsPattern("lbmode_reconciles_total\\{[^}]*result=\"valid\"[^}]*} [1-9]")
                .contains("lbmode_reconcile_duration_seconds_bucket");
    }

    @Test
    void invalidClusterGetsValidFalseAWarningAndNothingDeployed() {
        String yaml = Fixtures.valid(NS, "broken", "standalone", "dsr").replace("10.96.0.0/20", "10.96.0.0/30");
        create(yaml);

        Cluster cluster = awaitCondition("broken", "Valid", "False", "Invalid");
        assertThat(condition(cluster, "Valid").orElseThrow().getMessage()).contains("spec.clusterNetwork.services.cidrBlocks");
        assertThat(condition(cluster, "DatapathReady").orElseThrow().getReason()).isEqualTo("ClusterInvalid");
        List<Event> warnings = Await.until("a Warning event", () -> events("broken", "Invalid"), l -> !l.isEmpty());
        assertThat(warnings.getFirst().getType()).isEqualTo("Warning");
        assertThat(warnings.getFirst().getMessage()).contains("services");
        assertThat(configMap()).isNull();
        assertThat(daemonSet()).isNull();
    }

    @Test
    void previewAnnotationMigratesOnceAndKeepsEveryOtherField() {
        create(Fixtures.yaml(NS, "legacy", "standalone", "1.28.0", null, "enable"));

        Cluster migrated = Await.until("forwardMode written by the migration", () -> cluster("legacy"),
                c -> c != null && c.getSpec().clusterNetwork.forwardMode != null);
        assertThat(migrated.getSpec().clusterNetwork.forwardMode.wireName()).isEqualTo("dsr");
        Await.until("the datapath ConfigMap with dsr", this::configMap,
                c -> c != null && "dsr".equals(c.getData().get("forwardMode")));
        Cluster settled = awaitCondition("legacy", "DatapathReady", "False", "NoNodeReports");

        // Fields lbmode does not model survive the operator's write, as stored.
        GenericKubernetesResource raw = client.genericKubernetesResources(
                        ResourceDefinitionContext.fromResourceType(Cluster.class))
                .inNamespace(NS).withName("legacy").get();
        Map<String, Object> spec = raw.get("spec");
        assertThat(spec).containsKey("gkeConnect").containsKey("storage");
        assertThat(raw.<Object>get("spec", "controlPlane", "apiServerArgs")).isNotNull();
        assertThat(raw.getMetadata().getAnnotations()).containsKey("preview.baremetal.cluster.gke.io/dpv2-lbmode-dsr");

        // Idempotent: no further writes, one event. Proof that the operator looked again: a ConfigMap edit wakes a
        // reconcile, which undoes the edit (and is counted) but leaves the Cluster as it is.
        String version = settled.getMetadata().getResourceVersion();
        double reconciles = reconciles();
        client.configMaps().inNamespace(operatorNamespace).withName(DatapathConfig.CONFIG_MAP_NAME).edit(c -> {
            c.getData().put("forwardMode", "snat");
            return c;
        });
        Await.until("the ConfigMap edit undone by a reconcile", this::configMap,
                c -> c != null && "dsr".equals(c.getData().get("forwardMode")));
        Await.until("that reconcile counted", this::reconciles, n -> n > reconciles);
        assertThat(cluster("legacy").getMetadata().getResourceVersion()).isEqualTo(version);
        List<Event> events = events("legacy", "ForwardModeMigrated");
        assertThat(events).hasSize(1);
        assertThat(events.getFirst().getType()).isEqualTo("Normal");
        assertThat(events.getFirst().getMessage()).contains("dsr").contains("preview");
    }

    @Test
    void deletedOrEditedDependentsAreRepaired() {
        create(Fixtures.valid(NS, "lb-mode", "hybrid", "snat"));
        Await.until("the DaemonSet", this::daemonSet, d -> d != null);
        Await.until("the ConfigMap", this::configMap, c -> c != null);

        client.apps().daemonSets().inNamespace(operatorNamespace).withName("lbmode-datapath").delete();
        client.configMaps().inNamespace(operatorNamespace).withName(DatapathConfig.CONFIG_MAP_NAME).delete();
        Await.until("the DaemonSet recreated", this::daemonSet, d -> d != null);
        Await.until("the ConfigMap recreated", this::configMap, c -> c != null && "snat".equals(c.getData().get("forwardMode")));

        client.configMaps().inNamespace(operatorNamespace).withName(DatapathConfig.CONFIG_MAP_NAME)
                .edit(c -> {
                    c.getData().put("forwardMode", "dsr");
                    return c;
                });
        Await.until("the ConfigMap drift undone", this::configMap, c -> c != null && "snat".equals(c.getData().get("forwardMode")));

        String image = daemonSet().getSpec().getTemplate().getSpec().getContainers().getFirst().getImage();
        client.apps().daemonSets().inNamespace(operatorNamespace).withName("lbmode-datapath").edit(d -> {
            d.getSpec().getTemplate().getSpec().getContainers().getFirst().setImage("someone/else:latest");
            return d;
        });
        Await.until("the DaemonSet image restored", this::daemonSet,
                d -> image.equals(d.getSpec().getTemplate().getSpec().getContainers().getFirst().getImage()));
    }

    @Test
    void nodeDataplaneReportsAggregateIntoDatapathReady() {
        create(Fixtures.valid(NS, "lb-mode", "standalone", "dsr"));
        awaitCondition("lb-mode", "DatapathReady", "False", "NoNodeReports");

        report("node-a", "dsr", null);
        report("node-b", "snat", null);
        report("node-c", "dsr", "nft: table lbmode: Operation not permitted");
        // report() creates a NodeDataplane and then writes its status: a reconcile in between rightly counts the
        // node without a mode yet, so wait until all three reports (not only the three objects) are counted.
        Cluster partial = Await.until("3 nodes counted with their reports", () -> cluster("lb-mode"),
                c -> c.getStatus().nodes != null && Integer.valueOf(3).equals(c.getStatus().nodes.total)
                        && c.getStatus().nodes.byMode != null
                        && c.getStatus().nodes.byMode.values().stream().mapToInt(Integer::intValue).sum() == 3);
        assertThat(partial.getStatus().nodes.programmed).isEqualTo(1);
        assertThat(partial.getStatus().nodes.byMode).containsEntry("dsr", 2).containsEntry("snat", 1);
        assertThat(partial.getStatus().nodes.notProgrammed).containsExactly("node-b", "node-c");
        Condition ready = condition(partial, "DatapathReady").orElseThrow();
        assertThat(ready.getStatus()).isEqualTo("False");
        assertThat(ready.getReason()).isEqualTo("NodesNotProgrammed");
        assertThat(ready.getMessage()).contains("1/3").contains("node-c (lastError: nft: table lbmode");

        report("node-b", "dsr", null);
        report("node-c", "dsr", null);
        Cluster all = awaitCondition("lb-mode", "DatapathReady", "True", "AllNodesProgrammed");
        assertThat(all.getStatus().nodes.programmed).isEqualTo(3);
        assertThat(condition(all, "DatapathReady").orElseThrow().getMessage()).contains("3/3 nodes program dsr");
    }

    @Test
    void twoSelfManagedClustersAreAnErrorOnEachUntilOneGoes() {
        create(Fixtures.valid(NS, "first", "standalone", "dsr"));
        awaitCondition("first", "DatapathReady", "False", "NoNodeReports");
        create(Fixtures.valid("other-ns", "second", "admin", "snat"));

        for (String name : List.of("first", "second")) {
            Cluster c = awaitCondition(name, "DatapathReady", "False", "MultipleSelfManagedClusters");
            assertThat(condition(c, "DatapathReady").orElseThrow().getMessage())
                    .contains(NS + "/first").contains("other-ns/second");
        }
        client.resources(Cluster.class).inNamespace("other-ns").withName("second").delete();
        awaitCondition("first", "DatapathReady", "False", "NoNodeReports");
    }

    @Test
    void userClusterIsValidatedAndSaysWhereItsDatapathIsDriven() {
        create(Fixtures.valid(NS, "user-1", "user", "dsr"));
        Cluster user = awaitCondition("user-1", "DatapathReady", "Unknown", "DrivenByOwnCluster");
        assertThat(condition(user, "Valid").orElseThrow().getStatus()).isEqualTo("True");
        assertThat(user.getStatus().nodes.drivenBy).contains("its own cluster");
        assertThat(configMap()).isNull();
        assertThat(daemonSet()).isNull();
    }

    // ---------------------------------------------------------------- helpers

    private void create(String yaml) {
        client.resource(Fixtures.cluster(yaml)).create();
    }

    private Cluster cluster(String name) {
        return client.resources(Cluster.class).inAnyNamespace().list().getItems().stream()
                .filter(c -> c.getMetadata().getName().equals(name)).findFirst().orElse(null);
    }

    /** Completed reconciles of every Cluster, whatever their result ({@code lbmode.reconciles}). */
    private double reconciles() {
        return meters.find("lbmode.reconciles").counters().stream().mapToDouble(Counter::count).sum();
    }

    private ConfigMap configMap() {
        return client.configMaps().inNamespace(operatorNamespace).withName(DatapathConfig.CONFIG_MAP_NAME).get();
    }

    private DaemonSet daemonSet() {
        return client.apps().daemonSets().inNamespace(operatorNamespace).withName("lbmode-datapath").get();
    }

    private List<Event> events(String cluster, String reason) {
        return client.v1().events().inAnyNamespace().list().getItems().stream()
                .filter(e -> cluster.equals(e.getInvolvedObject().getName()) && reason.equals(e.getReason())).toList();
    }

    static Optional<Condition> condition(Cluster cluster, String type) {
        if (cluster == null || cluster.getStatus() == null || cluster.getStatus().conditions == null) {
            return Optional.empty();
        }
        return cluster.getStatus().conditions.stream().filter(c -> type.equals(c.getType())).findFirst();
    }

    private Cluster awaitCondition(String name, String type, String status, String reason) {
        return Await.until(name + " " + type + "=" + status + " (" + reason + ")", Duration.ofSeconds(30),
                () -> cluster(name), c -> condition(c, type)
                        .map(cond -> status.equals(cond.getStatus()) && reason.equals(cond.getReason())).orElse(false));
    }

    private void report(String node, String mode, String error) {
        var existing = client.resources(NodeDataplane.class).withName(node).get();
        NodeDataplane ndp = existing;
        if (ndp == null) {
            ndp = new NodeDataplane();
            ndp.setMetadata(new ObjectMetaBuilder().withName(node).build());
            var spec = new NodeDataplaneSpec();
            spec.nodeName = node;
            spec.clusterNamespace = NS;
            spec.clusterName = "lb-mode";
            ndp.setSpec(spec);
            ndp = client.resource(ndp).create();
        }
        var status = new NodeDataplaneStatus();
        status.mode = mode;
        status.lastError = error;
        status.services = 2;
        status.endpoints = 4;
        ndp.setStatus(status);
        client.resource(ndp).updateStatus();
    }
}
