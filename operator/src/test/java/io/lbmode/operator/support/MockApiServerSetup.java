package io.lbmode.operator.support;

import io.quarkus.test.kubernetes.client.KubernetesServer;
import java.util.function.Consumer;

/** Runs before the operator starts: the mock API server gets the CRDs, as a cluster with the Helm chart would have. */
public class MockApiServerSetup implements Consumer<KubernetesServer> {
    @Override
    public void accept(KubernetesServer server) {
        try (var client = TestClients.testClient(server.getClient().getConfiguration())) {
            TestClients.installCrds(client);
        }
    }
}
