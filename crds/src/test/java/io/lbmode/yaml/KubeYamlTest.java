package io.lbmode.yaml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Hostile and broken input gives a clear error that says where, never an exception the user can't read. */
@Tag("unit")
class KubeYamlTest {

    static Stream<Arguments> badYaml() {
        String bomb = """
                a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
                b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
                c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
                d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
                e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
                f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
                """;
        StringBuilder deepBlock = new StringBuilder();
        for (int i = 0; i < 100; i++) {
            deepBlock.append("  ".repeat(i)).append("k").append(i).append(":\n");
        }
        deepBlock.append("  ".repeat(100)).append("end\n");
        return Stream.of(
                Arguments.of("not YAML", "spec: [1, 2\n", "not valid YAML: line"),
                Arguments.of("bad indentation", "a:\n  b: 1\n c: 2\n", "not valid YAML: line"),
                Arguments.of("alias bomb", bomb, "alias *a is not supported"),
                Arguments.of("a single alias", "a: &x {b: 1}\nc: *x\n", "alias *x is not supported"),
                Arguments.of("deep flow nesting", "a: " + "[".repeat(200) + "]".repeat(200), "nested deeper than 64 levels"),
                Arguments.of("deep block nesting", deepBlock.toString(), "nested deeper than 64 levels"),
                Arguments.of("duplicate keys", "spec:\n  type: user\n  type: admin\n", "Duplicate field 'type'"),
                Arguments.of("over 3 MiB", "a: " + "x".repeat(3 * 1024 * 1024), "larger than the limit of 3 MiB"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badYaml")
    void badInputIsAClearError(String what, String yaml, String message) {
        assertThatThrownBy(() -> KubeYaml.readString(yaml)).isInstanceOf(KubeYamlException.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n\tat ").hasSizeLessThan(300));
    }

    @Test
    void aFileOver3MiBIsRefusedBeforeReading(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("huge.yaml");
        Files.writeString(file, "a: " + "x".repeat(4 * 1024 * 1024));
        assertThatThrownBy(() -> KubeYaml.read(file)).hasMessageContaining("huge.yaml: more than 3145728 bytes, larger than the limit of 3 MiB");
        assertThatThrownBy(() -> KubeYaml.read(dir.resolve("missing.yaml"))).hasMessageEndingWith("missing.yaml: no such file");
    }

    @Test
    void multiDocumentStreamsKeepTheirIndexes() throws Exception {
        var docs = KubeYaml.readString("""
                # header comment only
                gcrKeyPath: /tmp/key.json
                ---
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: ns}
                ---
                apiVersion: baremetal.cluster.gke.io/v1
                kind: Cluster
                metadata: {name: c, namespace: ns}
                """);
        assertThat(docs).extracting(KubeYaml.Document::index).containsExactly(0, 1, 2, 3);
        assertThat(docs).extracting(KubeYaml.Document::kind).containsExactly("", "", "Namespace", "Cluster");
        assertThat(docs.get(1).node().isNull()).isTrue();
        assertThat(docs.get(3).isCluster()).isTrue();
        assertThat(docs.get(2).isCluster()).isFalse();
        assertThat(docs.get(3).displayName()).isEqualTo("ns/c");
    }

    @Test
    void anchorsWithoutAliasesAreFine() throws Exception {
        assertThat(KubeYaml.readString("a: &x 1\n").getFirst().node().path("a").asInt()).isEqualTo(1);
    }

    static Stream<Arguments> wrongTypes() {
        return Stream.of(
                Arguments.of("spec:\n  controlPlane:\n    nodePoolSpec:\n      nodes: x\n", "spec.controlPlane.nodePoolSpec.nodes: must be a list"),
                Arguments.of("spec:\n  type: cloud\n", "spec.type: 'cloud' is not allowed; use one of admin, user, hybrid, standalone"),
                Arguments.of("spec:\n  loadBalancer:\n    ports:\n      controlPlaneLBPort: '443'\n", "spec.loadBalancer.ports.controlPlaneLBPort: must be a whole number"),
                Arguments.of("spec:\n  clusterNetwork:\n    flatIPv4: 'yes'\n", "spec.clusterNetwork.flatIPv4: must be true or false"),
                Arguments.of("spec:\n  anthosBareMetalVersion: 1.28\n", "spec.anthosBareMetalVersion: must be a string"),
                Arguments.of("spec: [1]\n", "spec: must be a mapping"),
                Arguments.of("metadata:\n  annotations: [a]\n", "metadata.annotations"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("wrongTypes")
    void wrongTypesNameTheFieldPath(String yaml, String message) throws Exception {
        var node = KubeYaml.readString("apiVersion: baremetal.cluster.gke.io/v1\nkind: Cluster\n" + yaml).getFirst().node();
        assertThatThrownBy(() -> KubeYaml.toCluster(node)).isInstanceOf(KubeYamlException.class).hasMessageStartingWith(message);
    }

    @Test
    void aClusterMustBeAMapping() throws Exception {
        var node = KubeYaml.readString("- a\n- b\n").getFirst().node();
        assertThatThrownBy(() -> KubeYaml.toCluster(node)).hasMessage("a Cluster must be a mapping, not a list");
    }
}
