package io.lbmode.schema;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.forwardmode.ForwardModes;
import io.lbmode.forwardmode.Migration;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.yaml.KubeYaml;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** What the API server would keep of a real cluster configuration, and the pruner's own rules. */
@Tag("unit")
class PruningTest {
    static final Path EXAMPLES = Path.of(System.getProperty("basedir", ".")).resolve("../examples").normalize();

    static ObjectNode fullCluster() throws Exception {
        List<KubeYaml.Document> docs = KubeYaml.read(EXAMPLES.resolve("cluster-full.yaml"));
        // The form bmctl writes: a header without apiVersion, a Namespace, the Cluster, a NodePool.
        assertThat(docs).extracting(KubeYaml.Document::kind).containsExactly("", "Namespace", "Cluster", "NodePool");
        assertThat(docs.getFirst().apiVersion()).isEmpty();
        return (ObjectNode) docs.get(2).node();
    }

    /** The committed CRD (the chart's copy) is what gets applied; crds' GeneratedCrdTest keeps it equal to the generated one. */
    static final Path COMMITTED_CRD = Path.of(System.getProperty("basedir", ".")).resolve("../helm/lbmode/crds")
            .resolve("clusters.baremetal.cluster.gke.io-v1.yml").normalize();

    static StructuralSchema committedSchema() throws Exception {
        return StructuralSchema.ofCrd(KubeYaml.read(COMMITTED_CRD).getFirst().node());
    }

    @Test
    void theFullClusterLosesNothingUnderTheGeneratedSchema() throws Exception {
        ObjectNode original = fullCluster();
        ObjectNode stored = original.deepCopy();
        List<String> pruned = committedSchema().prune(stored);
        assertThat(pruned).isEmpty();
        assertThat(stored).isEqualTo(original);
        // The file really carries the fields that are easy to lose.
        for (String path : List.of("/spec/gkeConnect/projectID", "/spec/clusterOperations/location",
                "/spec/storage/lvpNodeMounts/path", "/spec/storage/lvpShare/numPVUnderSharedPath",
                "/spec/nodeAccess/loginUser", "/spec/proxy/url", "/spec/kubevirt/useEmulation",
                "/spec/controlPlane/apiServerArgs/0/argument", "/spec/loadBalancer/bgpPeers/0/asn",
                "/spec/loadBalancer/localASN", "/spec/nodeConfig/containerRuntime", "/spec/profile",
                "/spec/controlPlane/nodePoolSpec/nodes/0/labels/rack", "/spec/loadBalancer/nodePoolSpec/kubeletConfig")) {
            assertThat(stored.at(path).isMissingNode()).as(path).isFalse();
        }
    }

    @Test
    void aFlagOnSpecAloneWouldLoseNestedFields() throws Exception {
        // Negative control: the same schema with the flag only on spec loses what the reference warns about.
        JsonNode crd = KubeYaml.read(COMMITTED_CRD)
                .getFirst().node().deepCopy();
        ObjectNode spec = (ObjectNode) crd.at("/spec/versions/0/schema/openAPIV3Schema/properties/spec");
        stripFlags(spec);
        spec.put("x-kubernetes-preserve-unknown-fields", true);
        ObjectNode stored = fullCluster().deepCopy();
        List<String> pruned = StructuralSchema.ofCrd(crd).prune(stored);
        assertThat(pruned).contains("spec.controlPlane.apiServerArgs", "spec.loadBalancer.bgpPeers",
                "spec.loadBalancer.localASN", "spec.nodeConfig.containerRuntime",
                "spec.controlPlane.nodePoolSpec.nodes[0].labels")
                .doesNotContain("spec.gkeConnect", "spec.proxy", "spec.storage");
        assertThat(stored.at("/spec/controlPlane/apiServerArgs").isMissingNode()).isTrue();
    }

    private static void stripFlags(JsonNode schema) {
        if (schema instanceof ObjectNode object) {
            object.remove("x-kubernetes-preserve-unknown-fields");
            object.elements().forEachRemaining(PruningTest::stripFlags);
        }
    }

    @Test
    void prunerFollowsTheApiServerRules() throws Exception {
        JsonNode crd = KubeYaml.readString("""
                spec:
                  versions:
                  - schema:
                      openAPIV3Schema:
                        type: object
                        properties:
                          spec:
                            type: object
                            properties:
                              kept: {type: string}
                              list:
                                type: array
                                items:
                                  type: object
                                  properties:
                                    a: {type: string}
                              labels:
                                type: object
                                additionalProperties: {type: string}
                              byName:
                                type: object
                                additionalProperties:
                                  type: object
                                  properties:
                                    x: {type: integer}
                              open:
                                type: object
                                x-kubernetes-preserve-unknown-fields: true
                                properties:
                                  inner:
                                    type: object
                                    properties:
                                      y: {type: string}
                """).getFirst().node();
        ObjectNode doc = (ObjectNode) KubeYaml.readString("""
                apiVersion: example.io/v1
                kind: Thing
                metadata: {name: t, anything: kept-by-the-server}
                extra: dropped
                spec:
                  kept: k
                  gone: g
                  list: [{a: "1", b: "2"}]
                  labels: {x: "1", y: "2"}
                  byName: {one: {x: 1, z: 2}}
                  open: {free: 1, inner: {y: "y", z: "z"}}
                """).getFirst().node();
        List<String> pruned = StructuralSchema.ofCrd(crd).prune(doc);
        assertThat(pruned).containsExactly("extra", "spec.gone", "spec.list[0].b", "spec.byName.one.z", "spec.open.inner.z");
        assertThat(doc.at("/spec/open/free").asInt()).isEqualTo(1);
        assertThat(doc.at("/spec/labels").size()).isEqualTo(2);
        assertThat(doc.at("/metadata/anything").asText()).isEqualTo("kept-by-the-server");
    }

    @Test
    void javaRoundTripKeepsEveryField() throws Exception {
        ObjectNode original = fullCluster();
        Cluster cluster = KubeYaml.toCluster(original);
        JsonNode back = KubeYaml.toNode(cluster);
        assertThat(back).isEqualTo(original);
        // And through YAML text, as the operator would write it.
        JsonNode reread = KubeYaml.readString(KubeYaml.toYaml(cluster)).getFirst().node();
        assertThat(reread).isEqualTo(original);
        assertThat(cluster.getSpec().unmodelled()).containsKeys("gkeConnect", "clusterOperations", "storage", "nodeAccess",
                "proxy", "kubevirt", "bypassPreflightCheck");
        assertThat(cluster.getSpec().loadBalancer.unmodelled()).containsKeys("bgpPeers", "localASN");
    }

    @Test
    void fabric8RoundTripKeepsEveryFieldToo() throws Exception {
        // The operator reads and writes Clusters with the fabric8 client's own serializer, not KubeYaml.
        ObjectNode original = fullCluster();
        var serialization = new io.fabric8.kubernetes.client.utils.KubernetesSerialization();
        Cluster cluster = serialization.unmarshal(original.toString(), Cluster.class);
        JsonNode back = KubeYaml.readString(serialization.asYaml(cluster)).getFirst().node();
        assertThat(back).isEqualTo(original);
    }

    @Test
    void theMigrationChangesOnlyForwardMode() throws Exception {
        ObjectNode original = fullCluster();
        ObjectNode annotated = original.deepCopy();
        ((ObjectNode) annotated.at("/spec/clusterNetwork")).remove("forwardMode");
        ((ObjectNode) annotated.at("/metadata/annotations")).put(ForwardMode.PREVIEW_ANNOTATION, "enable");
        Cluster cluster = KubeYaml.toCluster(annotated);
        Migration migration = ForwardModes.migrationFor(cluster).orElseThrow();
        assertThat(migration.mode()).isEqualTo(ForwardMode.DSR);
        JsonNode migrated = KubeYaml.toNode(migration.applyTo(cluster));
        ObjectNode expected = annotated.deepCopy();
        ((ObjectNode) expected.at("/spec/clusterNetwork")).put("forwardMode", "dsr");
        assertThat(migrated).isEqualTo(expected);
        assertThat(KubeYaml.toNode(cluster)).as("applyTo returns a copy").isEqualTo(annotated);
    }

    @Test
    void theMigrationPatchTestsTheVersionReadAndAddsOnlyForwardMode() throws Exception {
        ObjectNode annotated = fullCluster().deepCopy();
        ((ObjectNode) annotated.at("/spec/clusterNetwork")).remove("forwardMode");
        ((ObjectNode) annotated.at("/metadata/annotations")).put(ForwardMode.PREVIEW_ANNOTATION, "enable");
        ((ObjectNode) annotated.at("/metadata")).put("resourceVersion", "42");
        Cluster cluster = KubeYaml.toCluster(annotated);
        Migration migration = ForwardModes.migrationFor(cluster).orElseThrow();
        JsonNode patch = new com.fasterxml.jackson.databind.ObjectMapper().readTree(migration.jsonPatch(cluster));
        assertThat(patch.toString()).isEqualTo("[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"42\"},"
                + "{\"op\":\"add\",\"path\":\"/spec/clusterNetwork/forwardMode\",\"value\":\"dsr\"}]");
    }
}
