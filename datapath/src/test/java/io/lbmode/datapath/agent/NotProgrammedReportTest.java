package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Event;
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
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.nft.FakeNftRunner;
import io.lbmode.datapath.nft.SnatProgrammer;
import io.lbmode.datapath.program.Applied;
import io.lbmode.datapath.program.ModeProgrammer;
import io.lbmode.datapathconfig.DatapathConfig;
import io.lbmode.testsupport.Await;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The service ports a programmer leaves out ({@link Applied#notProgrammed}) reach the Service's owner as Services the
 * agent cannot program do: a Warning Event once per reason on the Service, and the NodeDataplane status
 * ({@code skippedServices}, {@code skipped}, {@code services} counting the programmed ports only); the apply is a
 * success (no lastError), and when a later apply programs the port the report goes. Against the fabric8 mock API server,
 * with a DSR stand-in that has room for one service port (the real one's left-out ports: DsrTableMemoryLabTest).
 */
@Tag("apiserver")
@io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient(crud = true)
class NotProgrammedReportTest {
    KubernetesMockServer server;
    KubernetesClient client;
    final FakeNftRunner nft = new FakeNftRunner();
    /** The applies of the stand-in: the ports it left out each time. */
    final List<List<String>> leftOut = new CopyOnWriteArrayList<>();

    /** Stands in for the DSR programmer with table memory for one service port: the first in the state's order. */
    final class OnePortDsr implements ModeProgrammer {
        @Override
        public ForwardMode mode() {
            return ForwardMode.DSR;
        }

        @Override
        public Applied apply(NodeState desired) {
            List<ServicePort> over = desired.services().stream().skip(1).toList();
            leftOut.add(over.stream().map(ServicePort::displayName).toList());
            return new Applied(false, desired.services().size() - over.size(), Duration.ZERO, over.stream()
                    .map(s -> new Applied.NotProgrammed(s.namespace(), s.name(), s.key() + " (" + s.displayName() + ")",
                            "the node's Maglev table memory is full; use fewer LoadBalancer service ports on this node"))
                    .toList());
        }

        @Override
        public String render(NodeState desired) {
            return "";
        }

        @Override
        public boolean drifted() {
            return false;
        }

        @Override
        public void repair() {
        }

        @Override
        public void cleanup() {
        }

        @Override
        public Map<String, Long> dropCounters() {
            return Map.of();
        }
    }

    @BeforeEach
    void start() {
        client = client("lbmode-datapath-test");
        try (var crd = NotProgrammedReportTest.class.getResourceAsStream("/META-INF/fabric8/nodedataplanes.lbmode.io-v1.yml")) {
            client.apiextensions().v1().customResourceDefinitions().load(crd).create();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @AfterEach
    void stop() {
        client.close();
    }

    KubernetesClient client(String userAgent) {
        Config config = server.createClient().getConfiguration();
        config.setUserAgent(userAgent);
        config.setHttp2Disable(true); // as InClusterAgentTest: HTTP/2 watches stall against the mock server
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    @Test
    void aServicePortLeftOutIsReportedOnItsServiceAndInTheStatusUntilItIsProgrammed() throws Exception {
        DatapathConfig cfg = new DatapathConfig(ForwardMode.DSR, List.of("10.244.0.0/16"), List.of("10.96.0.0/20"),
                "cluster-lab", "lab", 42, List.of("172.16.20.0/24"));
        client.configMaps().inNamespace("lbmode-system").resource(new ConfigMapBuilder().withNewMetadata()
                .withName(DatapathConfig.CONFIG_MAP_NAME).withNamespace("lbmode-system").endMetadata()
                .withData(cfg.toConfigMapData()).build()).create();
        client.nodes().resource(new NodeBuilder().withNewMetadata().withName("n1").endMetadata().withNewStatus()
                .addNewAddress().withType("InternalIP").withAddress("10.0.0.10").endAddress().endStatus().build()).create();
        createService("web", "172.16.20.16");
        createService("big", "172.16.20.17");

        AgentOptions options = AgentOptions.parse(new String[]{"--node", "n1", "--health-port", "0"},
                Map.of("POD_NAMESPACE", "lbmode-system"));
        OnePortDsr dsr = new OnePortDsr();
        Programmers programmers = mode -> mode == ForwardMode.DSR ? dsr : new SnatProgrammer(nft);
        try (RunningAgent agent = RunningAgent.start(new AgentRunner(options, programmers, () -> client("lbmode-datapath-agent")))) {
            NodeDataplane ndp = Await.until("both Services in the state, big left out", this::nodeDataplane,
                    n -> n != null && n.getStatus() != null && n.getStatus().skippedServices != null);
            assertThat(leftOut).last().isEqualTo(List.of("default/big:http"));
            assertThat(ndp.getStatus().skippedServices).isEqualTo(1);
            assertThat(ndp.getStatus().skipped).singleElement().satisfies(sk -> {
                assertThat(sk.service).isEqualTo("default/big");
                assertThat(sk.reason).isEqualTo("service port 172.16.20.17:80/tcp (default/big:http) is not programmed: the "
                        + "node's Maglev table memory is full; use fewer LoadBalancer service ports on this node");
            });
            assertThat(ndp.getStatus().services).as("the ports the kernel holds").isEqualTo(1);
            assertThat(ndp.getStatus().lastError).as("the apply succeeded").isNull();
            assertThat(ndp.getStatus().conditions).singleElement().satisfies(c -> assertThat(c.getStatus()).isEqualTo("True"));

            List<Event> events = Await.until("the Warning Event", this::events, e -> !e.isEmpty());
            assertThat(events).singleElement().satisfies(e -> {
                assertThat(e.getType()).isEqualTo("Warning");
                assertThat(e.getReason()).isEqualTo(StatusSink.ServiceEvent.SKIPPED);
                assertThat(e.getInvolvedObject().getName()).isEqualTo("big");
                assertThat(e.getInvolvedObject().getUid()).isEqualTo(client.services().inNamespace("default").withName("big")
                        .get().getMetadata().getUid());
                assertThat(e.getMessage()).startsWith("service port 172.16.20.17:80/tcp (default/big:http) is not programmed");
            });

            // Another apply with big still left out: no Event again (deleted here so that a new one would show).
            client.v1().events().inNamespace("default").delete();
            Await.until("Events deleted", this::events, List::isEmpty);
            int applies = leftOut.size();
            client.discovery().v1().endpointSlices().inNamespace("default").resource(new EndpointSliceBuilder()
                    .withNewMetadata().withName("web-1").withNamespace("default")
                    .addToLabels("kubernetes.io/service-name", "web").endMetadata().withAddressType("IPv4")
                    .addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort()
                    .addNewEndpoint().withAddresses("10.244.1.2").withNodeName("n2").withNewConditions().withReady(true)
                    .endConditions().endEndpoint().build()).create();
            Await.until("the status after the change", this::nodeDataplane, n -> Integer.valueOf(1).equals(n.getStatus().endpoints));
            assertThat(leftOut.size()).isGreaterThan(applies);
            assertThat(leftOut).last().isEqualTo(List.of("default/big:http"));
            assertThat(events()).as("the same reason is not reported again").isEmpty();
            assertThat(nodeDataplane().getStatus().skippedServices).isEqualTo(1);

            // web goes: big gets the room, and its report goes.
            client.services().inNamespace("default").withName("web").delete();
            Await.until("nothing skipped any more", this::nodeDataplane,
                    n -> n.getStatus().skippedServices == null && n.getStatus().skipped == null);
            assertThat(leftOut).last().isEqualTo(List.of());
            assertThat(nodeDataplane().getStatus().services).isEqualTo(1);
            assertThat(events()).isEmpty();
        }
    }

    private NodeDataplane nodeDataplane() {
        return client.resources(NodeDataplane.class).withName("n1").get();
    }

    private List<Event> events() {
        return client.v1().events().inNamespace("default").list().getItems();
    }

    private void createService(String name, String vip) {
        client.services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata().withName(name)
                .withNamespace("default").endMetadata().withNewSpec().withType("LoadBalancer").addNewPort().withName("http")
                .withPort(80).withProtocol("TCP").withTargetPort(new IntOrString(8080)).endPort().endSpec()
                .withNewStatus().withNewLoadBalancer().addNewIngress().withIp(vip).endIngress().endLoadBalancer()
                .endStatus().build()).create();
    }
}
