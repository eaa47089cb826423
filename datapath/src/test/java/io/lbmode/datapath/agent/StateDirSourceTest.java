package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.model.NodeStateBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A state dir is read again only where it changed, and gives what a fresh read of the whole directory gives. */
@Tag("unit")
class StateDirSourceTest {
    @TempDir
    Path dir;

    private String web(String secondEndpoint) {
        return LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.ready(secondEndpoint)))
                + LabObjects.service("local", "172.16.20.17", true, LabObjects.webPorts(), List.of(LabObjects.Ep.ready("w2p2")));
    }

    private static void assertSameState(Inputs a, Inputs b) {
        for (String node : LabObjects.NODES) {
            assertThat(NodeStateBuilder.build(ForwardMode.SNAT, 7, LabObjects.VIPS, node, a.nodes(), a.services(), a.endpointSlices()))
                    .isEqualTo(NodeStateBuilder.build(ForwardMode.SNAT, 7, LabObjects.VIPS, node, b.nodes(), b.services(), b.endpointSlices()));
        }
        assertThat(a.config()).isEqualTo(b.config());
        assertThat(a.problem()).isEqualTo(b.problem());
    }

    @Test
    void onlyChangedDocumentsAreParsedAgainAndTheResultEqualsAFreshRead() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), web("w2p1"));
        StateDirSource source = new StateDirSource(dir);
        Inputs first = source.read();
        assertThat(first.services()).hasSize(2);

        // Same size, same second: only the document's text tells (w2p1 -> w2p2).
        Files.writeString(dir.resolve("web.yaml"), web("w2p2"));
        Inputs second = source.read();
        assertSameState(second, new StateDirSource(dir).read());
        assertThat(second.endpointSlices()).isNotEqualTo(first.endpointSlices());
        for (Service s : second.services()) {
            assertThat(first.services()).as("unchanged Service %s keeps its object", s.getMetadata().getName())
                    .anyMatch(old -> old == s);
        }
        EndpointSlice changed = second.endpointSlices().stream()
                .filter(e -> e.getMetadata().getName().startsWith("web")).findFirst().orElseThrow();
        assertThat(first.endpointSlices()).as("the changed slice is parsed again").noneMatch(old -> old == changed);
        assertThat(second.nodes()).allSatisfy(n -> assertThat(first.nodes()).anyMatch(old -> old == n));
    }

    @Test
    void documentsWithMarkersInsideScalarsCommentsAndEmptyDocumentsReadAsAWholeFileRead() throws Exception {
        String tricky = "# a comment before the first document\n"
                + "---\n---\n"
                + LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(), List.of(LabObjects.Ep.ready("w1p1")))
                + "...\n"
                + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata:\n  text: |\n    ----- not a marker\n    -- nor this\n"
                + "--- {apiVersion: v1, kind: Service, metadata: {name: flow, namespace: default}, spec: {type: ClusterIP}}\n"
                + "---";
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("tricky.yaml"), tricky);
        StateDirSource source = new StateDirSource(dir);
        Inputs read = source.read();
        assertThat(read.problem()).isEmpty();
        assertThat(read.services()).extracting(s -> s.getMetadata().getName()).containsExactly("web", "flow");
        assertThat(StateDirSource.splitDocuments(tricky.getBytes(StandardCharsets.UTF_8)).orElseThrow()).hasSize(9);

        // A directive needs the whole stream: read as a whole, the same objects.
        Files.writeString(dir.resolve("tricky.yaml"), "%YAML 1.2\n" + tricky);
        assertThat(StateDirSource.splitDocuments(("%YAML 1.2\n" + tricky).getBytes(StandardCharsets.UTF_8))).isEmpty();
        Inputs directive = source.read();
        assertThat(directive.services()).extracting(s -> s.getMetadata().getName()).containsExactly("web", "flow");
    }

    @Test
    void theKernelsNoticeOfAWrittenFileCallsTheWatcher() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        java.util.concurrent.Semaphore changes = new java.util.concurrent.Semaphore(0);
        try (AutoCloseable watch = new StateDirSource(dir).watch(changes::release)) {
            Files.writeString(dir.resolve("web.yaml"), web("w2p1"));
            assertThat(changes.tryAcquire(10, java.util.concurrent.TimeUnit.SECONDS)).as("notified of the new file").isTrue();
            changes.drainPermits();
            Files.delete(dir.resolve("web.yaml"));
            assertThat(changes.tryAcquire(10, java.util.concurrent.TimeUnit.SECONDS)).as("notified of the removal").isTrue();
        }
    }

    @Test
    void aBrokenDocumentNamesTheFileAndLineAsAWholeFileReadDoesAndIsReadAgainWhenFixed() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), web("w2p1") + "---\nkind: Service\nmetadata: [\n");
        StateDirSource source = new StateDirSource(dir);
        Inputs broken = source.read();
        assertThat(broken.problem()).isPresent();
        assertThat(broken.problem().get()).startsWith("web.yaml: not valid YAML: line ");
        assertThat(broken.problem()).isEqualTo(new StateDirSource(dir).read().problem());

        Files.writeString(dir.resolve("web.yaml"), web("w2p1") + "---\nkind: Service\nspec: {ports: 3}\n");
        Inputs wrongField = source.read();
        assertThat(wrongField.problem().orElseThrow()).startsWith("web.yaml document 5 (Service -/-): not a valid Service");

        Files.writeString(dir.resolve("web.yaml"), web("w2p1"));
        Inputs fixed = source.read();
        assertThat(fixed.problem()).isEmpty();
        assertSameState(fixed, new StateDirSource(dir).read());
    }
}
