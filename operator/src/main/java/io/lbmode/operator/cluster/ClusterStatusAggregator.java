package io.lbmode.operator.cluster;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.lbmode.crds.cluster.v1.ClusterStatus;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.validation.Problem;
import io.lbmode.validation.Verdict;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The one place that assembles a Cluster's status from what one reconcile found. Pure: same inputs, same status
 * (apart from {@code lastTransitionTime}, which only moves when a condition's status changes).
 */
final class ClusterStatusAggregator {
    static final String VALID = "Valid";
    static final String DATAPATH_READY = "DatapathReady";
    static final String THIS_CLUSTER = "this cluster";
    static final String OWN_CLUSTER = "its own cluster (user cluster: the lbmode operator running in it)";
    /** Nodes named in {@code nodes.notProgrammed}: enough to start looking, short enough for {@code kubectl get}. */
    static final int MAX_NAMED_NODES = 10;

    private ClusterStatusAggregator() {
    }

    /** The per-node summary: programmed = reports the cluster's effective mode and no lastError. */
    record NodeSummary(int programmed, int total, Map<String, Integer> byMode, List<String> notProgrammed,
                       List<String> reasons) {
        static NodeSummary of(List<NodeDataplane> nodes, ForwardMode effective) {
            Map<String, Integer> byMode = new TreeMap<>();
            List<String> notProgrammed = new ArrayList<>();
            List<String> reasons = new ArrayList<>();
            int programmed = 0;
            for (NodeDataplane node : nodes.stream()
                    .sorted(Comparator.comparing(n -> n.getMetadata().getName())).toList()) {
                var status = node.getStatus();
                String mode = status == null ? null : status.mode;
                String error = status == null ? null : status.lastError;
                if (mode != null && !mode.isBlank()) {
                    byMode.merge(mode, 1, Integer::sum);
                }
                String name = node.getMetadata().getName();
                if (effective.wireName().equals(mode) && (error == null || error.isBlank())) {
                    programmed++;
                } else {
                    notProgrammed.add(name);
                    reasons.add(name + " (" + (status == null ? "no status yet"
                            : error != null && !error.isBlank() ? "lastError: " + error
                            : mode == null ? "no mode programmed yet"
                            : "programs " + mode + ", not " + effective.wireName()) + ")");
                }
            }
            return new NodeSummary(programmed, nodes.size(), byMode, notProgrammed, reasons);
        }
    }

    static ClusterStatus build(Optional<ClusterStatus> previous, long generation, ForwardMode effective,
                               Verdict verdict, DatapathState datapath, NodeSummary nodes, Instant now) {
        ClusterStatus status = new ClusterStatus();
        status.observedGeneration = generation;
        status.effectiveForwardMode = effective.wireName();
        List<Condition> previousConditions = previous.map(s -> s.conditions).filter(java.util.Objects::nonNull).orElse(List.of());
        String time = now.truncatedTo(ChronoUnit.SECONDS).toString();

        // Other controllers may write conditions on the same Cluster: theirs are kept as they are, in their order,
        // and only the conditions lbmode owns are replaced (after them).
        status.conditions = new ArrayList<>(othersOf(previousConditions));
        status.conditions.add(condition(previousConditions, VALID, generation, time,
                verdict.allowed() ? "True" : "False",
                verdict.allowed() ? "Validated" : "Invalid",
                validMessage(verdict)));

        Ready ready = ready(datapath, nodes, effective);
        status.conditions.add(condition(previousConditions, DATAPATH_READY, generation, time,
                ready.status, ready.reason, ready.message));

        ClusterStatus.NodesSummary summary = new ClusterStatus.NodesSummary();
        if (datapath instanceof DatapathState.DrivenByOwnCluster) {
            summary.drivenBy = OWN_CLUSTER;
        } else {
            summary.drivenBy = THIS_CLUSTER;
            if (datapath instanceof DatapathState.Driven) {
                summary.programmed = nodes.programmed();
                summary.total = nodes.total();
                summary.byMode = nodes.byMode().isEmpty() ? null : nodes.byMode();
                summary.notProgrammed = nodes.notProgrammed().isEmpty() ? null
                        : nodes.notProgrammed().stream().limit(MAX_NAMED_NODES).toList();
            }
        }
        status.nodes = summary;
        return status;
    }

    /**
     * The status after a reconcile that failed with {@code error}: the previous status, with DatapathReady=False
     * (reason ReconcileError) saying that the operator retries.
     */
    static ClusterStatus reconcileError(Optional<ClusterStatus> previous, long generation, String error, Instant now) {
        ClusterStatus status = previous.map(Serialization::clone).orElseGet(ClusterStatus::new);
        List<Condition> previousConditions = previous.map(s -> s.conditions).filter(java.util.Objects::nonNull).orElse(List.of());
        status.conditions = new ArrayList<>(previousConditions);
        status.conditions.removeIf(c -> c == null || DATAPATH_READY.equals(c.getType()));
        status.conditions.add(condition(previousConditions, DATAPATH_READY, generation,
                now.truncatedTo(ChronoUnit.SECONDS).toString(), "False", "ReconcileError",
                "the operator could not reconcile this Cluster: " + error + "; it retries"));
        return status;
    }

    /** The conditions lbmode writes; every other type belongs to another controller and is never touched. */
    static final java.util.Set<String> OWNED = java.util.Set.of(VALID, DATAPATH_READY);

    private static List<Condition> othersOf(List<Condition> conditions) {
        return conditions == null ? List.of()
                : conditions.stream().filter(c -> c != null && !OWNED.contains(c.getType())).toList();
    }

    static String validMessage(Verdict verdict) {
        if (!verdict.allowed()) {
            return String.join("; ", verdict.problems().stream().map(Problem::toString).toList());
        }
        String message = "the cluster configuration passes every lbmode rule";
        return verdict.warnings().isEmpty() ? message : message + "; warnings: " + String.join("; ", verdict.warnings());
    }

    private record Ready(String status, String reason, String message) {
    }

    private static Ready ready(DatapathState datapath, NodeSummary nodes, ForwardMode effective) {
        return switch (datapath) {
            case DatapathState.NotDeployedInvalid ignored -> new Ready("False", "ClusterInvalid",
                    "nothing is deployed while the cluster is invalid; fix the problems of the Valid condition");
            case DatapathState.SelfManagedConflict c -> new Ready("False", "MultipleSelfManagedClusters",
                    "Clusters " + String.join(", ", c.clusters()) + " are all of type admin, hybrid or standalone; "
                            + "only one self-managed Cluster may exist per API server, so no datapath is deployed: "
                            + "delete the extra Cluster objects or correct their spec.type");
            case DatapathState.DrivenByOwnCluster ignored -> new Ready("Unknown", "DrivenByOwnCluster",
                    "user cluster: its datapath is deployed and reported by the lbmode operator in the user cluster "
                            + "itself, not from this cluster");
            case DatapathState.Driven d when d.deployError().isPresent() -> new Ready("False", "DeployFailed",
                    "the datapath ConfigMap or DaemonSet could not be applied: " + d.deployError().get()
                            + "; the operator retries");
            case DatapathState.Driven d when nodes.total() == 0 -> new Ready("False", "NoNodeReports",
                    "datapath deployed; no node has reported a NodeDataplane status yet");
            case DatapathState.Driven d when nodes.programmed() < nodes.total() -> new Ready("False",
                    "NodesNotProgrammed", nodes.programmed() + "/" + nodes.total() + " nodes program "
                            + effective.wireName() + "; not yet: " + String.join(", ",
                            nodes.reasons().stream().limit(MAX_NAMED_NODES).toList())
                            + (nodes.reasons().size() > MAX_NAMED_NODES ? ", ..." : ""));
            case DatapathState.Driven d -> new Ready("True", "AllNodesProgrammed",
                    nodes.programmed() + "/" + nodes.total() + " nodes program " + effective.wireName());
        };
    }

    private static Condition condition(List<Condition> previous, String type, long generation, String now,
                                       String status, String reason, String message) {
        // The transition time only moves when the status does, as the Kubernetes API conventions ask.
        String since = previous.stream()
                .filter(c -> type.equals(c.getType()) && status.equals(c.getStatus()))
                .map(Condition::getLastTransitionTime).filter(t -> t != null && !t.isBlank())
                .findFirst().orElse(now);
        return new ConditionBuilder().withType(type).withStatus(status).withReason(reason).withMessage(message)
                .withObservedGeneration(generation).withLastTransitionTime(since).build();
    }
}
