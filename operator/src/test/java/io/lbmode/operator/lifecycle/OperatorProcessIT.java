package io.lbmode.operator.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.authorization.v1.ResourceRuleBuilder;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.datapathconfig.DatapathConfig;
import io.lbmode.operator.support.Fixtures;
import io.lbmode.operator.support.TestCertificates;
import io.lbmode.operator.support.TestClients;
import io.lbmode.testsupport.ApiCallLog;
import io.lbmode.testsupport.Await;
import io.lbmode.testsupport.MockKubeconfig;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The packaged operator ({@code target/quarkus-app/quarkus-run.jar}, prod profile, leader election on) as a real
 * process against a mock API server: it takes the lease, reconciles a Cluster, and exits promptly on SIGTERM.
 * JOSDK 5.3.2 with its default leader-election settings hangs there (System.exit inside the shutdown hook).
 */
@Tag("apiserver")
class OperatorProcessIT {
    static final String NAMESPACE = "lbmode-system";
    static final Duration PROMPT_EXIT = Duration.ofSeconds(10);

    KubernetesServer server;
    KubernetesClient client;
    Process process;
    Path work;
    Path log;

    @BeforeEach
    void startApiServer() throws IOException {
        server = new KubernetesServer(false, true, InetAddress.getLoopbackAddress(), 0, List.of());
        server.before();
        // JOSDK checks, before electing, that it may use leases; the mock answers as an API server granting them.
        SelfSubjectRulesReview granted = new SelfSubjectRulesReviewBuilder()
                .withNewSpec().withNamespace(NAMESPACE).endSpec()
                .withNewStatus().withIncomplete(false).withResourceRules(new ResourceRuleBuilder()
                        .withApiGroups("coordination.k8s.io").withResources("leases")
                        .withVerbs("get", "create", "update").build()).endStatus().build();
        server.expect().post().withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
                .andReturn(201, granted).always();
        client = TestClients.testClient(server.getClient().getConfiguration());
        TestClients.installCrds(client);
        work = Files.createDirectories(Path.of("target", "operator-process-it").toAbsolutePath());
        log = work.resolve("operator.log");
    }

    @AfterEach
    void stopEverything() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        ApiCallLog.drain(server.getKubernetesMockServer(), getClass(), TestClients.TEST_USER_AGENT);
        client.close();
        server.after();
    }

    @Test
    void leadsReconcilesAndExitsPromptlyOnSigterm() throws Exception {
        Path kubeconfig = work.resolve("kubeconfig");
        Files.writeString(kubeconfig, MockKubeconfig.text(server.getClient().getMasterUrl().toString(), NAMESPACE));
        var ca = TestCertificates.ca();
        Path certDir = work.resolve("webhook-tls");
        TestCertificates.writeSecret(certDir, TestCertificates.server(ca, "lbmode-webhook"));

        String runJar = System.getProperty("lbmode.operator.runJar", "target/quarkus-app/quarkus-run.jar");
        assertThat(Path.of(runJar)).as("packaged operator; run mvn package first").exists();
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dlbmode.webhook.cert-dir=" + certDir,
                "-Dquarkus.http.port=0", "-Dquarkus.http.ssl-port=0",
                "-jar", runJar));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("KUBECONFIG", kubeconfig.toString());
        builder.environment().put("HOSTNAME", "operator-it-0");
        process = builder.start();

        Await.until("the lease taken (log: " + log + ")", Duration.ofSeconds(60), this::logText,
                text -> text.contains("Started leading"));
        Lease lease = client.leases().inNamespace(NAMESPACE).withName("lbmode-operator-lock").get();
        assertThat(lease).isNotNull();
        assertThat(lease.getSpec().getHolderIdentity()).isEqualTo("operator-it-0");

        client.resource(Fixtures.cluster(Fixtures.valid("cluster-lb-mode", "lb-mode", "standalone", "dsr"))).create();
        Await.until("the datapath ConfigMap from the packaged operator", Duration.ofSeconds(30),
                () -> client.configMaps().inNamespace(NAMESPACE).withName(DatapathConfig.CONFIG_MAP_NAME).get(),
                c -> c != null && "dsr".equals(c.getData().get("forwardMode")));
        Await.until("the Cluster status", Duration.ofSeconds(30),
                () -> client.resources(Cluster.class).inNamespace("cluster-lb-mode").withName("lb-mode").get(),
                c -> c.getStatus() != null && "dsr".equals(c.getStatus().effectiveForwardMode));

        long start = System.nanoTime();
        process.destroy(); // SIGTERM
        boolean exited = process.waitFor(PROMPT_EXIT.toSeconds(), TimeUnit.SECONDS);
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(exited).as("operator still running " + PROMPT_EXIT + " after SIGTERM; log:\n" + logText()).isTrue();
        System.out.println("operator exited " + millis + " ms after SIGTERM with code " + process.exitValue());
        assertThat(logText()).contains("Stopped leading because the operator is shutting down");
    }

    @Test
    void missingWebhookCertificateIsOneClearLine() throws Exception {
        String runJar = System.getProperty("lbmode.operator.runJar", "target/quarkus-app/quarkus-run.jar");
        Path missing = work.resolve("no-such-secret");
        Process run = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dlbmode.webhook.cert-dir=" + missing, "-jar", runJar).redirectErrorStream(true).start();
        assertThat(run.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String output = new String(run.getInputStream().readAllBytes());
        assertThat(run.exitValue()).isEqualTo(2);
        assertThat(output.strip()).contains(missing.resolve("tls.crt").toString()).contains("LBMODE_WEBHOOK_CERT_DIR")
                .doesNotContain("Exception");
    }

    private String logText() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            return "";
        }
    }
}
