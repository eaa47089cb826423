package io.lbmode.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhook;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.lbmode.testsupport.Await;
import io.lbmode.testsupport.TrustingTls;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged operator ({@code operator/target/quarkus-app/quarkus-run.jar}) started with exactly the environment
 * the chart's Deployment gives it and the certificate the chart generates, against a mock API server holding the
 * chart's CRDs: its probes answer on the chart's paths, its webhook answers over HTTPS to a client that trusts only
 * the chart's caBundle and checks the Service name, and the DaemonSet it creates carries the chart's datapath
 * settings. What can't be taken as is: ports (free ones instead of 8080/8443, which other processes may hold here)
 * and the certificate directory (a temporary one instead of the Secret volume).
 */
@Tag("apiserver")
class ChartOperatorProcessTest {

    private static final Duration STARTUP = Duration.ofSeconds(90);
    private static final ObjectMapper JSON = new ObjectMapper();

    private MockApiServer api;
    private Process operator;
    private Path log;

    @BeforeEach
    void start() {
        api = new MockApiServer();
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (operator != null && operator.isAlive()) {
            operator.destroy();
            if (!operator.waitFor(15, TimeUnit.SECONDS)) {
                operator.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
        api.close();
    }

    @Test
    void theOperatorRunsWithTheChartsSettingsServesTheWebhookAndDeploysTheDatapathAsConfigured(@TempDir Path work)
            throws Exception {
        Path runJar = HelmChart.root().resolve("operator/target/quarkus-app/quarkus-run.jar");
        assertThat(runJar).as("the packaged operator: ./mvnw -B package -pl operator -am -DskipTests").exists();
        HelmChart.Rendered rendered = HelmChart.template(ChartRenderTest.ALL_OPTIONS);
        Deployment deployment = rendered.only(Deployment.class);
        Container container = deployment.getSpec().getTemplate().getSpec().getContainers().getFirst();
        ValidatingWebhook webhook = rendered.only(ValidatingWebhookConfiguration.class).getWebhooks().getFirst();
        Secret secret = rendered.only(Secret.class);

        // The chart's CRDs in the API server, as `helm install` puts them there.
        KubernetesSerialization serialization = new KubernetesSerialization();
        try (var crds = Files.list(HelmChart.chartDir().resolve("crds"))) {
            for (Path crd : crds.toList()) {
                api.client().resource(serialization.unmarshal(Files.readString(crd), CustomResourceDefinition.class))
                        .create();
            }
        }
        // The Secret volume: tls.crt, tls.key (and ca.crt) as the kubelet writes them.
        Path certDir = Files.createDirectories(work.resolve("webhook-tls"));
        for (var entry : secret.getData().entrySet()) {
            Files.write(certDir.resolve(entry.getKey()), Base64.getDecoder().decode(entry.getValue()));
        }
        Path kubeconfig = work.resolve("kubeconfig");
        Files.writeString(kubeconfig, api.kubeconfig(HelmChart.NAMESPACE));

        int httpPort = freePort();
        int httpsPort = freePort();
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", runJar.toString());
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        log = work.resolve("operator.log");
        builder.redirectOutput(log.toFile());
        Map<String, String> env = builder.environment();
        env.keySet().removeIf(k -> k.startsWith("LBMODE_") || k.startsWith("QUARKUS_"));
        for (EnvVar var : container.getEnv()) {
            if (var.getValue() != null) {
                env.put(var.getName(), var.getValue());
            }
        }
        env.put("POD_NAMESPACE", HelmChart.NAMESPACE); // downward API
        env.put("POD_NAME", "lbm-edge-operator-test");
        env.put("HOSTNAME", "lbm-edge-operator-test");
        env.put("KUBECONFIG", kubeconfig.toString());
        env.put("LBMODE_WEBHOOK_CERT_DIR", certDir.toString());
        env.put("QUARKUS_HTTP_PORT", Integer.toString(httpPort));
        env.put("QUARKUS_HTTP_SSL_PORT", Integer.toString(httpsPort));
        operator = builder.start();

        // Probes, on the paths the Deployment declares.
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        for (String path : List.of(container.getReadinessProbe().getHttpGet().getPath(),
                container.getLivenessProbe().getHttpGet().getPath(), container.getStartupProbe().getHttpGet().getPath())) {
            await("operator " + path + " answers 200", STARTUP, () -> status(http, httpPort, path), code -> code == 200);
        }

        // The webhook, as the API server calls it: HTTPS to <service>.<namespace>.svc, trusting only caBundle.
        JsonNode dsr = JSON.valueToTree(new YAMLMapper().readTree(
                Files.readString(HelmChart.root().resolve("examples/cluster-dsr.yaml"))));
        ObjectNode snat = dsr.deepCopy();
        ((ObjectNode) snat.at("/spec/clusterNetwork")).put("forwardMode", "snat");
        String serviceName = webhook.getClientConfig().getService().getName() + "." + HelmChart.NAMESPACE + ".svc";
        String uid = UUID.randomUUID().toString();
        JsonNode review = JSON.readTree(post(caBundle(webhook), serviceName, httpsPort,
                webhook.getClientConfig().getService().getPath(), review(uid, "UPDATE", snat, dsr)));
        assertThat(review.at("/response/uid").asText()).isEqualTo(uid);
        assertThat(review.at("/response/allowed").asBoolean()).isFalse();
        assertThat(review.at("/response/status/message").asText()).contains("spec.clusterNetwork.forwardMode");
        JsonNode allowed = JSON.readTree(post(caBundle(webhook), serviceName, httpsPort,
                webhook.getClientConfig().getService().getPath(), review(uid, "CREATE", dsr, null)));
        assertThat(allowed.at("/response/allowed").asBoolean()).isTrue();

        // A self-managed Cluster: the operator deploys the datapath with the chart's datapath settings.
        api.client().namespaces().resource(new io.fabric8.kubernetes.api.model.NamespaceBuilder().withNewMetadata()
                .withName("cluster-lb-mode").endMetadata().build()).create();
        api.client().resource(serialization.unmarshal(dsr.toString(), GenericKubernetesResource.class)).create();
        DaemonSet daemonSet = await("the datapath DaemonSet (operator log: " + log + ")", STARTUP,
                () -> api.client().apps().daemonSets().inNamespace(HelmChart.NAMESPACE).withName("lbmode-datapath").get(),
                ds -> ds != null);
        var pod = daemonSet.getSpec().getTemplate().getSpec();
        Container agent = pod.getContainers().getFirst();
        assertThat(agent.getImage()).isEqualTo("registry.example.com/lbmode/datapath:0.2.0-rc1");
        assertThat(agent.getImagePullPolicy()).isEqualTo("Never");
        assertThat(pod.getServiceAccountName()).as("the agent ServiceAccount the chart creates")
                .isEqualTo(rendered.all(ServiceAccount.class).stream().map(sa -> sa.getMetadata().getName())
                        .filter(n -> n.endsWith("-datapath")).findFirst().orElseThrow());
        assertThat(pod.getPriorityClassName()).isEqualTo("lbmode-datapath");
        assertThat(pod.getTolerations()).extracting("key").containsExactly("dedicated",
                "node-role.kubernetes.io/control-plane", "lb-only");
        assertThat(agent.getArgs()).contains("--interface=bond0.100", "--health-port=19102", "--health-address=127.0.0.1");
        assertThat(agent.getLivenessProbe().getHttpGet().getHost()).as("probed where it listens").isEqualTo("127.0.0.1");
        assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        assertThat(agent.getSecurityContext().getCapabilities().getAdd()).contains("PERFMON", "SYS_RESOURCE");
        assertThat(agent.getResources().getLimits().get("cpu").toString()).isEqualTo("1500m");
        assertThat(agent.getResources().getRequests().get("memory").toString()).isEqualTo("200Mi");
        var lease = api.client().leases().inNamespace(HelmChart.NAMESPACE).withName("lbm-edge-operator-leader").get();
        assertThat(lease).as("the Lease named by the chart").isNotNull();
        assertThat(lease.getSpec().getHolderIdentity()).isEqualTo("lbm-edge-operator-test");

        operator.destroy(); // SIGTERM, as the kubelet stops the pod
        assertThat(operator.waitFor(20, TimeUnit.SECONDS)).as("operator exits on SIGTERM; log " + log).isTrue();
    }

    private static String review(String uid, String operation, JsonNode object, JsonNode oldObject) {
        ObjectNode root = JSON.createObjectNode().put("apiVersion", "admission.k8s.io/v1").put("kind", "AdmissionReview");
        ObjectNode request = root.putObject("request").put("uid", uid).put("operation", operation)
                .put("name", object.at("/metadata/name").asText())
                .put("namespace", object.at("/metadata/namespace").asText()).put("dryRun", false);
        request.putObject("kind").put("group", "baremetal.cluster.gke.io").put("version", "v1").put("kind", "Cluster");
        request.putObject("resource").put("group", "baremetal.cluster.gke.io").put("version", "v1")
                .put("resource", "clusters");
        request.putObject("userInfo").put("username", "kubernetes-admin");
        request.set("object", object);
        if (oldObject != null) {
            request.set("oldObject", oldObject);
        }
        return root.toString();
    }

    private static X509Certificate caBundle(ValidatingWebhook webhook) throws Exception {
        return Pem.certificates(new String(Base64.getDecoder().decode(webhook.getClientConfig().getCaBundle()),
                StandardCharsets.US_ASCII)).getFirst();
    }

    /** POSTs over TLS to loopback while verifying the certificate for {@code serverName}, like the API server. */
    private static String post(X509Certificate ca, String serverName, int port, String path, String body)
            throws Exception {
        SSLContext context = TrustingTls.trusting(ca);
        try (Socket plain = new Socket(InetAddress.getLoopbackAddress(), port);
             SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(plain, serverName, port, true)) {
            socket.setSoTimeout(15_000);
            SSLParameters parameters = socket.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            socket.setSSLParameters(parameters);
            byte[] payload = body.getBytes(StandardCharsets.UTF_8);
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + path + "?timeout=5s HTTP/1.1\r\nHost: " + serverName + ":" + port
                    + "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: "
                    + payload.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(payload);
            out.flush();
            return httpBody(socket.getInputStream());
        }
    }

    /** The body of an HTTP/1.1 response read to its end (Connection: close), chunked or not. */
    private static String httpBody(InputStream in) throws IOException {
        String response = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        int split = response.indexOf("\r\n\r\n");
        String headers = response.substring(0, split).toLowerCase(java.util.Locale.ROOT);
        assertThat(headers).as("HTTP status line").startsWith("http/1.1 200");
        String body = response.substring(split + 4);
        if (!headers.contains("transfer-encoding: chunked")) {
            return body;
        }
        ByteArrayOutputStream decoded = new ByteArrayOutputStream();
        int at = 0;
        while (true) {
            int eol = body.indexOf("\r\n", at);
            int size = Integer.parseInt(body.substring(at, eol).trim(), 16);
            if (size == 0) {
                return decoded.toString(StandardCharsets.UTF_8);
            }
            decoded.writeBytes(body.substring(eol + 2, eol + 2 + size).getBytes(StandardCharsets.UTF_8));
            at = eol + 2 + size + 2;
        }
    }

    private static int status(HttpClient http, int port, String path) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                    .timeout(Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** {@link Await#until}, ending early when the operator process exits; a failure carries the operator's log. */
    private <T> T await(String what, Duration timeout, Supplier<T> read, Predicate<T> done) throws IOException {
        try {
            return Await.until(what, timeout, Duration.ofMillis(250), () -> {
                T value = read.get();
                if (!operator.isAlive() && (value == null || !done.test(value))) {
                    throw new AssertionError("the operator exited; last: " + value);
                }
                return value;
            }, done);
        } catch (AssertionError e) {
            String tail = Files.exists(log) ? Files.readString(log) : "";
            throw new AssertionError("waiting for " + what + " (" + e.getMessage() + ", operator alive: "
                    + operator.isAlive() + "); operator log:\n" + tail.substring(Math.max(0, tail.length() - 4000)), e);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }
}
