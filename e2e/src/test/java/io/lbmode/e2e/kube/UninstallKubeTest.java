package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.lbmode.testsupport.Await;
import java.util.ArrayList;
import java.util.List;
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
 * what the operator created (the datapath DaemonSet and ConfigMap) and its leader Lease.
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

    @Test
    @Order(3)
    void helmUninstallLeavesNoLbmodeObject() {
        // What the operator created exists before the uninstall (else "nothing left" would prove nothing).
        assertThat(lbmodeObjects()).anyMatch(o -> o.startsWith("daemonset.apps/")).anyMatch(o -> o.startsWith("configmap/"));
        kube.helm("uninstall", KubeControlPlane.RELEASE, "-n", NS, "--wait").ok("helm uninstall");
        List<String> left = Await.until("no lbmode object left after helm uninstall", this::lbmodeObjects, List::isEmpty);
        assertThat(left).isEmpty();
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
        String clusterWide = kube.kubectl("get", "clusterroles,clusterrolebindings,validatingwebhookconfigurations",
                "-o", "name").ok("get").stdout();
        clusterWide.lines().filter(o -> o.contains("lbmode")).forEach(objects::add);
        return objects;
    }
}
