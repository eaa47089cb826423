package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.model.NodeStateBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the informer caches keep is enough: the desired state from slimmed objects equals the one from full objects. */
@Tag("unit")
class SlimStoreTest {
    @TempDir
    Path dir;

    @Test
    void slimmedObjectsGiveTheSameNodeStateAndLoseTheirManagedFields() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.notReady("w2p1"), LabObjects.Ep.ready("w2p2")))
                + LabObjects.service("local", "172.16.20.17", true, LabObjects.webPorts(), List.of(LabObjects.Ep.ready("w2p2"))));
        Inputs full = new StateDirSource(dir).read();
        Inputs slim = new StateDirSource(dir).read();
        slim.services().getFirst().getMetadata().setManagedFields(List.of(new ManagedFieldsEntryBuilder().withManager("kubectl").build()));
        slim.services().getFirst().getMetadata().setAnnotations(Map.of("a", "b"));
        slim.services().forEach(SlimStore::slim);
        slim.endpointSlices().forEach(SlimStore::slim);

        for (String node : LabObjects.NODES) {
            assertThat(NodeStateBuilder.build(ForwardMode.SNAT, 7, LabObjects.VIPS, node, slim.nodes(), slim.services(), slim.endpointSlices()))
                    .isEqualTo(NodeStateBuilder.build(ForwardMode.SNAT, 7, LabObjects.VIPS, node, full.nodes(), full.services(), full.endpointSlices()));
        }
        assertThat(slim.services().getFirst().getMetadata().getManagedFields()).isNull();
        assertThat(slim.services().getFirst().getMetadata().getAnnotations()).isNull();
        assertThat(slim.endpointSlices().getFirst().getEndpoints().getFirst().getTargetRef()).isNull();
        assertThat(slim.endpointSlices().getFirst().getMetadata().getLabels()).containsOnlyKeys(NodeStateBuilder.SERVICE_NAME_LABEL);
    }

    @Test
    void aServiceKeepsItsSourceRangeAnnotationWhichTheDesiredStateReads() throws Exception {
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"))));
        var svc = new StateDirSource(dir).read().services().getFirst();
        svc.getMetadata().setAnnotations(Map.of("a", "b", NodeStateBuilder.SOURCE_RANGES_ANNOTATION, "10.0.1.0/24"));
        assertThat(SlimStore.slim(svc).getMetadata().getAnnotations())
                .containsExactly(Map.entry(NodeStateBuilder.SOURCE_RANGES_ANNOTATION, "10.0.1.0/24"));
    }
}
