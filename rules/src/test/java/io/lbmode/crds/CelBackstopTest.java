package io.lbmode.crds;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cel.common.CelAbstractSyntaxTree;
import dev.cel.common.types.MapType;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.forwardmode.ForwardModes;
import io.lbmode.schema.StructuralSchema;
import io.lbmode.yaml.KubeYaml;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Evaluates the CEL transition rule of the generated CRD (spec.clusterNetwork) with cel-java, the way the API
 * server evaluates it with cel-go on updates: {@code self} is the new clusterNetwork, {@code oldSelf} the stored one.
 * Objects are passed as maps, which is how the API server presents schemaless-typed objects to CEL.
 */
@Tag("unit")
class CelBackstopTest {
    private static String rule;
    private static CelRuntime.Program program;

    /** The openAPIV3Schema of the Cluster CRD the crds module generated (in its jar). */
    static JsonNode generatedClusterSchema() throws Exception {
        try (java.io.InputStream in = CelBackstopTest.class.getClassLoader().getResourceAsStream(StructuralSchema.CLUSTER_CRD)) {
            assertThat(in).as("generated CRD %s on the class path", StructuralSchema.CLUSTER_CRD).isNotNull();
            return KubeYaml.readString(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8)).getFirst()
                    .node().at("/spec/versions/0/schema/openAPIV3Schema");
        }
    }

    @BeforeAll
    static void compile() throws Exception {
        JsonNode network = generatedClusterSchema().at("/properties/spec/properties/clusterNetwork");
        rule = network.path("x-kubernetes-validations").path(0).path("rule").asText();
        MapType object = MapType.create(SimpleType.STRING, SimpleType.DYN);
        CelCompiler compiler = CelCompilerFactory.standardCelCompilerBuilder()
                .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
                .addVar("self", object)
                .addVar("oldSelf", object)
                .build();
        CelAbstractSyntaxTree ast = compiler.compile(rule).getAst();
        program = CelRuntimeFactory.standardCelRuntimeBuilder().build().createProgram(ast);
    }

    static Map<String, Object> network(String forwardMode) {
        Map<String, Object> network = new HashMap<>();
        network.put("pods", Map.of("cidrBlocks", java.util.List.of("192.168.0.0/16")));
        network.put("services", Map.of("cidrBlocks", java.util.List.of("10.96.0.0/20")));
        if (forwardMode != null) {
            network.put("forwardMode", forwardMode);
        }
        return network;
    }

    static boolean allows(String old, String updated) throws Exception {
        return (Boolean) program.eval(Map.of("self", network(updated), "oldSelf", network(old)));
    }

    static Stream<Arguments> transitions() {
        return Stream.of(
                Arguments.of("dsr", "snat", false, "change dsr -> snat"),
                Arguments.of("snat", "dsr", false, "change snat -> dsr"),
                Arguments.of("dsr", null, false, "removal of a set field"),
                Arguments.of("snat", null, false, "removal of a set field"),
                Arguments.of(null, "dsr", true, "setting when unset (the migration)"),
                Arguments.of(null, "snat", true, "setting when unset (default made explicit)"),
                Arguments.of("dsr", "dsr", true, "unchanged"),
                Arguments.of("snat", "snat", true, "unchanged"),
                Arguments.of(null, null, true, "unset stays unset"));
    }

    @ParameterizedTest(name = "{3}: {0} -> {1} allowed={2}")
    @MethodSource("transitions")
    void ruleDecidesLikeTheApiServer(String old, String updated, boolean allowed, String what) throws Exception {
        assertThat(allows(old, updated)).as(rule).isEqualTo(allowed);
    }

    /** The backstop may be weaker than the webhook (it can't see the annotation) but never stricter. */
    @ParameterizedTest(name = "{3}: {0} -> {1}")
    @MethodSource("transitions")
    void backstopNeverDeniesWhatTheWebhookAllows(String old, String updated, boolean allowed, String what) throws Exception {
        boolean webhook = ForwardModes.checkUpdate(cluster(old), cluster(updated)).isEmpty();
        if (webhook) {
            assertThat(allows(old, updated)).isTrue();
        }
        if (!allows(old, updated)) {
            assertThat(webhook).isFalse();
        }
    }

    private static Cluster cluster(String forwardMode) {
        Cluster cluster = new Cluster();
        cluster.setSpec(new io.lbmode.crds.cluster.v1.ClusterSpec());
        cluster.getSpec().clusterNetwork = new io.lbmode.crds.cluster.v1.ClusterNetwork();
        cluster.getSpec().clusterNetwork.forwardMode = forwardMode == null ? null
                : io.lbmode.crds.cluster.v1.ForwardMode.fromWireName(forwardMode).orElseThrow();
        return cluster;
    }

    @Test
    void ruleMessageNamesTheField() throws Exception {
        JsonNode validation = generatedClusterSchema()
                .at("/properties/spec/properties/clusterNetwork/x-kubernetes-validations/0");
        assertThat(validation.path("message").asText()).startsWith("spec.clusterNetwork.forwardMode");
        assertThat(validation.path("reason").asText()).isEqualTo("FieldValueForbidden");
    }
}
