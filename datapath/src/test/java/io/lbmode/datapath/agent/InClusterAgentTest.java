package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.datapath.nft.FakeNftRunner;
import io.lbmode.datapathconfig.DatapathConfig;
import io.lbmode.testsupport.ApiCallLog;
import io.lbmode.testsupport.Await;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The agent in-cluster against the fabric8 mock API server (CRUD mode): informers on the ConfigMap, its Node,
 * Services and EndpointSlices; NodeDataplane created and its status patched; the kernel is the fake runner.
 */
@Tag("apiserver")
@io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient(crud = true)
class InClusterAgentTest {
    /** The user agent of the test's own client, whose requests are left out of the recorded API calls. */
    static final String TEST_USER_AGENT = "lbmode-datapath-test";

    KubernetesMockServer server;
    KubernetesClient client; // the test's own client, filtered out of the recorded calls
    final FakeNftRunner nft = new FakeNftRunner();

    @BeforeEach
    void start() {
        client = clientWithAgent(TEST_USER_AGENT);
        // The CRD as the crds module generates it, so the mock server knows NodeDataplane and its status subresource.
        try (var crd = InClusterAgentTest.class.getResourceAsStream("/META-INF/fabric8/nodedataplanes.lbmode.io-v1.yml")) {
            client.apiextensions().v1().customResourceDefinitions().load(crd).create();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    KubernetesClient clientWithAgent(String userAgent) {
        Config config = server.createClient().getConfiguration();
        config.setUserAgent(userAgent);
        // HTTP/1.1: the JDK client's HTTP/2 multiplexing of watches and requests stalls against the mock server.
        config.setHttp2Disable(true);
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    @AfterEach
    void stop() throws Exception {
        ApiCallLog.drain(server, InClusterAgentTest.class, TEST_USER_AGENT);
        client.close();
    }

    @Test
    void programsFromInformersAndPublishesNodeDataplaneStatus() throws Exception {
        createConfigMap();
        createNode();
        client.services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata().withName("web")
                .withNamespace("default").endMetadata().withNewSpec().withType("LoadBalancer").addNewPort().withName("http")
                .withPort(80).withProtocol("TCP").withTargetPort(new IntOrString("http")).endPort().endSpec()
                .withNewStatus().withNewLoadBalancer().addNewIngress().withIp("172.16.20.16").endIngress().endLoadBalancer()
                .endStatus().build()).create();

        RunningAgent agent = startAgent();
        try {
            // No endpoints yet: the VIP port rejects.
            Await.until("reject element", () -> nft.elements("ip", "lbmode", "reject-ports").containsKey("172.16.20.16 . tcp . 80"));
            client.discovery().v1().endpointSlices().inNamespace("default").resource(new EndpointSliceBuilder()
                    .withNewMetadata().withName("web-1").withNamespace("default")
                    .addToLabels("kubernetes.io/service-name", "web").endMetadata().withAddressType("IPv4")
                    .addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort()
                    .addNewEndpoint().withAddresses("10.244.1.2").withNodeName("n2").withNewConditions().withReady(true)
                    .endConditions().endEndpoint().build()).create();
            Await.until("backend element", () -> "10.244.1.2 . 8080".equals(nft.elements("ip", "lbmode", "backends").get("172.16.20.16 . tcp . 80 . 0")));
            assertThat(nft.elements("ip", "lbmode", "reject-ports")).isEmpty();

            Await.until("NodeDataplane status with 1 endpoint", () -> {
                NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
                return ndp != null && ndp.getStatus() != null && Integer.valueOf(1).equals(ndp.getStatus().endpoints);
            });
            NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
            assertThat(ndp.getSpec().nodeName).isEqualTo("n1");
            assertThat(ndp.getSpec().clusterName).isEqualTo("lab");
            assertThat(ndp.getStatus().mode).isEqualTo("snat");
            assertThat(ndp.getStatus().services).isEqualTo(1);
            assertThat(ndp.getStatus().rulesetHash).hasSize(16);
            assertThat(ndp.getStatus().lastError).isNull();
            assertThat(ndp.getStatus().lastSyncTime).isNotBlank();
        } finally {
            agent.runner().close();
        }
        assertThat(agent.exit().get()).isZero();
    }

    /**
     * A failed sync writes lastError; the next successful one removes it from the stored status (the status patch
     * names lastError with an explicit null: a merge patch that leaves it out would keep it, and DatapathReady False).
     */
    @Test
    void aSuccessfulSyncClearsTheLastErrorOfTheStoredStatus() throws Exception {
        createConfigMap();
        RunningAgent agent = startAgent();
        try {
            // No Node n1 yet: the sync fails and says so in the stored status.
            Await.until("NodeDataplane n1 with lastError", () -> {
                NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
                return ndp != null && ndp.getStatus() != null && ndp.getStatus().lastError != null
                        && ndp.getStatus().lastError.contains("no Node object");
            });
            client.nodes().resource(new NodeBuilder().withNewMetadata().withName("n1").endMetadata().withNewStatus()
                    .addNewAddress().withType("InternalIP").withAddress("10.0.0.10").endAddress().endStatus().build()).create();
            Await.until("NodeDataplane n1 programmed snat", () -> {
                NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
                return ndp != null && ndp.getStatus() != null && "snat".equals(ndp.getStatus().mode)
                        && ndp.getStatus().lastSyncTime != null;
            });
            NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
            assertThat(ndp.getStatus().lastError).as("lastError after a successful sync").isNull();
        } finally {
            agent.runner().close();
        }
        assertThat(agent.exit().get()).isZero();
    }

    /**
     * The NodeDataplane is owned by its Node (so the garbage collector deletes it with the Node): created so when the
     * Node is known, patched so when it was created before the Node existed, and again when the Node is created anew.
     */
    @Test
    void theNodeDataplaneIsOwnedByItsNode() throws Exception {
        createConfigMap();
        RunningAgent agent = startAgent();
        try {
            Await.until("NodeDataplane n1 created before its Node, without owner", () -> {
                NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
                return ndp != null && ndp.getStatus() != null && ndp.getStatus().lastError != null;
            });
            assertThat(client.resources(NodeDataplane.class).withName("n1").get().getMetadata().getOwnerReferences()).isEmpty();
            createNode();
            String uid = client.nodes().withName("n1").get().getMetadata().getUid();
            assertThat(uid).isNotBlank();
            Await.until("NodeDataplane n1 owned by Node n1", () -> ownerUids().equals(List.of("Node/n1/" + uid)));

            client.nodes().withName("n1").delete();
            Await.until("NodeDataplane n1 without owner while its Node is gone", this::ownerUids, List::isEmpty);
            assertThat(client.resources(NodeDataplane.class).withName("n1").get().getStatus().lastError).contains("no Node object");
            client.nodes().resource(new NodeBuilder().withNewMetadata().withName("n1").withUid("n1-second").endMetadata()
                    .withNewStatus().addNewAddress().withType("InternalIP").withAddress("10.0.0.10").endAddress().endStatus()
                    .build()).create();
            String second = client.nodes().withName("n1").get().getMetadata().getUid();
            assertThat(second).isNotEqualTo(uid);
            Await.until("NodeDataplane n1 owned by the new Node n1", this::ownerUids, o -> o.equals(List.of("Node/n1/" + second)));
        } finally {
            agent.runner().close();
        }
        assertThat(agent.exit().get()).isZero();
    }

    private List<String> ownerUids() {
        NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
        return ndp == null ? List.of() : ndp.getMetadata().getOwnerReferences().stream()
                .map(o -> o.getKind() + "/" + o.getName() + "/" + o.getUid() + (o.getApiVersion().equals("v1") ? "" : " " + o.getApiVersion()))
                .toList();
    }

    @Test
    void theStatusPatchNamesEveryFieldWithNullForTheAbsentOnes() throws Exception {
        var status = new io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus();
        status.mode = "dsr";
        var patch = new com.fasterxml.jackson.databind.ObjectMapper().readTree(ClusterSource.statusPatch(status)).path("status");
        assertThat(patch.path("mode").asText()).isEqualTo("dsr");
        assertThat(patch.has("lastError")).isTrue();
        assertThat(patch.path("lastError").isNull()).isTrue();
        assertThat(patch.path("drops").isNull()).isTrue();
    }

    /**
     * Stopping the agent (SIGTERM) keeps the kernel state while its DaemonSet exists (a rolling update must not cut
     * connections) and removes it when the DaemonSet is gone (helm uninstall, or the Cluster deleted).
     */
    @Test
    void aStoppedAgentRemovesItsKernelStateOnlyWhenItsDaemonSetIsGone() throws Exception {
        createConfigMap();
        createNode();
        var daemonSet = client.apps().daemonSets().inNamespace("lbmode-system").resource(
                new io.fabric8.kubernetes.api.model.apps.DaemonSetBuilder().withNewMetadata()
                        .withName(DatapathConfig.DAEMON_SET_NAME).withNamespace("lbmode-system").endMetadata()
                        .withNewSpec().withNewSelector().addToMatchLabels("app", "x").endSelector().endSpec().build()).create();

        runUntilProgrammedThenStop();
        assertThat(nft.hasTable("ip", "lbmode")).as("state kept: the DaemonSet is still there (a rolling update)").isTrue();

        client.apps().daemonSets().inNamespace("lbmode-system").withName(daemonSet.getMetadata().getName()).delete();
        Await.until("DaemonSet gone", () -> client.apps().daemonSets().inNamespace("lbmode-system")
                .withName(DatapathConfig.DAEMON_SET_NAME).get() == null);
        runUntilProgrammedThenStop();
        assertThat(nft.hasTable("ip", "lbmode")).as("state removed: the DaemonSet is gone (uninstall)").isFalse();
    }

    /**
     * helm uninstall deletes the agent's RBAC and ServiceAccount before the garbage collector deletes the DaemonSet:
     * the agent then gets 403 (or 401) for its DaemonSet, and removes its state only if it also saw its ConfigMap
     * deleted (the ServiceAccount owned it too); a 403 alone (RBAC broken by hand) keeps it.
     */
    @Test
    void aForbiddenDaemonSetRemovesTheStateOnlyAfterTheConfigMapWasDeleted() throws Exception {
        createConfigMap();
        createNode();
        server.expect().get().withPath("/apis/apps/v1/namespaces/lbmode-system/daemonsets/" + DatapathConfig.DAEMON_SET_NAME)
                .andReturn(403, new io.fabric8.kubernetes.api.model.StatusBuilder().withCode(403).withReason("Forbidden")
                        .withMessage("forbidden").build()).always();

        runUntilProgrammedThenStop();
        assertThat(nft.hasTable("ip", "lbmode")).as("403 with the ConfigMap still there: state kept").isTrue();

        RunningAgent agent = startAgent();
        try {
            Await.until("agent programmed", () -> agent.runner().agent() != null && agent.runner().agent().generation() > 0);
            client.configMaps().inNamespace("lbmode-system").withName(DatapathConfig.CONFIG_MAP_NAME).delete();
            Await.until("the agent saw the ConfigMap deleted", () -> {
                NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
                return ndp != null && ndp.getStatus() != null && ndp.getStatus().lastError != null
                        && ndp.getStatus().lastError.contains("not found");
            });
        } finally {
            agent.runner().close();
        }
        assertThat(agent.exit().get()).isZero();
        assertThat(nft.hasTable("ip", "lbmode")).as("403 after the ConfigMap was deleted: state removed").isFalse();
    }

    /**
     * After the first read the agent hears of changes only (the objects the events name): an updated slice, a deleted
     * Service, a Service that takes a VIP:port over when the older one claiming it goes, and a deleted slice each
     * reach the kernel.
     */
    @Test
    void changesAfterTheFirstReadReachTheKernel() throws Exception {
        createConfigMap();
        createNode();
        createService("a-old", "172.16.20.16", null);
        createSlice("a-old", "10.244.1.2");
        createService("c-other", "172.16.20.18", null);
        createSlice("c-other", "10.244.1.4");
        RunningAgent agent = startAgent();
        try {
            Await.until("both programmed", () -> "10.244.1.2 . 8080".equals(backend("172.16.20.16"))
                    && "10.244.1.4 . 8080".equals(backend("172.16.20.18")));
            createService("b-new", "172.16.20.16", null); // a-old's VIP:port: the older keeps it
            createSlice("b-new", "10.244.1.3");
            Await.until("b-new reported as skipped", () -> {
                NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
                return ndp != null && ndp.getStatus() != null && Integer.valueOf(1).equals(ndp.getStatus().skippedServices);
            });
            assertThat(backend("172.16.20.16")).isEqualTo("10.244.1.2 . 8080");

            client.discovery().v1().endpointSlices().inNamespace("default").withName("a-old-1").edit(e -> {
                e.getEndpoints().getFirst().setAddresses(List.of("10.244.1.5"));
                return e;
            });
            Await.until("updated slice", () -> "10.244.1.5 . 8080".equals(backend("172.16.20.16")));

            client.services().inNamespace("default").withName("c-other").delete();
            Await.until("deleted Service", () -> !nft.elements("ip", "lbmode", "service-ports").containsKey("172.16.20.18 . tcp . 80"));

            client.services().inNamespace("default").withName("a-old").delete();
            Await.until("b-new holds the VIP:port now", () -> "10.244.1.3 . 8080".equals(backend("172.16.20.16")));
            Await.until("nothing skipped any more", () -> client.resources(NodeDataplane.class).withName("n1").get()
                    .getStatus().skippedServices == null);

            client.discovery().v1().endpointSlices().inNamespace("default").withName("b-new-1").delete();
            Await.until("deleted slice: the port rejects", () -> nft.elements("ip", "lbmode", "reject-ports").containsKey("172.16.20.16 . tcp . 80"));

            // The status is patched without reading the NodeDataplane first: one deleted meanwhile is created again.
            client.resources(NodeDataplane.class).withName("n1").delete();
            Await.until("NodeDataplane deleted", () -> client.resources(NodeDataplane.class).withName("n1").get() == null);
            createSlice("b-new", "10.244.1.6");
            Await.until("NodeDataplane created again with the status", () -> {
                NodeDataplane ndp = client.resources(NodeDataplane.class).withName("n1").get();
                return ndp != null && ndp.getStatus() != null && Integer.valueOf(1).equals(ndp.getStatus().endpoints)
                        && ndp.getMetadata().getOwnerReferences().size() == 1;
            });
        } finally {
            agent.runner().close();
        }
        assertThat(agent.exit().get()).isZero();
    }

    /** The first backend of the VIP's port 80/tcp as the fake kernel holds it. */
    private String backend(String vip) {
        return nft.elements("ip", "lbmode", "backends").get(vip + " . tcp . 80 . 0");
    }

    private void createSlice(String service, String address) {
        client.discovery().v1().endpointSlices().inNamespace("default").resource(new EndpointSliceBuilder()
                .withNewMetadata().withName(service + "-1").withNamespace("default")
                .addToLabels("kubernetes.io/service-name", service).endMetadata().withAddressType("IPv4")
                .addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort()
                .addNewEndpoint().withAddresses(address).withNodeName("n2").withNewConditions().withReady(true)
                .endConditions().endEndpoint().build()).create();
    }

    private void createService(String name, String vip, String loadBalancerClass) {
        client.services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata().withName(name)
                .withNamespace("default").endMetadata().withNewSpec().withType("LoadBalancer")
                .withLoadBalancerClass(loadBalancerClass).addNewPort().withName("http").withPort(80).withProtocol("TCP")
                .withTargetPort(new IntOrString(8080)).endPort().endSpec()
                .withNewStatus().withNewLoadBalancer().addNewIngress().withIp(vip).endIngress().endLoadBalancer()
                .endStatus().build()).create();
    }

    private List<io.fabric8.kubernetes.api.model.Event> events() {
        return client.v1().events().inNamespace("default").list().getItems();
    }

    /**
     * Services the agent can't program are skipped, the rest programmed; each skipped one gets one Warning Event per
     * reason (not one per sync), the status counts them and names the first 20; a field set but not honoured gets
     * one Event too.
     */
    @Test
    void skippedServicesGetOneWarningEventPerReasonAndAreCountedInTheStatus() throws Exception {
        createConfigMap();
        createNode();
        createService("good", "172.16.20.16", "example.com/other");
        for (int i = 0; i < 22; i++) {
            createService("rogue-%02d".formatted(i), "8.8.8." + (i + 1), null);
        }
        RunningAgent agent = startAgent();
        try {
            NodeDataplane ndp = Await.until("NodeDataplane with skipped Services", () -> client.resources(NodeDataplane.class)
                    .withName("n1").get(), n -> n != null && n.getStatus() != null && n.getStatus().skippedServices != null);
            assertThat(ndp.getStatus().skippedServices).isEqualTo(22);
            assertThat(ndp.getStatus().services).as("the good one is programmed").isEqualTo(1);
            assertThat(ndp.getStatus().lastError).isNull();
            assertThat(ndp.getStatus().skipped).hasSize(20).first().satisfies(sk -> {
                assertThat(sk.service).isEqualTo("default/rogue-00");
                assertThat(sk.reason).contains("VIP 8.8.8.1 is outside the Cluster's load-balancer address pools", "172.16.20.0/24");
            });
            assertThat(nft.elements("ip", "lbmode", "reject-ports")).containsOnlyKeys("172.16.20.16 . tcp . 80");

            var events = Await.until("23 Events", this::events, e -> e.size() >= 23);
            assertThat(events).hasSize(23);
            assertThat(events).filteredOn(e -> e.getReason().equals("LoadBalancerSkipped")).hasSize(22).allSatisfy(e -> {
                assertThat(e.getType()).isEqualTo("Warning");
                assertThat(e.getInvolvedObject().getKind()).isEqualTo("Service");
                assertThat(e.getInvolvedObject().getUid()).as("kubectl describe finds Events by uid").isEqualTo(client.services()
                        .inNamespace("default").withName(e.getInvolvedObject().getName()).get().getMetadata().getUid());
                assertThat(e.getMessage()).contains("status.loadBalancer.ingress VIP 8.8.8.");
                assertThat(e.getReportingInstance()).isEqualTo("n1");
            });
            assertThat(events).filteredOn(e -> e.getReason().equals("LoadBalancerFieldIgnored")).singleElement()
                    .satisfies(e -> {
                        assertThat(e.getInvolvedObject().getName()).isEqualTo("good");
                        assertThat(e.getMessage()).contains("spec.loadBalancerClass: example.com/other", "not honoured");
                    });

            // More syncs with the same problems: no Event again (they are deleted here so a new one would show).
            client.v1().events().inNamespace("default").delete();
            Await.until("Events deleted", this::events, List::isEmpty);
            client.discovery().v1().endpointSlices().inNamespace("default").resource(new EndpointSliceBuilder()
                    .withNewMetadata().withName("good-1").withNamespace("default")
                    .addToLabels("kubernetes.io/service-name", "good").endMetadata().withAddressType("IPv4")
                    .addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort()
                    .addNewEndpoint().withAddresses("10.244.1.2").withNodeName("n2").withNewConditions().withReady(true)
                    .endConditions().endEndpoint().build()).create();
            Await.until("a sync after the change", () -> client.resources(NodeDataplane.class).withName("n1").get(),
                    n -> Integer.valueOf(1).equals(n.getStatus().endpoints));
            assertThat(events()).as("the same reasons are not reported again").isEmpty();

            // A new reason is.
            client.services().inNamespace("default").withName("rogue-00").edit(s -> new ServiceBuilder(s).editStatus()
                    .editLoadBalancer().editFirstIngress().withIp("10.96.0.1").endIngress().endLoadBalancer().endStatus().build());
            var again = Await.until("an Event for the new reason", this::events, e -> !e.isEmpty());
            assertThat(again).singleElement().satisfies(e -> assertThat(e.getMessage())
                    .contains("10.96.0.1 lies in the cluster's own pod or service range 10.96.0.0/20"));

            // Fixed: the status forgets it.
            for (int i = 0; i < 22; i++) {
                client.services().inNamespace("default").withName("rogue-%02d".formatted(i)).delete();
            }
            Await.until("no skipped Services", () -> client.resources(NodeDataplane.class).withName("n1").get(),
                    n -> n.getStatus().skippedServices == null && n.getStatus().skipped == null);
        } finally {
            agent.runner().close();
        }
        assertThat(agent.exit().get()).isZero();
    }

    @Test
    void anEventNameIsStablePerServiceAndMessageAndValid() {
        var a = new StatusSink.ServiceEvent("default", "web", "u1", StatusSink.ServiceEvent.SKIPPED, "m1");
        assertThat(ClusterSource.eventName(a)).isEqualTo(ClusterSource.eventName(a)).startsWith("web.lbmode-")
                .matches("[a-z0-9.-]+").hasSizeLessThan(254);
        assertThat(ClusterSource.eventName(a)).isNotEqualTo(ClusterSource.eventName(
                new StatusSink.ServiceEvent("default", "web", "u1", StatusSink.ServiceEvent.SKIPPED, "m2")));
    }

    /** The agent's ConfigMap as the operator writes it: SNAT, cluster cluster-lab/lab. */
    private void createConfigMap() {
        DatapathConfig cfg = new DatapathConfig(ForwardMode.SNAT, List.of("10.244.0.0/16"), List.of("10.96.0.0/20"),
                "cluster-lab", "lab", 42, List.of("172.16.20.0/24"));
        client.configMaps().inNamespace("lbmode-system").resource(new ConfigMapBuilder().withNewMetadata()
                .withName(DatapathConfig.CONFIG_MAP_NAME).withNamespace("lbmode-system").endMetadata()
                .withData(cfg.toConfigMapData()).build()).create();
    }

    /** The agent's own Node, n1. */
    private void createNode() {
        client.nodes().resource(new NodeBuilder().withNewMetadata().withName("n1").endMetadata().withNewStatus()
                .addNewAddress().withType("InternalIP").withAddress("10.0.0.10").endAddress().endStatus().build()).create();
    }

    /** An agent for node n1 running in cluster mode; {@code exit} completes with run()'s exit code after close. */
    private RunningAgent startAgent() throws AgentOptions.UsageException {
        AgentOptions options = AgentOptions.parse(new String[]{"--node", "n1", "--health-port", "0"},
                Map.of("POD_NAMESPACE", "lbmode-system"));
        AgentRunner runner = new AgentRunner(options, Programmers.snatOnly(nft), () -> clientWithAgent("lbmode-datapath-agent"));
        return RunningAgent.start(runner);
    }

    private void runUntilProgrammedThenStop() throws Exception {
        RunningAgent agent = startAgent();
        try {
            Await.until("agent programmed snat", () -> agent.runner().agent() != null && agent.runner().agent().generation() > 0
                    && nft.hasTable("ip", "lbmode"));
        } finally {
            agent.runner().close();
        }
        assertThat(agent.exit().get()).isZero();
    }
}
