package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code ./lbmode kube up} ran {@code helm install lbmode helm/lbmode -n lbmode-system --create-namespace} with the
 * real helm against the real API server: the release is deployed, the API server accepted both CRDs (schemas and
 * CEL rules within its cost budget: Established), and the webhook is registered as the chart renders it.
 */
@Tag("kube")
@Order(1)
@ExtendWith(KubeControlPlane.Extension.class)
class ChartInstallKubeTest {
    final KubeControlPlane kube = KubeControlPlane.get();

    @Test
    void theReleaseIsDeployed() {
        KubeControlPlane.Result status = kube.helm("status", KubeControlPlane.RELEASE, "-n", KubeControlPlane.NAMESPACE)
                .ok("helm status");
        assertThat(status.stdout()).contains("STATUS: deployed");
    }

    @Test
    void kubeUpAgainChangesNothingAndPrintsOnlyTheExports() throws Exception {
        String before = kube.kubectl("get", "deployment,secret,validatingwebhookconfigurations", "-A",
                "-l", "app.kubernetes.io/instance=" + KubeControlPlane.RELEASE, "-o", "jsonpath={..uid}").ok("get").stdout();
        KubeControlPlane.Result again = kube.lbmode("kube", "up").ok("./lbmode kube up, a second time");
        assertThat(again.stdout().lines().toList()).containsExactly(
                "export KUBECONFIG=" + kube.kubeconfig, "export PATH=" + kube.bin + ":$PATH");
        assertThat(kube.helm("history", KubeControlPlane.RELEASE, "-n", KubeControlPlane.NAMESPACE).ok("helm history")
                .stdout().lines().count()).as("one release revision: not installed twice").isEqualTo(2);
        assertThat(kube.kubectl("get", "deployment,secret,validatingwebhookconfigurations", "-A",
                "-l", "app.kubernetes.io/instance=" + KubeControlPlane.RELEASE, "-o", "jsonpath={..uid}").stdout())
                .isEqualTo(before);
    }

    @Test
    void theApiServerAcceptedBothCrds() {
        for (String crd : new String[]{"clusters.baremetal.cluster.gke.io", "nodedataplanes.lbmode.io"}) {
            kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/" + crd).ok("CRD " + crd + " Established");
            JsonNode object = KubeState.readJson(kube.kubectl("get", "crd", crd, "-o", "json").ok("get crd").stdout());
            assertThat(KubeState.condition(object, "NamesAccepted")).as(crd + " NamesAccepted").isEqualTo("True");
        }
    }

    @Test
    void theWebhookIsRegisteredThroughTheChartsServiceWithItsCaBundle() {
        JsonNode webhooks = KubeState.readJson(kube.kubectl("get", "validatingwebhookconfigurations",
                "-l", "app.kubernetes.io/instance=" + KubeControlPlane.RELEASE, "-o", "json").ok("get webhooks").stdout());
        JsonNode webhook = webhooks.at("/items/0/webhooks/0");
        assertThat(webhook.path("name").asText()).isEqualTo("clusters.validate.lbmode.io");
        assertThat(webhook.at("/clientConfig/url").isMissingNode()).as("no test-only url: the chart's Service").isTrue();
        assertThat(webhook.at("/clientConfig/service/namespace").asText()).isEqualTo(KubeControlPlane.NAMESPACE);
        assertThat(webhook.at("/clientConfig/caBundle").asText()).isNotEmpty();
        assertThat(webhook.path("failurePolicy").asText()).isEqualTo("Fail");
    }
}
