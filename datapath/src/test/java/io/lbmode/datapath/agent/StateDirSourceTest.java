package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A state dir is read again only where it changed. */
@Tag("unit")
class StateDirSourceTest {
    @TempDir
    Path dir;

    @Test
    void unchangedFilesAreNotParsedAgainAndRemovedFilesLeaveTheInputs() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("a.yaml"), LabObjects.service("a", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"))));
        Files.writeString(dir.resolve("b.yaml"), LabObjects.service("b", "172.16.20.17", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w2p1"))));
        StateDirSource source = new StateDirSource(dir);
        Inputs first = source.read();
        assertThat(first.services()).hasSize(2);

        Files.writeString(dir.resolve("b.yaml"), LabObjects.service("b", "172.16.20.18", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w2p2"))));
        Inputs second = source.read();
        assertThat(second.services().get(0)).as("a.yaml did not change: the same object").isSameAs(first.services().get(0));
        assertThat(second.services().get(1)).isNotSameAs(first.services().get(1));
        assertThat(second.services().get(1).getStatus().getLoadBalancer().getIngress().getFirst().getIp()).isEqualTo("172.16.20.18");
        assertThat(second.nodes()).hasSameSizeAs(first.nodes());
        assertThat(second.config()).isPresent();

        Files.delete(dir.resolve("a.yaml"));
        assertThat(source.read().services()).hasSize(1);
    }
}
