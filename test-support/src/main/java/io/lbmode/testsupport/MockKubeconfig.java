package io.lbmode.testsupport;

/** A kubeconfig for a process (the operator, Helm) that talks to a mock API server with a fake token. */
public final class MockKubeconfig {
    private MockKubeconfig() {
    }

    /** The kubeconfig text for {@code serverUrl} (no trailing slash needed) with {@code namespace} as current namespace. */
    public static String text(String serverUrl, String namespace) {
        return """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster:
                    server: %s
                contexts:
                - name: mock
                  context:
                    cluster: mock
                    user: mock
                    namespace: %s
                current-context: mock
                users:
                - name: mock
                  user:
                    token: mock-token
                """.formatted(serverUrl.replaceAll("/+$", ""), namespace);
    }
}
