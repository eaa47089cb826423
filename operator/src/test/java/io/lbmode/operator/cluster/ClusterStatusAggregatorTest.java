package io.lbmode.operator.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.lbmode.crds.cluster.v1.ClusterStatus;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus;
import io.lbmode.validation.Problem;
import io.lbmode.validation.Verdict;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class ClusterStatusAggregatorTest {
    static final Verdict VALID = new Verdict(List.of(), List.of(), Optional.empty());
    static final Instant T1 = Instant.parse("2026-01-01T10:00:00Z");
    static final Instant T2 = Instant.parse("2026-01-01T11:00:00Z");

    static NodeDataplane node(String name, String mode, String error) {
        var node = new NodeDataplane();
        node.setMetadata(new ObjectMetaBuilder().withName(name).build());
        if (mode != null || error != null) {
            var status = new NodeDataplaneStatus();
            status.mode = mode;
            status.lastError = error;
            node.setStatus(status);
        }
        return node;
    }

    static String ready(ClusterStatus status, java.util.function.Function<io.fabric8.kubernetes.api.model.Condition, String> f) {
        return status.conditions.stream().filter(c -> c.getType().equals("DatapathReady")).map(f).findFirst().orElseThrow();
    }

    @Test
    void programmedMeansEffectiveModeAndNoError() {
        var summary = ClusterStatusAggregator.NodeSummary.of(List.of(node("c", "dsr", "boom"), node("a", "dsr", null),
                node("b", "snat", null), node("d", null, null)), ForwardMode.DSR);
        assertThat(summary.programmed()).isEqualTo(1);
        assertThat(summary.total()).isEqualTo(4);
        assertThat(summary.byMode()).containsEntry("dsr", 2).containsEntry("snat", 1);
        assertThat(summary.notProgrammed()).containsExactly("b", "c", "d");
        assertThat(summary.reasons()).containsExactly("b (programs snat, not dsr)", "c (lastError: boom)", "d (no status yet)");
    }

    @Test
    void transitionTimeMovesOnlyWhenTheStatusDoes() {
        var oneOfTwo = ClusterStatusAggregator.NodeSummary.of(List.of(node("a", "dsr", null), node("b", null, null)), ForwardMode.DSR);
        var first = ClusterStatusAggregator.build(Optional.empty(), 1, ForwardMode.DSR, VALID,
                new DatapathState.Driven(Optional.empty()), oneOfTwo, T1);
        var same = ClusterStatusAggregator.build(Optional.of(first), 1, ForwardMode.DSR, VALID,
                new DatapathState.Driven(Optional.empty()), oneOfTwo, T2);
        assertThat(ready(same, c -> c.getLastTransitionTime())).isEqualTo("2026-01-01T10:00:00Z");

        var both = ClusterStatusAggregator.NodeSummary.of(List.of(node("a", "dsr", null), node("b", "dsr", null)), ForwardMode.DSR);
        var changed = ClusterStatusAggregator.build(Optional.of(same), 1, ForwardMode.DSR, VALID,
                new DatapathState.Driven(Optional.empty()), both, T2);
        assertThat(ready(changed, c -> c.getStatus())).isEqualTo("True");
        assertThat(ready(changed, c -> c.getLastTransitionTime())).isEqualTo("2026-01-01T11:00:00Z");
        assertThat(changed.nodes.programmed).isEqualTo(2);
    }

    @Test
    void invalidClusterListsEveryProblemWithItsField() {
        var invalid = new Verdict(List.of(new Problem("spec.a", "is bad"), new Problem("spec.b", "is worse")), List.of(), Optional.empty());
        var status = ClusterStatusAggregator.build(Optional.empty(), 3, ForwardMode.SNAT, invalid,
                new DatapathState.NotDeployedInvalid(), ClusterStatusAggregator.NodeSummary.of(List.of(), ForwardMode.SNAT), T1);
        assertThat(status.observedGeneration).isEqualTo(3);
        assertThat(status.effectiveForwardMode).isEqualTo("snat");
        var valid = status.conditions.stream().filter(c -> c.getType().equals("Valid")).findFirst().orElseThrow();
        assertThat(valid.getStatus()).isEqualTo("False");
        assertThat(valid.getMessage()).isEqualTo("spec.a: is bad; spec.b: is worse");
        assertThat(ready(status, c -> c.getReason())).isEqualTo("ClusterInvalid");
        assertThat(status.nodes.total).isNull();
    }

    @Test
    void aReconcileErrorReplacesOnlyDatapathReady() {
        var nodes = ClusterStatusAggregator.NodeSummary.of(List.of(node("a", "dsr", null)), ForwardMode.DSR);
        var good = ClusterStatusAggregator.build(Optional.empty(), 3, ForwardMode.DSR, VALID,
                new DatapathState.Driven(Optional.empty()), nodes, T1);
        var failed = ClusterStatusAggregator.reconcileError(Optional.of(good), 3, "boom", T2);
        assertThat(failed.conditions).extracting(c -> c.getType()).containsExactly("Valid", "DatapathReady");
        assertThat(ready(failed, c -> c.getStatus())).isEqualTo("False");
        assertThat(ready(failed, c -> c.getReason())).isEqualTo("ReconcileError");
        assertThat(ready(failed, c -> c.getMessage())).isEqualTo("the operator could not reconcile this Cluster: boom; it retries");
        assertThat(ready(failed, c -> c.getLastTransitionTime())).isEqualTo("2026-01-01T11:00:00Z");
        assertThat(failed.effectiveForwardMode).isEqualTo("dsr");
        assertThat(failed.nodes.programmed).isEqualTo(1);
        assertThat(ready(good, c -> c.getStatus())).as("the previous status is not modified").isEqualTo("True");

        var first = ClusterStatusAggregator.reconcileError(Optional.empty(), 1, "boom", T1);
        assertThat(ready(first, c -> c.getReason())).isEqualTo("ReconcileError");
    }

    @Test
    void conditionsOfOtherControllersAreKeptAndOnlyLbmodesAreReplaced() {
        var theirs = new io.fabric8.kubernetes.api.model.ConditionBuilder().withType("Reconciling").withStatus("False")
                .withReason("Done").withMessage("written by the GDC cluster controller")
                .withLastTransitionTime("2025-12-31T00:00:00Z").build();
        var previous = new ClusterStatus();
        previous.conditions = new java.util.ArrayList<>(List.of(theirs));
        var nodes = ClusterStatusAggregator.NodeSummary.of(List.of(node("a", "dsr", null)), ForwardMode.DSR);
        var built = ClusterStatusAggregator.build(Optional.of(previous), 3, ForwardMode.DSR, VALID,
                new DatapathState.Driven(Optional.empty()), nodes, T1);
        assertThat(built.conditions).extracting(c -> c.getType()).containsExactly("Reconciling", "Valid", "DatapathReady");
        assertThat(built.conditions.getFirst()).isEqualTo(theirs);

        var again = ClusterStatusAggregator.build(Optional.of(built), 3, ForwardMode.DSR, VALID,
                new DatapathState.Driven(Optional.empty()), nodes, T2);
        assertThat(again.conditions).as("a second reconcile changes nothing").isEqualTo(built.conditions);

        var failed = ClusterStatusAggregator.reconcileError(Optional.of(built), 3, "boom", T2);
        assertThat(failed.conditions).extracting(c -> c.getType()).containsExactly("Reconciling", "Valid", "DatapathReady");
    }
}
