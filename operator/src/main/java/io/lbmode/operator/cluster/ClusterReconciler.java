package io.lbmode.operator.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.crds.cluster.v1.ClusterStatus;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.forwardmode.Migration;
import io.lbmode.validation.ClusterValidator;
import io.lbmode.validation.Verdict;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.inject.Inject;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.jboss.logging.Logger;

/**
 * Reconciles every {@code Cluster}: validates it with the shared engine, applies the 1.16 annotation migration,
 * deploys the datapath (ConfigMap and DaemonSet) for the self-managed cluster, aggregates the nodes' NodeDataplane
 * reports and writes the status once.
 *
 * <p>Level-based: every reconcile recomputes everything from what is stored now, so it converges from any state
 * (a deleted ConfigMap or DaemonSet fires an event through the dependents' informers and is recreated).
 * The workflow is invoked explicitly because an invalid cluster, a user cluster or a second self-managed cluster
 * must not deploy anything.
 */
@ControllerConfiguration(name = ClusterReconciler.NAME)
@Workflow(explicitInvocation = true, handleExceptionsInReconciler = true, dependents = {
        @Dependent(name = "datapath-config", type = DatapathConfigMapDependent.class),
        @Dependent(name = "datapath-daemonset", type = DatapathDaemonSetDependent.class, dependsOn = "datapath-config")
})
public class ClusterReconciler implements Reconciler<Cluster> {
    public static final String NAME = "cluster";
    private static final Logger LOG = Logger.getLogger(ClusterReconciler.class);
    static final String NODES_SOURCE = "nodedataplanes";
    static final String PEERS_SOURCE = "self-managed-peers";

    @Inject
    MeterRegistry registry;

    private volatile InformerEventSource<NodeDataplane, Cluster> nodes;
    /**
     * A second informer on Cluster; its cache is the one view both the event mapping and the reconcile count
     * self-managed clusters from (see {@link #selfManagedPeers}).
     */
    private volatile InformerEventSource<Cluster, Cluster> peers;

    @Override
    public List<EventSource<?, Cluster>> prepareEventSources(EventSourceContext<Cluster> context) {
        var primaries = context.getPrimaryCache();
        // A NodeDataplane names its Cluster when the agent knows it; otherwise it belongs to the self-managed one.
        nodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(NodeDataplane.class, Cluster.class)
                .withName(NODES_SOURCE)
                .withSecondaryToPrimaryMapper(node -> {
                    var spec = node.getSpec();
                    if (spec != null && spec.clusterName != null && !spec.clusterName.isBlank()) {
                        if (spec.clusterNamespace != null && !spec.clusterNamespace.isBlank()) {
                            return Set.of(new ResourceID(spec.clusterName, spec.clusterNamespace));
                        }
                        return primaries.list(c -> spec.clusterName.equals(c.getMetadata().getName()))
                                .map(ResourceID::fromResource).collect(Collectors.toSet());
                    }
                    return primaries.list(SelfManagedClusters::isSelfManaged).map(ResourceID::fromResource)
                            .collect(Collectors.toSet());
                })
                .build(), context);
        // A self-managed Cluster appearing, going away or changing type changes the verdict on every self-managed one.
        // The mapper and the reconcile (datapath) both count from this informer's own cache: counting from the
        // primary informer instead raced with this one (this one saw `second` and woke `first`, whose reconcile then
        // read a primary cache that had not seen `second` yet, and nothing woke `first` again).
        // The fabric8 store is updated before the handlers run, so on an add or a type change to self-managed the
        // changed cluster is in the cache and is woken too (both sides of a conflict re-reconcile); on a delete or a
        // type change to user it is no longer listed as self-managed and only the remaining ones are woken.
        peers = new InformerEventSource<>(InformerEventSourceConfiguration.from(Cluster.class, Cluster.class)
                .withName(PEERS_SOURCE)
                .withOnAddFilter(SelfManagedClusters::isSelfManaged)
                .withOnUpdateFilter((updated, old) -> SelfManagedClusters.isSelfManaged(updated)
                        != SelfManagedClusters.isSelfManaged(old))
                .withSecondaryToPrimaryMapper(changed -> peers.list(SelfManagedClusters::isSelfManaged)
                        .map(ResourceID::fromResource).collect(Collectors.toSet()))
                .build(), context);
        return List.of(nodes, peers);
    }

    @Override
    public UpdateControl<Cluster> reconcile(Cluster cluster, Context<Cluster> context) {
        Timer.Sample sample = Timer.start(registry);
        String result = "error";
        try {
            KubernetesClient client = context.getClient();
            Verdict verdict = ClusterValidator.validateCreate(cluster);
            Cluster current = cluster;
            if (verdict.allowed() && verdict.migration().isPresent()) {
                current = migrate(client, cluster, verdict.migration().get());
                verdict = ClusterValidator.validateCreate(current);
            }
            DatapathState datapath = datapath(current, verdict, context);
            ForwardMode effective = ForwardMode.effective(current);
            var summary = ClusterStatusAggregator.NodeSummary.of(
                    datapath instanceof DatapathState.Driven ? nodesOf(current) : List.of(), effective);
            Optional<ClusterStatus> previous = Optional.ofNullable(current.getStatus());
            ClusterStatus status = ClusterStatusAggregator.build(previous, generation(current), effective, verdict,
                    datapath, summary, Instant.now());
            if (!verdict.allowed() && validChanged(previous, status)) {
                ClusterEvents.warning(client, current, "Invalid", "Cluster " + SelfManagedClusters.key(current)
                        + " is invalid, nothing is deployed for it: " + ClusterStatusAggregator.validMessage(verdict));
            }
            writeStatus(client, current, status);
            result = verdict.allowed() ? "valid" : "invalid";
            return UpdateControl.noUpdate();
        } finally {
            sample.stop(Timer.builder("lbmode.reconcile.duration")
                    .description("Time to reconcile one Cluster").tag("result", result)
                    .publishPercentileHistogram().register(registry));
            Counter.builder("lbmode.reconciles").description("Cluster reconciles by result")
                    .tag("result", result).register(registry).increment();
        }
    }

    /**
     * Errors go to the status (DatapathReady=False, reason ReconcileError, built by {@link ClusterStatusAggregator})
     * rather than only to the log; JOSDK retries with back-off.
     */
    @Override
    public ErrorStatusUpdateControl<Cluster> updateErrorStatus(Cluster cluster, Context<Cluster> context, Exception e) {
        if (e instanceof io.fabric8.kubernetes.client.KubernetesClientException k && k.getCode() == 409) {
            // A write raced with another change: the retry on fresh data settles it, no need to alarm the status.
            return ErrorStatusUpdateControl.defaultErrorProcessing();
        }
        try {
            ClusterStatus status = ClusterStatusAggregator.reconcileError(Optional.ofNullable(cluster.getStatus()),
                    generation(cluster), message(e), Instant.now());
            writeStatus(context.getClient(), cluster, status);
        } catch (RuntimeException writeFailed) {
            LOG.warnf("Could not write the error status of Cluster %s: %s", SelfManagedClusters.key(cluster),
                    message(writeFailed));
        }
        return ErrorStatusUpdateControl.defaultErrorProcessing();
    }

    /** Writes the migration with its JSON Patch (only the field, and only onto the version read; see {@link Migration#jsonPatch}). */
    private Cluster migrate(KubernetesClient client, Cluster cluster, Migration migration) {
        var metadata = cluster.getMetadata();
        Cluster patched = client.resources(Cluster.class).inNamespace(metadata.getNamespace())
                .withName(metadata.getName()).patch(PatchContext.of(PatchType.JSON), migration.jsonPatch(cluster));
        LOG.infof("Cluster %s: %s", SelfManagedClusters.key(cluster), migration.message());
        ClusterEvents.normal(client, patched, "ForwardModeMigrated", migration.message());
        return patched;
    }

    private DatapathState datapath(Cluster cluster, Verdict verdict, Context<Cluster> context) {
        if (!verdict.allowed()) {
            return new DatapathState.NotDeployedInvalid();
        }
        if (SelfManagedClusters.isUser(cluster)) {
            return new DatapathState.DrivenByOwnCluster();
        }
        List<String> selfManaged = selfManagedPeers(cluster);
        if (selfManaged.size() > 1) {
            return new DatapathState.SelfManagedConflict(selfManaged);
        }
        var result = context.managedWorkflowAndDependentResourceContext().reconcileManagedWorkflow();
        if (result.erroredDependentsExist()) {
            String errors = result.getErroredDependents().entrySet().stream()
                    .map(e -> e.getKey().name() + ": " + message(e.getValue()))
                    .collect(Collectors.joining("; "));
            LOG.warnf("Cluster %s: datapath not applied: %s", SelfManagedClusters.key(cluster), errors);
            return new DatapathState.Driven(Optional.of(errors));
        }
        return new DatapathState.Driven(Optional.empty());
    }

    /**
     * {@code namespace/name} of every self-managed Cluster: the others as the peers informer sees them (the same cache
     * the peers mapper lists from, so a cluster woken by a peers event sees at least what that event saw), plus the
     * cluster being reconciled, self-managed here, as it is now. It is counted itself because its own primary event
     * can come before the peers informer has seen it (or its change of type); the peers event that follows then wakes
     * the others and this one again.
     */
    private List<String> selfManagedPeers(Cluster cluster) {
        ResourceID self = ResourceID.fromResource(cluster);
        var others = peers.list(c -> !ResourceID.fromResource(c).equals(self));
        return SelfManagedClusters.names(Stream.concat(others, Stream.of(cluster)));
    }

    private List<NodeDataplane> nodesOf(Cluster cluster) {
        String name = cluster.getMetadata().getName();
        String namespace = cluster.getMetadata().getNamespace();
        return nodes.list(node -> {
            var spec = node.getSpec();
            return spec == null || spec.clusterName == null || spec.clusterName.isBlank()
                    || (name.equals(spec.clusterName)
                    && (spec.clusterNamespace == null || spec.clusterNamespace.isBlank()
                    || spec.clusterNamespace.equals(namespace)));
        }).toList();
    }

    private static boolean validChanged(Optional<ClusterStatus> previous, ClusterStatus status) {
        var now = status.conditions.stream().filter(c -> ClusterStatusAggregator.VALID.equals(c.getType())).findFirst();
        var before = previous.flatMap(p -> p.conditions == null ? Optional.empty()
                : p.conditions.stream().filter(c -> ClusterStatusAggregator.VALID.equals(c.getType())).findFirst());
        return before.isEmpty() || !Objects.equals(before.get().getStatus(), now.get().getStatus())
                || !Objects.equals(before.get().getMessage(), now.get().getMessage());
    }

    /**
     * One PUT of the status subresource per reconcile, only when something changed; it carries the resource version
     * read, so a concurrent change makes it fail and JOSDK retries on fresh data (never a merge patch: merge patches
     * can't replace single list entries such as a condition).
     */
    private static void writeStatus(KubernetesClient client, Cluster cluster, ClusterStatus status) {
        JsonNode before = Serialization.jsonMapper().valueToTree(cluster.getStatus() == null ? Map.of() : cluster.getStatus());
        JsonNode after = Serialization.jsonMapper().valueToTree(status);
        if (before.equals(after)) {
            return;
        }
        cluster.setStatus(status);
        client.resource(cluster).updateStatus();
    }

    private static long generation(Cluster cluster) {
        Long generation = cluster.getMetadata().getGeneration();
        return generation == null ? 0L : generation;
    }

    static String message(Throwable e) {
        String message = e.getMessage();
        return message == null || message.isBlank() ? e.getClass().getSimpleName() : message.lines().findFirst().orElse(message);
    }
}
