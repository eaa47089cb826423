package io.lbmode.e2e.chart;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.VersionInfo;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.lbmode.testsupport.MockKubeconfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;

/**
 * A fabric8 mock API server in CRUD mode, plus a kubeconfig file that points at it.
 *
 * <p>Why: helm-java's {@code template} (unlike the helm CLI) evaluates {@code lookup} against a real API server
 * and fails with "connection refused" when there is none. The CRUD mock answers "not found" for objects it does not
 * hold, and returns the ones a test stored, so the chart's certificate reuse through {@code lookup} is tested for real.
 * Helm reads the kubeconfig named by the environment variable KUBECONFIG, which surefire sets to {@link #KUBECONFIG}.
 */
final class MockApiServer implements AutoCloseable {

    /** Fixed path, because the Go side of helm-java reads KUBECONFIG from the process environment (set by the pom). */
    static final Path KUBECONFIG = Path.of(System.getProperty("lbmode.helmKubeconfig", "target/helm-kubeconfig.yaml"));

    private final KubernetesMockServer server;
    private final KubernetesClient client;

    MockApiServer() {
        // Helm checks the chart's kubeVersion against /version: answer as a current Kubernetes would.
        VersionInfo version;
        try {
            version = new VersionInfo.Builder().withMajor("1").withMinor("33").withGitVersion("v1.33.0")
                    .withBuildDate("2025-05-01T00:00:00Z").withPlatform("linux/amd64").build();
        } catch (java.text.ParseException e) {
            throw new IllegalStateException(e);
        }
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new DiscoveringCrudDispatcher(), false, version);
        server.init();
        client = server.createClient();
        writeKubeconfig();
    }

    KubernetesClient client() {
        return client;
    }

    /** A kubeconfig for a process (such as the operator) whose current namespace is {@code namespace}. */
    String kubeconfig(String namespace) {
        return kubeconfigText(namespace);
    }

    private void writeKubeconfig() {
        try {
            Files.createDirectories(KUBECONFIG.toAbsolutePath().getParent());
            Files.writeString(KUBECONFIG, kubeconfigText("default"));
        } catch (IOException e) {
            throw new UncheckedIOException("could not write the kubeconfig for the mock API server to " + KUBECONFIG, e);
        }
    }

    private String kubeconfigText(String namespace) {
        return MockKubeconfig.text("http://" + server.getHostName() + ":" + server.getPort(), namespace);
    }

    /**
     * The CRUD dispatcher answers {@code GET /api/v1} with a List, but Helm's {@code lookup} first asks discovery
     * which resources the core group serves and needs an APIResourceList there.
     */
    private static final class DiscoveringCrudDispatcher extends KubernetesCrudDispatcher {
        private static final String CORE_V1 = """
                {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[
                 {"name":"secrets","singularName":"secret","namespaced":true,"kind":"Secret",
                  "verbs":["create","delete","get","list","patch","update","watch"]},
                 {"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap",
                  "verbs":["create","delete","get","list","patch","update","watch"]},
                 {"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace",
                  "verbs":["create","delete","get","list","patch","update","watch"]}]}
                """;

        /**
         * The operator SDK asks, before it elects a leader, whether it may use leases: answer as an API server whose
         * RBAC grants what the chart's Role grants (ChartRbacTest checks the Role itself).
         */
        private static final String LEASES_GRANTED = """
                {"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{},
                 "status":{"incomplete":false,"nonResourceRules":[],"resourceRules":[
                  {"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["get","create","update","patch"]}]}}
                """;

        @Override
        public MockResponse dispatch(RecordedRequest request) {
            String path = request.getPath();
            int query = path.indexOf('?');
            String plain = query < 0 ? path : path.substring(0, query);
            if ("GET".equals(request.getMethod()) && "/api/v1".equals(plain)) {
                return new MockResponse().setResponseCode(200).setHeader("Content-Type", "application/json")
                        .setBody(CORE_V1);
            }
            if ("POST".equals(request.getMethod())
                    && "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews".equals(plain)) {
                return new MockResponse().setResponseCode(201).setHeader("Content-Type", "application/json")
                        .setBody(LEASES_GRANTED);
            }
            return super.dispatch(request);
        }
    }

    @Override
    public void close() {
        client.close();
        server.destroy();
    }
}
