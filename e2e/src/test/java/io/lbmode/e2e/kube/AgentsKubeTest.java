package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.lbmode.testsupport.Await;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Node agents in cluster mode against the real API server: {@code ./lbmode datapath} runs for two nodes, each in a
 * network namespace of its own (its kernel rules stay there), as the chart's datapath ServiceAccount. Each reports
 * a NodeDataplane with the mode the operator wrote into the datapath ConfigMap, and the Cluster's DatapathReady
 * condition aggregates them.
 */
@Tag("kube")
@Order(5)
@ExtendWith(KubeControlPlane.Extension.class)
class AgentsKubeTest {
    static final List<String> NODES = List.of("lbkube-n1", "lbkube-n2");
    static final List<Process> agents = new ArrayList<>();

    final KubeControlPlane kube = KubeControlPlane.get();

    @BeforeAll
    static void startTwoAgents() throws IOException {
        KubeControlPlane kube = KubeControlPlane.get();
        // The one self-managed Cluster of this API server: the operator deploys the datapath for it.
        ExamplesKubeTest.createNamespace(kube, "cluster-lb-mode");
        kube.kubectl("apply", "-f", kube.example("cluster-dsr.yaml").toString()).ok("kubectl apply");
        Await.until("the datapath ConfigMap written for lb-mode", () -> kube.kubectl("get", "configmap", "lbmode-datapath",
                "-n", KubeControlPlane.NAMESPACE, "-o", "jsonpath={.data.forwardMode}").stdout(), "dsr"::equals);
        for (int i = 0; i < NODES.size(); i++) {
            agents.add(startAgent(kube, NODES.get(i), i + 1));
        }
    }

    /**
     * Starts {@code ./lbmode datapath} for {@code node} in a network namespace of its own (a veth to the host reaches
     * the API server) as the chart's datapath ServiceAccount, with a Node object of that name; {@code subnet} picks
     * the addresses 10.251.SUBNET.0/30.
     */
    static Process startAgent(KubeControlPlane kube, String node, int subnet, String... extraArgs) throws IOException {
        Path kubeconfig = kube.datapathKubeconfig("agent-" + node + ".kubeconfig");
        String hostSide = "10.251." + subnet + ".1";
        String nodeAddress = "10.251." + subnet + ".2";
        removeNode(node);
        // The node: a network namespace whose eth0 reaches the API server's address through a veth to the host.
        sh("ip netns add " + node);
        sh("ip link add " + node + " type veth peer name eth0 netns " + node);
        sh("ip addr add " + hostSide + "/30 dev " + node + " && ip link set " + node + " up");
        sh("ip netns exec " + node + " sh -c 'ip addr add " + nodeAddress + "/30 dev eth0 && ip link set eth0 up"
                + " && ip link set lo up && ip route add default via " + hostSide + "'");
        createNode(kube, node, nodeAddress);
        Path log = kube.state.resolve("logs/agent-" + node + ".log");
        // DSR pins in /sys/fs/bpf, which ip netns exec gives the agent fresh and without a bpffs: the agent mounts one
        // that dies with it (a restart would break established DSR connections; these tests restart none).
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", node,
                kube.root.resolve("lbmode").toString(), "datapath", "--node", node,
                "--config-namespace", KubeControlPlane.NAMESPACE, "--health-port", "0", "--allow-ephemeral-bpffs"));
        command.addAll(List.of(extraArgs));
        ProcessBuilder agent = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        agent.environment().put("KUBECONFIG", kubeconfig.toString());
        return agent.start();
    }

    static void createNode(KubeControlPlane kube, String node, String address) {
        kube.kubectlWithInput("""
                apiVersion: v1
                kind: Node
                metadata:
                  name: %s
                  labels: {kubernetes.io/hostname: %s}
                status:
                  addresses:
                  - {type: InternalIP, address: %s}
                  - {type: Hostname, address: %s}
                """.formatted(node, node, address, node), "apply", "-f", "-").ok("create Node " + node);
    }

    @AfterAll
    static void stopAgents() throws InterruptedException {
        for (Process agent : agents) {
            agent.destroy();
            if (!agent.waitFor(30, TimeUnit.SECONDS)) {
                agent.destroyForcibly().waitFor();
            }
        }
        for (String node : NODES) {
            removeNode(node);
            KubeControlPlane.get().kubectl("delete", "node", node, "--ignore-not-found");
        }
    }

    @Test
    void everyAgentReportsItsNodeDataplaneAndTheClusterAggregatesThem() {
        for (String node : NODES) {
            JsonNode ndp = Await.until("NodeDataplane " + node + " reports mode dsr without an error",
                    () -> nodeDataplane(kube, node),
                    n -> "dsr".equals(n.at("/status/mode").asText()) && n.at("/status/lastError").asText("").isEmpty());
            assertThat(ndp.at("/status/lastSyncTime").asText()).isNotEmpty();
        }
        JsonNode cluster = Await.until("Cluster lb-mode DatapathReady with both nodes programmed",
                () -> KubeState.cluster(kube, "cluster-lb-mode", "lb-mode"),
                c -> "True".equals(KubeState.condition(c, "DatapathReady")) && c.at("/status/nodes/programmed").asInt() == 2);
        assertThat(cluster.at("/status/nodes/total").asInt()).isEqualTo(2);

        List<String> rows = kube.kubectl("get", "ndp").ok("kubectl get ndp").stdout().lines().toList();
        assertThat(rows.getFirst()).contains("MODE");
        assertThat(rows).anyMatch(r -> r.startsWith("lbkube-n1 ") && r.contains("dsr"));
    }

    /**
     * A node whose sync fails reports lastError; once a sync succeeds again, lastError is gone from the object the
     * real API server stores (the agent's merge patch names it with null), and DatapathReady turns True again.
     */
    @Test
    void lastErrorIsClearedWhenTheNextSyncSucceeds() {
        everyAgentReportsItsNodeDataplaneAndTheClusterAggregatesThem();
        String node = NODES.getFirst();
        JsonNode stored = nodeDataplane(kube, node);
        kube.kubectl("delete", "node", node).ok("delete Node " + node);
        Await.until("NodeDataplane " + node + " reports lastError", () -> nodeDataplane(kube, node),
                n -> n != null && n.at("/status/lastError").asText("").contains("no Node object"));
        Await.until("Cluster lb-mode DatapathReady False", () -> KubeState.cluster(kube, "cluster-lb-mode", "lb-mode"),
                c -> "False".equals(KubeState.condition(c, "DatapathReady")));

        createNode(kube, node, "10.251.1.2");
        JsonNode cleared = Await.until("NodeDataplane " + node + " without lastError", () -> nodeDataplane(kube, node),
                n -> n != null && n.path("status").isObject() && !n.path("status").has("lastError"));
        assertThat(cleared.at("/status/mode").asText()).isEqualTo("dsr");
        assertThat(cleared.at("/status/rulesetHash").asText()).isEqualTo(stored.at("/status/rulesetHash").asText());
        Await.until("Cluster lb-mode DatapathReady True again", () -> KubeState.cluster(kube, "cluster-lb-mode", "lb-mode"),
                c -> "True".equals(KubeState.condition(c, "DatapathReady")));
    }

    /**
     * Each NodeDataplane is owned by its Node: with the node's agent stopped (nothing writes it again), deleting the
     * Node lets the real garbage collector (kube-controller-manager) delete the NodeDataplane.
     */
    @Test
    void theGarbageCollectorDeletesANodeDataplaneWithItsNode() throws Exception {
        String node = "lbkube-n4";
        Process agent = startAgent(kube, node, 4);
        try {
            JsonNode ndp = Await.until("NodeDataplane " + node + " owned by its Node", () -> nodeDataplane(kube, node),
                    n -> n != null && n.at("/metadata/ownerReferences/0/kind").asText().equals("Node"));
            String uid = kube.kubectl("get", "node", node, "-o", "jsonpath={.metadata.uid}").ok("get Node uid").stdout().strip();
            assertThat(ndp.at("/metadata/ownerReferences/0/uid").asText()).isEqualTo(uid);
            assertThat(ndp.at("/metadata/ownerReferences/0/name").asText()).isEqualTo(node);
            agent.destroy();
            assertThat(agent.waitFor(30, TimeUnit.SECONDS)).as("agent stopped").isTrue();
            kube.kubectl("delete", "node", node).ok("delete Node " + node);
            Await.until("NodeDataplane " + node + " deleted by the garbage collector", () -> nodeDataplane(kube, node) == null);
            // the other tests count this Cluster's nodes
            Await.until("Cluster lb-mode counting its two nodes again", () -> KubeState.cluster(kube, "cluster-lb-mode", "lb-mode"),
                    c -> c.at("/status/nodes/total").asInt() == NODES.size());
        } finally {
            if (agent.isAlive()) {
                agent.destroyForcibly().waitFor();
            }
            // its kernel state lives in its network namespace: gone with it
            removeNode(node);
            kube.kubectl("delete", "node", node, "--ignore-not-found");
            kube.kubectl("delete", "nodedataplanes.lbmode.io", node, "--ignore-not-found");
        }
    }

    @Test
    void theAgentsLoggedNoForbiddenAnswer() {
        everyAgentReportsItsNodeDataplaneAndTheClusterAggregatesThem();
        for (String node : NODES) {
            try {
                String log = Files.readString(kube.state.resolve("logs/agent-" + node + ".log"));
                assertThat(log).as("agent log of " + node).doesNotContainIgnoringCase("forbidden");
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }
    }

    static JsonNode nodeDataplane(KubeControlPlane kube, String node) {
        KubeControlPlane.Result get = kube.kubectl("get", "nodedataplanes.lbmode.io", node, "-o", "json");
        return get.exitCode() == 0 ? KubeState.readJson(get.stdout()) : null;
    }

    static void removeNode(String node) {
        sh("ip netns del " + node + " 2>/dev/null; ip link del " + node + " 2>/dev/null; true");
    }

    /** Runs a shell command as root and returns its output (stdout and stderr); the exit code is not checked. */
    static String run(String command) {
        try {
            Process process = new ProcessBuilder("sh", "-c", command).redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes());
            process.waitFor();
            return out;
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static void sh(String command) {
        try {
            Process process = new ProcessBuilder("sh", "-c", command).redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes());
            assertThat(process.waitFor()).as("%s: %s", command, out).isZero();
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
