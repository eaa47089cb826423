package io.lbmode.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhook;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.lbmode.testsupport.TrustingTls;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The rendered ValidatingWebhookConfiguration reaches the rendered Service and trusts the rendered certificate:
 * the API server would call {@code https://<svc>.<ns>.svc:443/validate-cluster} and verify the serving certificate
 * against caBundle, so that is what is checked here, with java.security.
 */
@Tag("apiserver")
class ChartWebhookTest {

    private MockApiServer api;

    @BeforeEach
    void startApiServer() {
        api = new MockApiServer();
    }

    @AfterEach
    void stopApiServer() {
        api.close();
    }

    @Test
    void webhookPointsAtTheRenderedServiceAndPort() {
        HelmChart.Rendered rendered = HelmChart.template(Map.of());
        ValidatingWebhook webhook = rendered.only(ValidatingWebhookConfiguration.class).getWebhooks().getFirst();
        var target = webhook.getClientConfig().getService();
        Service service = rendered.one(Service.class, target.getName());
        Deployment deployment = rendered.only(Deployment.class);

        assertThat(target.getNamespace()).isEqualTo(service.getMetadata().getNamespace()).isEqualTo(HelmChart.NAMESPACE);
        assertThat(target.getPath()).isEqualTo("/validate-cluster");
        ServicePort port = service.getSpec().getPorts().stream().filter(p -> p.getPort().equals(target.getPort()))
                .findFirst().orElseThrow(() -> new AssertionError("the Service has no port " + target.getPort()));
        // The Service's selector picks the operator pods, and its targetPort names their HTTPS container port.
        assertThat(deployment.getSpec().getTemplate().getMetadata().getLabels())
                .containsAllEntriesOf(service.getSpec().getSelector());
        Container operator = deployment.getSpec().getTemplate().getSpec().getContainers().getFirst();
        ContainerPort https = operator.getPorts().stream()
                .filter(p -> p.getName().equals(port.getTargetPort().getStrVal())).findFirst()
                .orElseThrow(() -> new AssertionError("no container port named " + port.getTargetPort()));
        assertThat(https.getContainerPort()).isEqualTo(8443);
        assertThat(ChartRenderTest.env(operator)).containsEntry("QUARKUS_HTTP_SSL_PORT", "8443");

        assertThat(webhook.getFailurePolicy()).isEqualTo("Fail");
        assertThat(webhook.getSideEffects()).isEqualTo("None");
        assertThat(webhook.getAdmissionReviewVersions()).containsExactly("v1");
        assertThat(webhook.getTimeoutSeconds()).isEqualTo(5);
        assertThat(webhook.getRules()).singleElement().satisfies(rule -> {
            assertThat(rule.getApiGroups()).containsExactly("baremetal.cluster.gke.io");
            assertThat(rule.getResources()).containsExactly("clusters");
            assertThat(rule.getOperations()).containsExactlyInAnyOrder("CREATE", "UPDATE");
        });
        // Can't lock out kube-system or lbmode's own namespace.
        assertThat(webhook.getNamespaceSelector().getMatchExpressions()).singleElement().satisfies(e -> {
            assertThat(e.getKey()).isEqualTo("kubernetes.io/metadata.name");
            assertThat(e.getOperator()).isEqualTo("NotIn");
            assertThat(e.getValues()).contains("kube-system", HelmChart.NAMESPACE);
        });
    }

    @Test
    void caBundleVerifiesTheServingCertificateWhichMatchesItsKey() throws Exception {
        HelmChart.Rendered rendered = HelmChart.template(Map.of());
        ValidatingWebhook webhook = rendered.only(ValidatingWebhookConfiguration.class).getWebhooks().getFirst();
        Deployment deployment = rendered.only(Deployment.class);
        String secretName = deployment.getSpec().getTemplate().getSpec().getVolumes().stream()
                .filter(v -> v.getSecret() != null).findFirst().orElseThrow().getSecret().getSecretName();
        Secret secret = rendered.one(Secret.class, secretName);
        assertThat(secret.getType()).isEqualTo("kubernetes.io/tls");

        X509Certificate ca = Pem.certificates(decode(webhook.getClientConfig().getCaBundle())).getFirst();
        X509Certificate serving = Pem.certificates(decode(secret.getData().get("tls.crt"))).getFirst();
        PrivateKey key = Pem.privateKey(decode(secret.getData().get("tls.key")));

        serving.verify(ca.getPublicKey());
        assertThat(ca.getBasicConstraints()).as("the CA is a CA").isGreaterThanOrEqualTo(0);
        assertThat(serving.getIssuerX500Principal()).isEqualTo(ca.getSubjectX500Principal());
        serving.checkValidity(new Date());
        ca.checkValidity(new Date());
        String svc = webhook.getClientConfig().getService().getName() + "." + HelmChart.NAMESPACE + ".svc";
        List<String> sans = serving.getSubjectAlternativeNames().stream()
                .filter(san -> (Integer) san.get(0) == 2).map(san -> (String) san.get(1)).toList();
        assertThat(sans).contains(svc, svc + ".cluster.local");
        assertThat(serving.getExtendedKeyUsage()).contains("1.3.6.1.5.5.7.3.1"); // serverAuth

        // tls.key is the private half of tls.crt: a signature made with it verifies with the certificate.
        Signature signer = Signature.getInstance("SHA256withRSA");
        signer.initSign(key);
        byte[] message = "AdmissionReview".getBytes(StandardCharsets.UTF_8);
        signer.update(message);
        byte[] signature = signer.sign();
        Signature verifier = Signature.getInstance("SHA256withRSA");
        verifier.initVerify(serving.getPublicKey());
        verifier.update(message);
        assertThat(verifier.verify(signature)).isTrue();

        // Generated once per render: the Secret's ca.crt is the caBundle.
        assertThat(secret.getData().get("ca.crt")).isEqualTo(webhook.getClientConfig().getCaBundle());
    }

    /**
     * The handshake the API server makes: a TLS client that trusts only caBundle and checks the name
     * {@code <svc>.<ns>.svc}, against a server holding the rendered tls.crt and tls.key (over loopback).
     */
    @Test
    void aClientTrustingOnlyTheCaBundleHandshakesWithTheRenderedKeyPairForTheServiceName() throws Exception {
        HelmChart.Rendered rendered = HelmChart.template(Map.of());
        ValidatingWebhook webhook = rendered.only(ValidatingWebhookConfiguration.class).getWebhooks().getFirst();
        Secret secret = rendered.only(Secret.class);
        X509Certificate serving = Pem.certificates(decode(secret.getData().get("tls.crt"))).getFirst();
        X509Certificate ca = Pem.certificates(decode(webhook.getClientConfig().getCaBundle())).getFirst();
        PrivateKey key = Pem.privateKey(decode(secret.getData().get("tls.key")));
        String serviceName = webhook.getClientConfig().getService().getName() + "." + HelmChart.NAMESPACE + ".svc";

        KeyStore serverStore = KeyStore.getInstance("PKCS12");
        serverStore.load(null, null);
        serverStore.setKeyEntry("webhook", key, new char[0], new java.security.cert.Certificate[] {serving});
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(serverStore, new char[0]);
        SSLContext serverContext = SSLContext.getInstance("TLS");
        serverContext.init(keys.getKeyManagers(), null, null);

        SSLContext clientContext = TrustingTls.trusting(ca);

        try (SSLServerSocket server = (SSLServerSocket) serverContext.getServerSocketFactory()
                .createServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            // Serves both connections below; every socket has a timeout so a failed handshake can't hang the test.
            server.setSoTimeout(10_000);
            var accepted = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                int served = 0;
                for (int i = 0; i < 2; i++) {
                    try (SSLSocket socket = (SSLSocket) server.accept()) {
                        socket.setSoTimeout(10_000);
                        socket.getOutputStream().write("ok".getBytes(StandardCharsets.US_ASCII));
                        socket.getOutputStream().flush();
                        served++;
                    } catch (java.io.IOException e) {
                        // The second client rejects the certificate's name: the handshake fails on this side too.
                    }
                }
                return served;
            });
            try (Socket plain = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
                 SSLSocket client = (SSLSocket) clientContext.getSocketFactory()
                         .createSocket(plain, serviceName, server.getLocalPort(), true)) {
                client.setSoTimeout(10_000);
                SSLParameters parameters = client.getSSLParameters();
                parameters.setEndpointIdentificationAlgorithm("HTTPS"); // hostname check against serviceName
                client.setSSLParameters(parameters);
                client.startHandshake();
                assertThat(new String(client.getInputStream().readNBytes(2), StandardCharsets.US_ASCII)).isEqualTo("ok");
                assertThat(((X509Certificate) client.getSession().getPeerCertificates()[0]).getSubjectX500Principal())
                        .isEqualTo(serving.getSubjectX500Principal());
            }
            // The same client refuses another name: the certificate is not a wildcard.
            try (Socket plain = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
                 SSLSocket client = (SSLSocket) clientContext.getSocketFactory()
                         .createSocket(plain, "other.lbmode-system.svc", server.getLocalPort(), true)) {
                client.setSoTimeout(10_000);
                SSLParameters parameters = client.getSSLParameters();
                parameters.setEndpointIdentificationAlgorithm("HTTPS");
                client.setSSLParameters(parameters);
                org.assertj.core.api.Assertions.assertThatThrownBy(client::startHandshake)
                        .isInstanceOf(javax.net.ssl.SSLHandshakeException.class)
                        .hasMessageContaining("No subject alternative DNS name matching other.lbmode-system.svc");
            }
            assertThat(accepted.get(20, java.util.concurrent.TimeUnit.SECONDS)).as("connections served").isEqualTo(1);
        }
    }

    @Test
    void anUpgradeReusesTheCertificateInTheClusterAndAFreshInstallGeneratesANewOne() {
        HelmChart.Rendered first = HelmChart.template(Map.of());
        Secret installed = first.only(Secret.class);
        String firstCa = first.only(ValidatingWebhookConfiguration.class).getWebhooks().getFirst()
                .getClientConfig().getCaBundle();

        HelmChart.Rendered fresh = HelmChart.template(Map.of());
        assertThat(fresh.only(Secret.class).getData().get("tls.crt")).as("nothing in the cluster: new certificate")
                .isNotEqualTo(installed.getData().get("tls.crt"));

        // As after "helm install": the Secret exists in the cluster, so "helm upgrade" must keep it (lookup).
        api.client().resource(installed).create();
        HelmChart.Rendered upgrade = HelmChart.template(Map.of("operator.logLevel", "DEBUG"));
        assertThat(upgrade.only(Secret.class).getData()).isEqualTo(installed.getData());
        assertThat(upgrade.only(ValidatingWebhookConfiguration.class).getWebhooks().getFirst().getClientConfig()
                .getCaBundle()).isEqualTo(firstCa);
        // Same certificate, same checksum: the upgrade does not restart the operator pods for TLS.
        assertThat(podAnnotation(upgrade)).isEqualTo(podAnnotation(first));
        // Quoted in the manifest: a checksum such as 1234e5678901234 or 16 digits is a number in YAML, and the API
        // server refuses a Deployment whose annotation is not a string (about one install in 700 failed so).
        assertThat(upgrade.yaml()).containsPattern("checksum/webhook-tls: \"[0-9a-f]{16}\"");
    }

    private static String podAnnotation(HelmChart.Rendered rendered) {
        return rendered.only(Deployment.class).getSpec().getTemplate().getMetadata().getAnnotations()
                .get("checksum/webhook-tls");
    }

    private static String decode(String base64) {
        return new String(Base64.getDecoder().decode(base64), StandardCharsets.US_ASCII);
    }
}
