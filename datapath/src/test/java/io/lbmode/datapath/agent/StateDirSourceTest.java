package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.model.DesiredState;
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

    /** A desired state fed every read of one source, as the agent feeds its own. */
    private static final class Taken {
        final DesiredState state = new DesiredState();
        final StateDirSource source;

        Taken(StateDirSource source) {
            this.source = source;
        }

        Inputs take() {
            Inputs in = source.read();
            Agent.take(state, in.objects());
            return in;
        }
    }

    /** What the desired state fed change by change holds is what a fresh read of the whole directory gives. */
    private void assertSameAsFreshRead(Taken taken, List<io.fabric8.kubernetes.api.model.Node> nodes) {
        Inputs fresh = new StateDirSource(dir).read();
        assertThat(fresh.problem()).isEmpty();
        for (String node : LabObjects.NODES) {
            assertThat(taken.state.build(ForwardMode.SNAT, 7, LabObjects.VIPS, node, nodes))
                    .isEqualTo(NodeStateBuilder.build(ForwardMode.SNAT, 7, LabObjects.VIPS, node, fresh.nodes(), fresh.services(),
                            fresh.endpointSlices()));
        }
    }

    @Test
    void onlyChangedDocumentsAreParsedAgainAndHandedOverAsChanges() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), web("w2p1"));
        Taken taken = new Taken(new StateDirSource(dir));
        Inputs first = taken.take();
        assertThat(first.objects()).as("the first read hands over every object").isInstanceOf(Inputs.Every.class);
        assertThat(first.services()).hasSize(2);

        // Same size, same second: only the document's text tells (w2p1 -> w2p2).
        Files.writeString(dir.resolve("web.yaml"), web("w2p2"));
        Inputs second = taken.take();
        Inputs.Changed changed = (Inputs.Changed) second.objects();
        assertThat(changed.services()).as("unchanged Services are not handed over").isEmpty();
        assertThat(changed.endpointSlices()).containsOnlyKeys("default/web-1");
        EndpointSlice slice = changed.endpointSlices().get("default/web-1").orElseThrow();
        assertThat(first.endpointSlices()).as("the changed slice is parsed again").noneMatch(old -> old == slice);
        assertThat(second.nodes()).allSatisfy(n -> assertThat(first.nodes()).anyMatch(old -> old == n));
        assertSameAsFreshRead(taken, second.nodes());
    }

    @Test
    void aStateDirChangedStepByStepGivesWhatAFreshReadGives() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        String web = LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.ready("w2p1")));
        String local = LabObjects.service("local", "172.16.20.17", true, LabObjects.webPorts(), List.of(LabObjects.Ep.ready("w2p2")));
        String extra = LabObjects.service("extra", "172.16.20.18", false, LabObjects.webPorts(), List.of(LabObjects.Ep.ready("w2p2")));
        Files.writeString(dir.resolve("web.yaml"), web + local);
        Taken taken = new Taken(new StateDirSource(dir));
        assertThat(taken.take().objects()).isInstanceOf(Inputs.Every.class);
        List<io.fabric8.kubernetes.api.model.Node> nodes = new StateDirSource(dir).read().nodes();
        assertSameAsFreshRead(taken, nodes);

        // Each step: what the step hands over (null: every object), then the state against a fresh read.
        java.util.function.Consumer<java.util.Set<String>> step = keys -> {
            Inputs.ServiceObjects objects = taken.take().objects();
            if (keys == null) {
                assertThat(objects).isInstanceOf(Inputs.Every.class);
                assertSameAsFreshRead(taken, nodes);
                return;
            }
            Inputs.Changed c = (Inputs.Changed) objects;
            java.util.Set<String> all = new java.util.HashSet<>(c.services().keySet());
            c.endpointSlices().keySet().forEach(k -> all.add("slice " + k));
            assertThat(all).isEqualTo(keys);
            assertSameAsFreshRead(taken, nodes);
        };
        // A Service document (with its slice) added.
        Files.writeString(dir.resolve("web.yaml"), web + local + extra);
        step.accept(java.util.Set.of("default/extra", "slice default/extra-1"));
        // A slice document changed.
        Files.writeString(dir.resolve("web.yaml"), web + local + extra.replace("w2p2", "w1p1"));
        step.accept(java.util.Set.of("slice default/extra-1"));
        // A Service document changed (its port), its slice not.
        String extraService = extra.substring(0, extra.indexOf("---", 3));
        String extraSlice = extra.substring(extra.indexOf("---", 3)).replace("w2p2", "w1p1");
        Files.writeString(dir.resolve("web.yaml"), web + local + extraService.replace("port: 80", "port: 81") + extraSlice);
        step.accept(java.util.Set.of("default/extra"));
        // The slice document removed, then the Service document.
        Files.writeString(dir.resolve("web.yaml"), web + local + extraService.replace("port: 80", "port: 81"));
        step.accept(java.util.Set.of("slice default/extra-1"));
        Files.writeString(dir.resolve("web.yaml"), web + local);
        step.accept(java.util.Set.of("default/extra"));
        // Documents reordered within a file: the same objects, nothing handed over.
        Files.writeString(dir.resolve("web.yaml"), local + web);
        step.accept(java.util.Set.of());
        // A document moved to another file (a new file), then a whole file removed.
        Files.writeString(dir.resolve("web.yaml"), web);
        Files.writeString(dir.resolve("local.yaml"), local);
        step.accept(java.util.Set.of("default/local", "slice default/local-1"));
        Files.delete(dir.resolve("local.yaml"));
        step.accept(java.util.Set.of("default/local", "slice default/local-1"));
        // A whole file added, then renamed: the objects parsed again, the state the same.
        Files.writeString(dir.resolve("more.yaml"), local + extra);
        step.accept(java.util.Set.of("default/local", "slice default/local-1", "default/extra", "slice default/extra-1"));
        Files.move(dir.resolve("more.yaml"), dir.resolve("other.yaml"));
        step.accept(java.util.Set.of("default/local", "slice default/local-1", "default/extra", "slice default/extra-1"));
        // Objects renamed within a file: the old keys removed, the new ones added.
        Files.writeString(dir.resolve("other.yaml"), local.replace("local", "renamed") + extra);
        step.accept(java.util.Set.of("default/local", "slice default/local-1", "default/renamed", "slice default/renamed-1"));
        // One key in two files: two slices of one key are told apart by their order, which a change set can't
        // say: every object is handed over, and once more when the key is single again; then changes again.
        Files.writeString(dir.resolve("zz.yaml"), web.replace("w2p1", "w2p2"));
        step.accept(null);
        Files.delete(dir.resolve("zz.yaml"));
        step.accept(null);
        Files.writeString(dir.resolve("web.yaml"), web.replace("w2p1", "w2p2"));
        step.accept(java.util.Set.of("slice default/web-1"));
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
        assertThat(((Inputs.Changed) directive.objects()).services()).as("parsed again as a whole")
                .containsOnlyKeys("default/web", "default/flow");
        assertThat(((Inputs.Changed) directive.objects()).services().values()).allMatch(java.util.Optional::isPresent);
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
        assertThat(fixed.objects()).as("after a problem every object is handed over").isInstanceOf(Inputs.Every.class);
        assertSameState(fixed, new StateDirSource(dir).read());
    }
}
