package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.NodeStateBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A build with a memo reuses the ports of unchanged objects and equals a build from scratch. */
@Tag("unit")
class MemoBuildTest {
    @TempDir
    Path dir;

    @Test
    void unchangedObjectsReuseTheirPortsAndReplacedObjectsAreRebuilt() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.ready("w2p1")))
                + LabObjects.service("local", "172.16.20.17", true, LabObjects.webPorts(), List.of(LabObjects.Ep.ready("w2p2"))));
        Inputs in = new StateDirSource(dir).read();
        NodeStateBuilder.Memo memo = new NodeStateBuilder.Memo();
        NodeState first = build(in, memo).state();
        NodeState again = build(in, memo).state();
        assertThat(again).isEqualTo(first);
        for (int i = 0; i < first.services().size(); i++) {
            assertThat(again.services().get(i)).as("reused, not rebuilt").isSameAs(first.services().get(i));
        }

        // The informer replaces the changed slice by a new object: only that Service is rebuilt.
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.notReady("w2p1")))
                + LabObjects.service("local", "172.16.20.17", true, LabObjects.webPorts(), List.of(LabObjects.Ep.ready("w2p2"))));
        Inputs changed = new StateDirSource(dir).read();
        List<io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice> slices = new ArrayList<>(in.endpointSlices());
        slices.set(0, changed.endpointSlices().get(0));
        Inputs mixed = new Inputs(in.config(), in.nodes(), in.services(), slices, in.problem());
        NodeState after = build(mixed, memo).state();
        assertThat(after).isEqualTo(build(mixed, NodeStateBuilder.Memo.none()).state()).isNotEqualTo(first);
        assertThat(after.services()).anySatisfy(sp -> assertThat(first.services()).anyMatch(old -> old == sp));
    }

    private static NodeStateBuilder.Result build(Inputs in, NodeStateBuilder.Memo memo) {
        return NodeStateBuilder.build(ForwardMode.SNAT, 7, LabObjects.VIPS, LabObjects.LB, in.nodes(), in.services(), in.endpointSlices(), memo);
    }
}
