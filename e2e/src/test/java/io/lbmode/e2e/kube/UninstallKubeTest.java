package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.lbmode.testsupport.Await;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The end of the kube tier: across everything the other classes did, the API server's RBAC authorizer never
 * refused the operator (it runs as the chart's ServiceAccount); {@code helm upgrade} with changed values reaches
 * the objects and the webhook keeps answering; {@code helm uninstall} leaves no lbmode object behind, including
 * what the operator created (the datapath DaemonSet and ConfigMap) and its leader Lease, and an agent stopped after
 * it removes its kernel state from its node.
 */
@Tag("kube")
@Order(100)
@ExtendWith(KubeControlPlane.Extension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class UninstallKubeTest {
    static final String NS = KubeControlPlane.NAMESPACE;

    final KubeControlPlane kube = KubeControlPlane.get();

    @Test
    @Order(1)
    void theAuthorizerNeverRefusedTheOperator() {
        assertThat(kube.operatorLog()).as("operator log").isNotEmpty().doesNotContainIgnoringCase("forbidden");
    }

    @Test
    @Order(2)
    void helmUpgradeWithChangedValuesReachesTheObjects() {
        kube.helm("upgrade", KubeControlPlane.RELEASE, kube.root.resolve("helm/lbmode").toString(), "-n", NS,
                "--set", "webhook.timeoutSeconds=7", "--set", "operator.logLevel=DEBUG").ok("helm upgrade");
        JsonNode webhooks = KubeState.readJson(kube.kubectl("get", "validatingwebhookconfigurations",
                "-l", "app.kubernetes.io/instance=" + KubeControlPlane.RELEASE, "-o", "json").ok("get webhooks").stdout());
        assertThat(webhooks.at("/items/0/webhooks/0/timeoutSeconds").asInt()).isEqualTo(7);
        String env = kube.kubectl("get", "deployment", "-n", NS, "-l", "app.kubernetes.io/component=operator",
                "-o", "jsonpath={.items[0].spec.template.spec.containers[0].env}").ok("get deployment").stdout();
        assertThat(env).contains("\"value\":\"DEBUG\"");
        assertThat(kube.helm("history", KubeControlPlane.RELEASE, "-n", NS).ok("helm history").stdout()).contains("Upgrade complete");

        // The certificate the chart generated survives the upgrade: the webhook still answers through the API server.
        ExamplesKubeTest.createNamespace(kube, "cluster-lb-mode");
        kube.kubectl("apply", "-f", kube.example("cluster-dsr.yaml").toString()).ok("kubectl apply");
        KubeControlPlane.Result refused = kube.kubectl("patch", KubeState.CLUSTERS, "lb-mode", "-n", "cluster-lb-mode",
                "--type=merge", "-p", "{\"metadata\":{\"labels\":{\"after\":\"upgrade\"}}}");
        refused.ok("a label edit after the upgrade");
    }

    /**
     * {@code helm uninstall} with an agent running on a node (a network namespace, as in AgentsKubeTest): no lbmode
     * object is left, and the agent, stopped as the kubelet stops the Pods of the DaemonSet the garbage collector
     * deleted (SIGTERM; there is no kubelet here, so the test sends it), removes its tc programs from the node's eth0
     * (its pinned maps live in the bpffs it mounts for itself with --allow-ephemeral-bpffs in the mount namespace
     * ip netns exec gives it, so they can't be observed from here).
     */
    @Test
    @Order(3)
    void helmUninstallLeavesNoLbmodeObjectAndNoKernelState() throws Exception {
        Process agent = AgentsKubeTest.startAgent(kube, NODE, 3);
        try {
            Await.until("NodeDataplane " + NODE + " programs dsr", Duration.ofSeconds(60),
                    () -> AgentsKubeTest.nodeDataplane(kube, NODE),
                    n -> n != null && "dsr".equals(n.at("/status/mode").asText()) && !n.path("status").has("lastError"));
            assertThat(tcFilters()).as("the DSR programs on the node's eth0 before the uninstall").contains("dsr_ingress");
            // What the operator created exists before the uninstall (else "nothing left" would prove nothing).
            assertThat(lbmodeObjects()).anyMatch(o -> o.startsWith("daemonset.apps/")).anyMatch(o -> o.startsWith("configmap/"));

            kube.helm("uninstall", KubeControlPlane.RELEASE, "-n", NS, "--wait").ok("helm uninstall");
            List<String> left = Await.until("no lbmode object left after helm uninstall", this::lbmodeObjects, List::isEmpty);
            assertThat(left).isEmpty();
            assertThat(tcFilters()).as("a running agent keeps forwarding until it is stopped").contains("dsr_ingress");

            agent.destroy(); // SIGTERM, what the kubelet sends to the Pods of the deleted DaemonSet
            assertThat(agent.waitFor(60, TimeUnit.SECONDS)).as("the agent exits after SIGTERM").isTrue();
            assertThat(Files.readString(kube.state.resolve("logs/agent-" + NODE + ".log")))
                    .contains("removing this node's lbmode kernel state");
            assertThat(tcFilters()).as("tc filters on eth0 after the agent stopped").doesNotContain("dsr_ingress");
            assertThat(AgentsKubeTest.run("ip netns exec " + NODE + " nft list tables")).doesNotContain("lbmode");
        } finally {
            if (agent.isAlive()) {
                agent.destroyForcibly().waitFor();
            }
            AgentsKubeTest.removeNode(NODE);
            kube.kubectl("delete", "node", NODE, "--ignore-not-found");
        }
    }

    static final String NODE = "lbkube-n3";

    private String tcFilters() {
        return AgentsKubeTest.run("ip netns exec " + NODE + " tc filter show dev eth0 ingress; ip netns exec " + NODE
                + " tc filter show dev eth0 egress");
    }

    /** Every object in lbmode's namespace but what Kubernetes itself keeps there, and lbmode's cluster-wide ones. */
    private List<String> lbmodeObjects() {
        List<String> objects = new ArrayList<>();
        String namespaced = kube.kubectl("get", "deployments,daemonsets,replicasets,pods,services,endpointslices,configmaps,"
                + "secrets,serviceaccounts,roles,rolebindings,leases,poddisruptionbudgets", "-n", NS, "-o", "name").ok("get").stdout();
        for (String object : namespaced.lines().toList()) {
            if (!object.equals("configmap/kube-root-ca.crt") && !object.equals("serviceaccount/default")) {
                objects.add(object);
            }
        }
        String clusterWide = kube.kubectl("get", "clusterroles,clusterrolebindings,validatingwebhookconfigurations,"
                        + "validatingadmissionpolicies,validatingadmissionpolicybindings",
                "-o", "name").ok("get").stdout();
        clusterWide.lines().filter(o -> o.contains("lbmode")).forEach(objects::add);
        return objects;
    }
}
