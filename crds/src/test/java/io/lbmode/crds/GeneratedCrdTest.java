package io.lbmode.crds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import io.lbmode.yaml.KubeYaml;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CRDs committed in the chart ({@code helm/lbmode/crds/}, the only committed copy) equal the generated ones, and
 * the generated schema has the forward mode's enum, rule, columns and subresources.
 */
@Tag("unit")
class GeneratedCrdTest {
    static final String REFRESH = "./mvnw -B -q process-classes -pl crds && cp crds/target/classes/META-INF/fabric8/*.yml helm/lbmode/crds/";
    static final String CLUSTER = "clusters.baremetal.cluster.gke.io-v1.yml";
    static final String NODE_DATAPLANE = "nodedataplanes.lbmode.io-v1.yml";

    /** Where the chart installs the CRDs from: the one committed copy. */
    static Path committedDir() {
        return Path.of(System.getProperty("basedir", ".")).toAbsolutePath().resolveSibling("helm").resolve("lbmode").resolve("crds");
    }

    static String generated(String name) throws Exception {
        try (InputStream in = GeneratedCrdTest.class.getClassLoader().getResourceAsStream("META-INF/fabric8/" + name)) {
            assertThat(in).as("generated CRD %s on the class path", name).isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static JsonNode crd(String name) throws Exception {
        return KubeYaml.readString(generated(name)).getFirst().node();
    }

    static JsonNode schema(String name) throws Exception {
        return crd(name).path("spec").path("versions").path(0).path("schema").path("openAPIV3Schema");
    }

    @ParameterizedTest
    @ValueSource(strings = {CLUSTER, NODE_DATAPLANE})
    void committedCopyIsInSyncWithTheJavaTypes(String name) throws Exception {
        Path committed = committedDir().resolve(name);
        if (!Files.exists(committed)) {
            fail("helm/lbmode/crds/" + name + " is missing; create it with: " + REFRESH);
        }
        List<String> want = generated(name).lines().toList();
        List<String> have = Files.readString(committed).lines().toList();
        for (int i = 0; i < Math.max(want.size(), have.size()); i++) {
            String w = i < want.size() ? want.get(i) : "(end of file)";
            String h = i < have.size() ? have.get(i) : "(end of file)";
            if (!w.equals(h)) {
                fail("helm/lbmode/crds/" + name + " differs from the CRD generated from the Java types at line " + (i + 1)
                        + ": committed '" + h.strip() + "', generated '" + w.strip() + "'. Refresh it with: " + REFRESH);
            }
        }
    }

    @Test
    void noBogusPropertyFromTheAnyGetter() throws Exception {
        assertThat(generated(CLUSTER)).doesNotContain("unmodelled");
    }

    @Test
    void everyModelledSpecObjectPreservesUnknownFields() throws Exception {
        List<String> missing = new ArrayList<>();
        List<String> objects = new ArrayList<>();
        walk(schema(CLUSTER).path("properties").path("spec"), "spec", missing, objects);
        assertThat(objects).contains("spec", "spec.controlPlane", "spec.loadBalancer", "spec.loadBalancer.addressPools[]",
                "spec.clusterNetwork", "spec.clusterNetwork.pods", "spec.nodeConfig.podDensity",
                "spec.controlPlane.nodePoolSpec.nodes[]", "spec.loadBalancer.vips", "spec.loadBalancer.ports");
        assertThat(missing).as("objects without x-kubernetes-preserve-unknown-fields").isEmpty();
    }

    private static void walk(JsonNode schema, String path, List<String> missing, List<String> objects) {
        if (schema.has("properties")) {
            objects.add(path);
            if (!schema.path("x-kubernetes-preserve-unknown-fields").asBoolean(false)) {
                missing.add(path);
            }
            for (Map.Entry<String, JsonNode> p : schema.path("properties").properties()) {
                walk(p.getValue(), path + "." + p.getKey(), missing, objects);
            }
        }
        if (schema.has("items")) {
            walk(schema.path("items"), path + "[]", missing, objects);
        }
    }

    @Test
    void forwardModeIsAnEnumWithoutDefault() throws Exception {
        JsonNode network = schema(CLUSTER).at("/properties/spec/properties/clusterNetwork");
        JsonNode mode = network.at("/properties/forwardMode");
        assertThat(mode.path("type").asText()).isEqualTo("string");
        assertThat(mode.path("enum")).extracting(JsonNode::asText).containsExactly("dsr", "snat");
        assertThat(mode.has("default")).as("a default would be written into 1.16 objects relying on the annotation").isFalse();
        assertThat(generated(CLUSTER)).doesNotContain("default:");
        assertThat(network.path("x-kubernetes-validations").path(0).path("rule").asText()).contains("oldSelf.forwardMode");
        // Without a required spec, {"spec": null} removes clusterNetwork and the transition rule never runs.
        assertThat(schema(CLUSTER).path("required")).extracting(JsonNode::asText).containsExactly("spec");
        assertThat(schema(CLUSTER).at("/properties/spec/required")).extracting(JsonNode::asText).contains("clusterNetwork");
    }

    @Test
    void namesScopeColumnsAndStatusSubresource() throws Exception {
        JsonNode cluster = crd(CLUSTER);
        assertThat(cluster.at("/spec/scope").asText()).isEqualTo("Namespaced");
        assertThat(cluster.at("/spec/names/shortNames")).extracting(JsonNode::asText).containsExactly("bmc");
        JsonNode version = cluster.at("/spec/versions/0");
        assertThat(version.path("name").asText()).isEqualTo("v1");
        assertThat(version.path("additionalPrinterColumns")).extracting(c -> c.path("name").asText())
                .containsExactly("Forward-Mode", "Version", "Ready", "Age");
        assertThat(version.path("additionalPrinterColumns").path(0).path("jsonPath").asText()).isEqualTo(".status.effectiveForwardMode");
        assertThat(version.at("/subresources/status").isObject()).as("status subresource").isTrue();
        assertThat(schema(CLUSTER).at("/properties/spec/required")).extracting(JsonNode::asText)
                .contains("type", "anthosBareMetalVersion", "controlPlane", "clusterNetwork", "loadBalancer");

        JsonNode nodeDataplane = crd(NODE_DATAPLANE);
        assertThat(nodeDataplane.at("/spec/scope").asText()).isEqualTo("Cluster");
        assertThat(nodeDataplane.at("/spec/group").asText()).isEqualTo("lbmode.io");
        assertThat(nodeDataplane.at("/spec/versions/0/subresources/status").isObject()).isTrue();
        assertThat(nodeDataplane.at("/spec/versions/0/additionalPrinterColumns")).extracting(c -> c.path("name").asText())
                .containsExactly("Mode", "Services", "Endpoints", "Synced", "Error");
    }
}
