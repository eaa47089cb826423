package io.lbmode.operator.support;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The tests' own client (marked by its user agent) and the CRDs of the crds module. */
public final class TestClients {
    public static final String TEST_USER_AGENT = "lbmode-test-client";
    public static final String[] CRD_FILES = {"clusters.baremetal.cluster.gke.io-v1.yml", "nodedataplanes.lbmode.io-v1.yml"};

    private TestClients() {
    }

    public static KubernetesClient testClient(Config operatorConfig) {
        Config config = new ConfigBuilder(operatorConfig).withUserAgent(TEST_USER_AGENT).build();
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    /** Creates the CRDs the crds module generated, as Helm does in production. */
    public static void installCrds(KubernetesClient client) {
        for (String file : CRD_FILES) {
            try (InputStream in = crd(file)) {
                CustomResourceDefinition crd = client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class);
                client.apiextensions().v1().customResourceDefinitions().resource(crd).createOr(c -> c.update());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static InputStream crd(String file) throws IOException {
        InputStream in = TestClients.class.getClassLoader().getResourceAsStream("META-INF/fabric8/" + file);
        if (in != null) {
            return in;
        }
        Path built = Path.of("..", "crds", "target", "classes", "META-INF", "fabric8", file);
        if (Files.exists(built)) {
            return Files.newInputStream(built);
        }
        throw new IllegalStateException("CRD " + file + " not found: build the crds module first (./mvnw -B install -pl crds)");
    }
}
