package io.lbmode.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.operator.support.CertificateUpdates;
import io.lbmode.operator.support.Fixtures;
import io.lbmode.operator.support.MockApiServerSetup;
import io.lbmode.operator.support.Reviews;
import io.lbmode.operator.support.TestCertificates;
import io.lbmode.operator.support.TestClients;
import io.lbmode.operator.support.WebhookTlsResource;
import io.lbmode.testsupport.ApiCallLog;
import io.lbmode.testsupport.Await;
import io.lbmode.testsupport.TrustingTls;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The webhook over real HTTPS: a TLS client that trusts only the test CA, AdmissionReview bodies in the shape the API
 * server sends, every allow and deny case of the forward-mode rules plus other immutable fields, bad requests, the
 * body limit, metrics, and a certificate rotation picked up without a restart.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true, setup = MockApiServerSetup.class)
@QuarkusTestResource(WebhookTlsResource.class)
@Tag("apiserver")
class WebhookHttpsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String NS = "cluster-lb-mode";
    private static final String ANNOTATION = "preview.baremetal.cluster.gke.io/dpv2-lbmode-dsr";

    @TestHTTPResource(value = "/validate-cluster", tls = true)
    URL webhook;

    @TestHTTPResource(value = "/validate-cluster")
    URL plainWebhook;

    @TestHTTPResource(value = "/bench/trivial", tls = true)
    URL trivial;

    @TestHTTPResource(value = "/q/metrics")
    URL metrics;

    @TestHTTPResource(value = "/q/health/live")
    URL live;

    @TestHTTPResource(value = "/q/health/ready")
    URL ready;

    @KubernetesTestServer
    KubernetesServer server;

    @Inject
    CertificateUpdates certificateUpdates;

    @Inject
    MeterRegistry meters;


    @AfterEach
    void recordApiCalls() {
        ApiCallLog.drain(server.getKubernetesMockServer(), getClass(), TestClients.TEST_USER_AGENT);
    }

    // ---------------------------------------------------------------- CREATE

    @Test
    void createCases() throws Exception {
        expectAllowed(Reviews.create(cluster("dsr")));
        JsonNode unset = expectAllowed(Reviews.create(cluster(null)));
        assertThat(unset.path("response").path("warnings").toString())
                .contains("spec.clusterNetwork.forwardMode").contains("snat").contains("can't be changed later");
        JsonNode preview = expectAllowed(Reviews.create(Fixtures.node(
                Fixtures.yaml(NS, "c", "standalone", "1.28.0", null, "enable"))));
        assertThat(preview.path("response").path("warnings").toString()).contains("dsr");

        expectDenied(Reviews.create(Fixtures.node(Fixtures.yaml(NS, "c", "standalone", "1.28.0", null, "disable"))),
                "metadata.annotations[" + ANNOTATION + "]");
        expectDenied(Reviews.create(Fixtures.node(Fixtures.yaml(NS, "c", "standalone", "1.28.0", "snat", "enable"))),
                "spec.clusterNetwork.forwardMode");
        expectDenied(Reviews.create(Fixtures.node(Fixtures.valid(NS, "c", "standalone", "dsr")
                .replace("10.96.0.0/20", "10.96.0.0/30"))), "spec.clusterNetwork.services.cidrBlocks");
        expectDenied(Reviews.create(edit(cluster("fast"), o -> o)), "spec.clusterNetwork.forwardMode");
    }

    // ---------------------------------------------------------------- UPDATE: forward mode

    @Test
    void forwardModeUpdateCases() throws Exception {
        expectAllowed(Reviews.update(cluster("dsr"), cluster("dsr")));
        expectDenied(Reviews.update(cluster("snat"), cluster("dsr")), "spec.clusterNetwork.forwardMode");
        expectDenied(Reviews.update(cluster("dsr"), cluster("snat")), "spec.clusterNetwork.forwardMode");
        expectDenied(Reviews.update(cluster("dsr"), cluster(null)), "spec.clusterNetwork.forwardMode");
        // Making the default explicit is allowed; writing the other mode is not.
        expectAllowed(Reviews.update(cluster(null), cluster("snat")));
        expectDenied(Reviews.update(cluster(null), cluster("dsr")), "spec.clusterNetwork.forwardMode");
        // The annotation while the field is unset selects the mode: adding or removing it is denied.
        expectDenied(Reviews.update(preview(null, null), preview(null, "enable")), "metadata.annotations[" + ANNOTATION + "]");
        expectDenied(Reviews.update(preview(null, "enable"), preview(null, null)), "metadata.annotations[" + ANNOTATION + "]");
        // The migration's own write, and removing the annotation once the field holds the mode.
        expectAllowed(Reviews.update(preview(null, "enable"), preview("dsr", "enable")));
        expectAllowed(Reviews.update(preview("dsr", "enable"), preview("dsr", null)));
        expectDenied(Reviews.update(preview(null, "enable"), preview("snat", "enable")), "spec.clusterNetwork.forwardMode");
    }

    @Test
    void upgradeFrom116WithThePreviewAnnotationIsAllowedAndAnnouncesTheMigration() throws Exception {
        JsonNode answer = expectAllowed(Reviews.update(
                Fixtures.node(Fixtures.yaml(NS, "c", "standalone", "1.16.0", null, "enable")),
                Fixtures.node(Fixtures.yaml(NS, "c", "standalone", "1.28.300-gke.131", null, "enable"))));
        assertThat(answer.path("response").path("warnings").toString()).contains("forwardMode").contains("dsr");
    }

    @Test
    void otherImmutableFieldsAreGuarded() throws Exception {
        expectDenied(Reviews.update(cluster("dsr"), Fixtures.node(Fixtures.valid(NS, "c", "standalone", "dsr")
                .replace("192.168.0.0/16", "172.20.0.0/16"))), "spec.clusterNetwork.pods.cidrBlocks");
        expectDenied(Reviews.update(cluster("dsr"), Fixtures.node(Fixtures.valid(NS, "c", "hybrid", "dsr"))), "spec.type");
        // Services may grow, never shrink; address pools may be added, never removed.
        expectAllowed(Reviews.update(cluster("dsr"), Fixtures.node(Fixtures.valid(NS, "c", "standalone", "dsr")
                .replace("10.96.0.0/20", "10.96.0.0/19"))));
        expectDenied(Reviews.update(cluster("dsr"), Fixtures.node(Fixtures.valid(NS, "c", "standalone", "dsr")
                .replace("10.96.0.0/20", "10.96.0.0/21"))), "spec.clusterNetwork.services.cidrBlocks");
        expectDenied(Reviews.update(cluster("dsr"), Fixtures.node(Fixtures.valid(NS, "c", "standalone", "dsr")
                .replace("- name: pool1", "- name: pool2"))), "spec.loadBalancer.addressPools");
        // Mutable: a node address.
        expectAllowed(Reviews.update(cluster("dsr"), Fixtures.node(Fixtures.valid(NS, "c", "standalone", "dsr")
                .replace("address: 10.200.0.2", "address: 10.200.0.3"))));
    }

    @Test
    void dryRunIsAnsweredTheSame() throws Exception {
        var wet = post(webhook, Reviews.bytes(Reviews.update(cluster("snat"), cluster("dsr"))));
        var dry = post(webhook, Reviews.bytes(Reviews.request("UPDATE", cluster("dsr"), cluster("snat"), true)));
        JsonNode a = JSON.readTree(wet.body()).path("response");
        JsonNode b = JSON.readTree(dry.body()).path("response");
        assertThat(b.path("allowed").asBoolean()).isFalse();
        assertThat(b.path("status")).isEqualTo(a.path("status"));
    }

    // ---------------------------------------------------------------- bad requests

    @Test
    void badRequestsGetA4xxOrADenialNeverA500() throws Exception {
        for (String body : List.of("this is not json", "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
                + "\"request\":{\"uid\":\"u1\"}}", "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", "")) {
            var response = post(webhook, body.getBytes());
            assertThat(response.statusCode()).as(body).isEqualTo(400);
            JsonNode status = JSON.readTree(response.body());
            assertThat(status.path("kind").asText()).isEqualTo("Status");
            assertThat(status.path("message").asText()).as(body).isNotBlank().doesNotContain("Exception").doesNotContain("\tat ");
        }

        ObjectNode otherKind = Reviews.create(cluster("dsr"));
        ((ObjectNode) otherKind.path("request").path("kind")).put("group", "apps").put("kind", "Deployment");
        JsonNode denied = JSON.readTree(expectHttp200(otherKind));
        assertThat(denied.path("response").path("allowed").asBoolean()).isFalse();
        assertThat(denied.path("response").path("status").path("code").asInt()).isEqualTo(400);

        ObjectNode missingObject = Reviews.request("CREATE", null, null, false);
        JsonNode noObject = JSON.readTree(expectHttp200(missingObject));
        assertThat(noObject.path("response").path("allowed").asBoolean()).isFalse();
        assertThat(noObject.path("response").path("uid").asText()).isEqualTo(Reviews.uid(missingObject));
        assertThat(noObject.path("response").path("status").path("message").asText()).contains("request.object");
    }

    @Test
    void bodiesOver3MiBAreRefusedWith413() throws Exception {
        ObjectNode review = Reviews.create(cluster("dsr"));
        ((ObjectNode) review.path("request").path("object").path("metadata")).putObject("annotations")
                .put("padding", "x".repeat(3 * 1024 * 1024 + 1));
        var response = post(webhook, Reviews.bytes(review));
        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(JSON.readTree(response.body()).path("message").asText()).contains("3 MiB");

        // Just under the limit is still reviewed.
        ObjectNode fits = Reviews.create(cluster("dsr"));
        ((ObjectNode) fits.path("request").path("object").path("metadata")).putObject("labels")
                .put("padding", "x".repeat(2 * 1024 * 1024));
        assertThat(post(webhook, Reviews.bytes(fits)).statusCode()).isEqualTo(200);
    }

    @Test
    void plainHttpIsRefused() throws Exception {
        var response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(plainWebhook.toURI())
                        .POST(HttpRequest.BodyPublishers.ofByteArray(Reviews.bytes(Reviews.create(cluster("dsr"))))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(403);
        assertThat(response.body()).contains("HTTPS only");
    }

    // ---------------------------------------------------------------- health, metrics

    @Test
    void healthAndMetrics() throws Exception {
        expectAllowed(Reviews.create(cluster("dsr")));
        expectDenied(Reviews.update(cluster("snat"), cluster("dsr")), "spec.clusterNetwork.forwardMode");
        var client = HttpClient.newHttpClient();
        assertThat(client.send(HttpRequest.newBuilder(live.toURI()).build(), HttpResponse.BodyHandlers.ofString())
                .statusCode()).isEqualTo(200);
        Await.until("ready", () -> {
            try {
                return client.send(HttpRequest.newBuilder(ready.toURI()).build(), HttpResponse.BodyHandlers.ofString()).statusCode();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, code -> code == 200);
        String text = client.send(HttpRequest.newBuilder(metrics.toURI()).build(), HttpResponse.BodyHandlers.ofString()).body();
        assertThat(text).containsPattern("lbmode_admission_decisions_total\\{[^}]*result=\"allowed\"[^}]*} [1-9]")
                .containsPattern("lbmode_admission_decisions_total\\{[^}]*result=\"denied\"[^}]*} [1-9]")
                .contains("lbmode_admission_duration_seconds_bucket");
    }

    // ---------------------------------------------------------------- rotation

    @Test
    void rotatedCertificateIsServedWithoutRestart() throws Exception {
        BigInteger before = presentedCertificate().getSerialNumber();
        var ca = testCa();
        var rotated = TestCertificates.server(ca, "lbmode-webhook-rotated");
        assertThat(rotated.certificate().getSerialNumber()).isNotEqualTo(before);

        TestCertificates.writeSecret(WebhookTlsResource.SECRET_DIR, rotated);

        X509Certificate served = awaitServed("the rotated certificate on a new connection", rotated);
        assertThat(served.getSubjectX500Principal().getName()).contains("lbmode-webhook-rotated");
        expectDenied(Reviews.update(cluster("snat"), cluster("dsr")), "spec.clusterNetwork.forwardMode");
    }

    @Test
    void unchangedCertificateIsNotReloaded() throws Exception {
        BigInteger before = presentedCertificate().getSerialNumber();
        int updates = certificateUpdates.webhook();

        awaitChecks(4);

        assertThat(certificateUpdates.webhook()).as("CertificateUpdatedEvents with the files unchanged")
                .isEqualTo(updates);
        assertThat(presentedCertificate().getSerialNumber()).isEqualTo(before);
    }

    @Test
    void halfWrittenRotationIsNotLoadedUntilTheKeyMatches() throws Exception {
        BigInteger before = presentedCertificate().getSerialNumber();
        int updates = certificateUpdates.webhook();
        var ca = testCa();
        var rotated = TestCertificates.server(ca, "lbmode-webhook-half-written");

        // The new certificate next to the old key, as a rotation caught between its two writes.
        TestCertificates.writePem(WebhookTlsResource.SECRET_DIR.resolve("tls.crt"), rotated.certificate());
        awaitChecks(2);
        assertThat(certificateUpdates.webhook()).as("CertificateUpdatedEvents with a mismatched pair")
                .isEqualTo(updates);
        assertThat(presentedCertificate().getSerialNumber()).isEqualTo(before);
        expectDenied(Reviews.update(cluster("snat"), cluster("dsr")), "spec.clusterNetwork.forwardMode");

        TestCertificates.writeSecret(WebhookTlsResource.SECRET_DIR, rotated);
        awaitServed("the completed rotation on a new connection", rotated);
        Await.until("one CertificateUpdatedEvent", Duration.ofSeconds(5), certificateUpdates::webhook,
                n -> n == updates + 1);
    }

    // ---------------------------------------------------------------- helpers

    /** The CA that signed the webhook's certificate (see {@link WebhookTlsResource}). */
    private static TestCertificates.Issued testCa() {
        return new TestCertificates.Issued(TestCertificates.readCertificate(WebhookTlsResource.CA_CERT),
                TestCertificates.readKey(WebhookTlsResource.CA_KEY));
    }

    /** Waits until a new connection is served {@code expected}'s certificate, and returns what it was served. */
    private X509Certificate awaitServed(String what, TestCertificates.Issued expected) {
        return Await.until(what, Duration.ofSeconds(20), () -> {
            try {
                return presentedCertificate();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, c -> c.getSerialNumber().equals(expected.certificate().getSerialNumber()));
    }

    /**
     * Waits until the certificate watcher has finished {@code ticks} more checks: with two or more, at least one
     * of them started after this call, so it read the files as they are now.
     */
    private void awaitChecks(int ticks) {
        double start = checks();
        Await.until(ticks + " more certificate checks", Duration.ofSeconds(20), this::checks, n -> n >= start + ticks);
    }

    private double checks() {
        return meters.find(WebhookCertificateWatcher.CHECKS).counters().stream().mapToDouble(Counter::count).sum();
    }

    private static JsonNode cluster(String forwardMode) {
        return Fixtures.node(Fixtures.valid(NS, "c", "standalone", forwardMode));
    }

    private static JsonNode preview(String forwardMode, String annotation) {
        return Fixtures.node(Fixtures.yaml(NS, "c", "standalone", "1.28.0", forwardMode, annotation));
    }

    private static JsonNode edit(JsonNode node, UnaryOperator<ObjectNode> change) {
        ObjectNode copy = node.deepCopy();
        ((ObjectNode) copy.path("spec").path("clusterNetwork")).put("forwardMode", "fast");
        return change.apply(copy);
    }

    private JsonNode expectAllowed(ObjectNode review) throws Exception {
        JsonNode answer = JSON.readTree(expectHttp200(review));
        assertThat(answer.path("response").path("allowed").asBoolean()).as(answer.toString()).isTrue();
        return answer;
    }

    private JsonNode expectDenied(ObjectNode review, String field) throws Exception {
        JsonNode answer = JSON.readTree(expectHttp200(review));
        JsonNode response = answer.path("response");
        assertThat(response.path("allowed").asBoolean()).as(answer.toString()).isFalse();
        assertThat(response.path("status").path("code").asInt()).isEqualTo(422);
        assertThat(response.path("status").path("reason").asText()).isEqualTo("Invalid");
        assertThat(response.path("status").path("message").asText()).contains(field);
        List<String> fields = response.path("status").path("details").path("causes").findValuesAsText("field");
        assertThat(fields).as(answer.toString()).anySatisfy(f -> assertThat(f).startsWith(field));
        return answer;
    }

    private String expectHttp200(ObjectNode review) throws Exception {
        var response = post(webhook, Reviews.bytes(review));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type").orElse("")).startsWith("application/json");
        JsonNode answer = JSON.readTree(response.body());
        assertThat(answer.path("apiVersion").asText()).isEqualTo("admission.k8s.io/v1");
        assertThat(answer.path("kind").asText()).isEqualTo("AdmissionReview");
        assertThat(answer.path("response").path("uid").asText()).isEqualTo(Reviews.uid(review));
        return response.body();
    }

    private HttpResponse<String> post(URL url, byte[] body) throws IOException, InterruptedException {
        return tlsClient().send(HttpRequest.newBuilder(URI.create(url.toString()))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** A fresh client (and so a fresh connection and TLS session) trusting only the test CA. */
    private static HttpClient tlsClient() {
        return HttpClient.newBuilder()
                .sslContext(TrustingTls.trusting(TestCertificates.readCertificate(WebhookTlsResource.CA_CERT)))
                .connectTimeout(Duration.ofSeconds(15)).build();
    }

    private X509Certificate presentedCertificate() throws Exception {
        var response = tlsClient().send(HttpRequest.newBuilder(URI.create(trivial.toString()))
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        return (X509Certificate) response.sslSession().orElseThrow().getPeerCertificates()[0];
    }
}
