package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneSpec;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus;
import io.lbmode.datapath.model.DesiredState;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.NodeStateBuilder;
import io.lbmode.datapath.model.VipRanges;
import io.lbmode.datapath.program.Applied;
import io.lbmode.datapath.program.ModeProgrammer;
import io.lbmode.datapathconfig.DatapathConfig;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's core, independent of where objects come from: inputs -> {@link NodeState} -> the programmer of the
 * effective mode -> NodeDataplane status. All methods are called from one thread (the source's loop).
 */
public final class Agent {
    private static final Logger LOG = LoggerFactory.getLogger(Agent.class);
    public static final String VERSION = Optional.ofNullable(Agent.class.getPackage().getImplementationVersion()).orElse("dev");

    private final AgentOptions options;
    private final Programmers programmers;
    private final StatusSink sink;
    private final Clock clock;

    /** The programmer of the mode the kernel holds (the old one until a new mode is programmed). */
    private Optional<ModeProgrammer> active = Optional.empty();
    /** Skipped Services and ignored fields: logged and sent as Events once each, and kept for the status. */
    private final ServiceReports reports;
    /**
     * The objects and the desired state built from them, kept up to date change by change: informers hand over what
     * changed, a state dir every object (its unchanged documents keep their objects), and only the Services those
     * touch are rebuilt.
     */
    private final DesiredState desiredState = new DesiredState();
    /** What the kernel holds: the last state a programmer applied (or repaired) successfully. */
    private Optional<NodeState> programmed = Optional.empty();
    /** Why the kernel does not hold the desired state (the last sync or drift repair failed); empty when it does. */
    private Optional<String> lastError = Optional.empty();
    private Optional<String> notProgrammedReason = Optional.empty();
    private Instant programmedTransition = Instant.EPOCH;
    private boolean otherModeCleaned;
    private long generation;
    private Instant lastSync = Instant.EPOCH;
    /** The uid of this agent's Node, when it exists: the NodeDataplane's owner, so it goes when the Node goes. */
    private Optional<String> nodeUid = Optional.empty();

    // Metrics (read by the health server from another thread).
    final AtomicLong syncs = new AtomicLong();
    final AtomicLong syncErrors = new AtomicLong();
    final AtomicLong driftRepairs = new AtomicLong();
    final AtomicLong driftRepairErrors = new AtomicLong();
    final AtomicLong lastApplyMicros = new AtomicLong();
    volatile int services;
    volatile int endpoints;
    /** Whether the kernel holds the desired state; /healthz says only ok / not ok, the reason is in the status. */
    volatile boolean healthy;
    /**
     * When the agent's loop last ran its periodic check ({@link System#nanoTime}): /livez fails when it stops, not when
     * the kernel refuses rules (a restart would not help that, and the retries with backoff already run).
     */
    volatile long loopTick = System.nanoTime();

    public Agent(AgentOptions options, Programmers programmers, StatusSink sink, Clock clock) {
        this.options = options;
        this.programmers = programmers;
        this.sink = sink;
        this.clock = clock;
        this.reports = new ServiceReports(options.dryRun() ? StatusSink.NONE : sink);
    }

    /** Outcome of one sync; {@code error} empty on success. */
    public record SyncResult(Optional<NodeState> state, Optional<Applied> applied, Optional<String> error) {
    }

    /** Reasons of the NodeDataplane's {@code Programmed} condition. */
    static final String PROGRAMMED = "Programmed";
    static final String SYNC_FAILED = "SyncFailed";
    static final String MODE_CHANGE_FAILED = "ModeChangeFailed";
    static final String REPAIR_FAILED = "RepairFailed";

    /** Brings the kernel to what {@code in} asks for and publishes the status. Never throws for bad input. */
    public SyncResult sync(Inputs in) {
        syncs.incrementAndGet();
        lastConfig = in.config().or(() -> lastConfig);
        // The Node of now: a NodeDataplane written for a deleted Node must not name it, or the garbage collector
        // deletes it again and again; without a Node it is written without owner, and owned once the Node is back.
        nodeUid = in.nodes().stream().filter(n -> n.getMetadata() != null && options.node().equals(n.getMetadata().getName()))
                .map(n -> n.getMetadata().getUid()).filter(u -> u != null && !u.isBlank()).findFirst();
        Optional<NodeState> state = Optional.empty();
        try {
            // First, whatever else fails: a change set is handed over once. A full read with a problem is partial:
            // the objects of the last good one stay.
            if (in.problem().isEmpty() || in.objects() instanceof Inputs.Changed) {
                take(desiredState, in.objects());
            }
            if (in.problem().isPresent()) {
                return fail(state, SYNC_FAILED, "objects could not be read: " + in.problem().get());
            }
            if (in.config().isEmpty()) {
                return fail(state, SYNC_FAILED, options.stateDir().isPresent()
                        ? "no Cluster (baremetal.cluster.gke.io/v1) or ConfigMap " + DatapathConfig.CONFIG_MAP_NAME + " document in "
                          + options.stateDir().get() + ": add one so the agent knows the forward mode"
                        : "ConfigMap " + options.configNamespace() + "/" + DatapathConfig.CONFIG_MAP_NAME
                          + " not found: the lbmode operator writes it; is the operator running?");
            }
            DatapathConfig config = in.config().get();
            boolean nodeKnown = in.nodes().stream().anyMatch(n -> n.getMetadata() != null && options.node().equals(n.getMetadata().getName()));
            if (!nodeKnown) {
                return fail(state, SYNC_FAILED, "node " + options.node() + ": no Node object with metadata.name " + options.node()
                        + (options.stateDir().isPresent() ? " in " + options.stateDir().get() + ": add it or fix --node" : ": check --node / NODE_NAME"));
            }
            long buildStart = System.nanoTime();
            NodeStateBuilder.Result built = desiredState.build(config.forwardMode(), config.hashSeed(),
                    VipRanges.of(config.vipRanges(), config.podCidrs(), config.serviceCidrs()), options.node(), in.nodes());
            double buildMillis = (System.nanoTime() - buildStart) / 1e6;
            reports.report(built, desiredState);
            state = Optional.of(built.state());
            if (options.dryRun()) {
                try (ModeProgrammer programmer = programmers.create(config.forwardMode())) {
                    System.out.println("# lbmode datapath --dry-run: node " + options.node() + ", mode " + config.forwardMode().wireName()
                            + ", " + built.state().services().size() + " service ports, " + built.state().backendCount() + " backends, hash " + built.state().hash());
                    System.out.print(programmer.render(built.state()));
                }
                programmed = state;
                publish();
                return new SyncResult(state, Optional.empty(), Optional.empty());
            }
            Applied applied;
            try {
                applied = program(built.state());
            } catch (ModeChangeFailed e) {
                return fail(state, MODE_CHANGE_FAILED, e.getMessage());
            }
            reports.notProgrammed(applied.notProgrammed(), desiredState);
            if (!otherModeCleaned) {
                cleanupOtherMode(config.forwardMode());
            }
            if (applied.changedAnything() || generation == 0) {
                generation++;
                LOG.info("programmed {} ({} service ports, {} backends, hash {}): {} {} changes in {} ms (desired state built in {} ms)",
                        config.forwardMode().wireName(), built.state().services().size(), built.state().backendCount(),
                        hashOf(built.state()), applied.full() ? "full replace," : "incremental,", applied.changes(),
                        String.format("%.1f", applied.took().toNanos() / 1e6), String.format("%.1f", buildMillis));
            }
            lastApplyMicros.set(applied.took().toNanos() / 1000);
            lastSync = clock.instant();
            services = built.state().services().size();
            endpoints = built.state().backendCount();
            succeeded();
            publish();
            return new SyncResult(state, Optional.of(applied), Optional.empty());
        } catch (RuntimeException e) {
            String msg = e.getMessage() == null ? e.toString() : e.getMessage();
            return fail(state, SYNC_FAILED, msg);
        }
    }

    /** Brings {@code desiredState} to what a source handed over: every object, or the changed ones. */
    static void take(DesiredState desiredState, Inputs.ServiceObjects objects) {
        switch (objects) {
            case Inputs.Every every -> desiredState.replaceAll(every.services(), every.endpointSlices());
            case Inputs.Changed changed -> {
                changed.services().forEach((key, s) -> s.ifPresentOrElse(desiredState::putService, () -> desiredState.removeService(key)));
                changed.endpointSlices().forEach((key, s) -> s.ifPresentOrElse(slice -> desiredState.putSlice(key, slice),
                        () -> desiredState.removeSlice(key)));
            }
        }
    }

    /** A mode change whose new mode failed; the old mode stays programmed. */
    private static final class ModeChangeFailed extends RuntimeException {
        ModeChangeFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Applies {@code desired} with the programmer of its mode. A mode change programs the new mode first and only
     * then lets the old one go (its state is removed by {@link #cleanupOtherMode}): a node whose new mode fails
     * keeps forwarding with the old one, which goes on following the Services. The seed travels in the
     * {@link NodeState}: the programmer reprograms whatever depends on it when it changes.
     */
    private Applied program(NodeState desired) {
        if (active.isPresent() && active.get().mode() == desired.mode()) {
            Applied applied = active.get().apply(desired);
            programmed = Optional.of(desired);
            return applied;
        }
        ModeProgrammer next = programmers.create(desired.mode());
        Applied applied;
        try {
            applied = next.apply(desired);
        } catch (RuntimeException e) {
            next.close();
            String reason = e.getMessage() == null ? e.toString() : e.getMessage();
            if (active.isEmpty()) {
                throw e; // nothing programmed by this process: what a previous agent left stays as it is
            }
            ModeProgrammer old = active.get();
            // What the failed attempt may have left (DSR programs attached before a map update failed) must not
            // catch VIP traffic beside the old mode.
            removeQuietly(desired.mode());
            NodeState oldMode = new NodeState(old.mode(), desired.node(), desired.hashSeed(), desired.services());
            try {
                old.apply(oldMode);
                programmed = Optional.of(oldMode);
            } catch (RuntimeException oldFailed) {
                reason += "; keeping " + old.mode().wireName() + " up to date failed too: " + oldFailed.getMessage();
            }
            throw new ModeChangeFailed("forward mode " + desired.mode().wireName() + " could not be programmed, "
                    + old.mode().wireName() + " stays programmed: " + reason, e);
        }
        active.ifPresent(old -> {
            LOG.info("forward mode now {}: {} programmed, removing {} state", desired.mode().wireName(),
                    desired.mode().wireName(), old.mode().wireName());
            old.close();
            otherModeCleaned = false;
        });
        active = Optional.of(next);
        programmed = Optional.of(desired);
        return applied;
    }

    private void removeQuietly(ForwardMode mode) {
        try (ModeProgrammer p = programmers.create(mode)) {
            p.cleanup();
        } catch (RuntimeException e) {
            LOG.warn("removing what the failed {} attempt left: {}", mode.wireName(), e.getMessage());
        }
    }

    private void succeeded() {
        if (lastError.isPresent() || programmedTransition.equals(Instant.EPOCH)) {
            programmedTransition = clock.instant();
        }
        lastError = Optional.empty();
        notProgrammedReason = Optional.empty();
        healthy = true;
    }

    private SyncResult fail(Optional<NodeState> state, String reason, String message) {
        syncErrors.incrementAndGet();
        failed(reason, message);
        LOG.error(message);
        publish();
        return new SyncResult(state, Optional.empty(), Optional.of(message));
    }

    private void failed(String reason, String message) {
        if (lastError.isEmpty()) {
            programmedTransition = clock.instant();
        }
        lastError = Optional.of(message);
        notProgrammedReason = Optional.of(reason);
        healthy = false;
    }

    /** Only after the active mode is programmed: a node with a broken new mode keeps forwarding with the old one. */
    private void cleanupOtherMode(ForwardMode activeMode) {
        boolean cleaned = true;
        for (ForwardMode other : ForwardMode.values()) {
            if (other == activeMode) {
                continue;
            }
            try (ModeProgrammer p = programmers.create(other)) {
                p.cleanup();
            } catch (UnsupportedOperationException e) {
                // this build can't program that mode, so it can't have left anything either
                LOG.debug("{}: {}", other.wireName(), e.getMessage());
            } catch (RuntimeException e) {
                cleaned = false;
                LOG.warn("removing {} state: {}", other.wireName(), e.getMessage());
            }
        }
        otherModeCleaned = cleaned;
    }

    /** Whether the kernel is known not to hold the desired state: the runner retries with {@link #sync} then. */
    public boolean failing() {
        return lastError.isPresent();
    }

    /**
     * Called every few seconds: restores the rules when someone flushed or edited them. A repair that fails leaves
     * the status not programmed (lastError, condition Programmed=False) and returns false: the runner then retries
     * with {@link #sync}, whose next apply replaces the rules in full (a programmer forgets what it applied when an
     * apply or repair fails).
     *
     * @return false when a repair was needed and failed
     */
    public boolean checkDrift() {
        refreshDrops();
        if (active.isEmpty() || lastError.isPresent() || options.dryRun()) {
            return true;
        }
        try {
            if (active.get().drifted()) {
                LOG.warn("{} rules were changed by someone else: restoring them", active.get().mode().wireName());
                active.get().repair();
                driftRepairs.incrementAndGet();
                generation++;
                publish();
            }
            return true;
        } catch (RuntimeException e) {
            driftRepairErrors.incrementAndGet();
            String message = active.get().mode().wireName() + " rules were changed by someone else and restoring them failed: "
                    + (e.getMessage() == null ? e.toString() : e.getMessage());
            LOG.error(message);
            failed(REPAIR_FAILED, message);
            publish();
            return false;
        }
    }

    /** {@code --cleanup}: both modes. */
    public Optional<String> cleanupAll() {
        StringBuilder errors = new StringBuilder();
        for (ForwardMode mode : ForwardMode.values()) {
            try (ModeProgrammer p = programmers.create(mode)) {
                p.cleanup();
                LOG.info("removed {} state", mode.wireName());
            } catch (UnsupportedOperationException e) {
                LOG.info("{}: {}", mode.wireName(), e.getMessage());
            } catch (RuntimeException e) {
                errors.append(mode.wireName()).append(": ").append(e.getMessage()).append("; ");
            }
        }
        return errors.isEmpty() ? Optional.empty() : Optional.of(errors.toString());
    }

    /** The drops last published: counters move without a sync, so the status follows them at the drift check's pace. */
    private Map<String, Long> publishedDrops = Map.of();

    private void refreshDrops() {
        if (!options.dryRun() && active.isPresent() && !drops().equals(publishedDrops)) {
            publish();
        }
    }

    Map<String, Long> drops() {
        return active.map(ModeProgrammer::dropCounters).orElse(Map.of());
    }

    long generation() {
        return generation;
    }

    /** The NodeDataplane this agent would publish now: what the kernel holds, and why not the desired state. */
    NodeDataplane nodeDataplane() {
        NodeDataplane ndp = new NodeDataplane();
        var meta = new ObjectMetaBuilder().withName(options.node());
        // Owned by its Node: the garbage collector deletes it with the Node (no blockOwnerDeletion: that would need
        // the Node's finalizers permission, and nothing has to wait for it).
        nodeUid.ifPresent(uid -> meta.addNewOwnerReference().withApiVersion("v1").withKind("Node")
                .withName(options.node()).withUid(uid).endOwnerReference());
        ndp.setMetadata(meta.build());
        NodeDataplaneSpec spec = new NodeDataplaneSpec();
        spec.nodeName = options.node();
        lastConfig.ifPresent(c -> {
            spec.clusterNamespace = c.clusterNamespace();
            spec.clusterName = c.clusterName();
        });
        ndp.setSpec(spec);
        NodeDataplaneStatus st = new NodeDataplaneStatus();
        programmed.ifPresent(s -> {
            st.mode = s.mode().wireName();
            st.services = s.services().size() - reports.notProgrammedPorts(); // as the kernel holds them
            st.endpoints = s.backendCount();
            st.rulesetHash = hashOf(s);
        });
        st.interfaceName = options.interfaceName().isEmpty() ? null : options.interfaceName();
        st.rulesetGeneration = generation;
        st.lastSyncTime = lastSync.equals(Instant.EPOCH) ? null : lastSync.truncatedTo(ChronoUnit.SECONDS).toString();
        st.lastError = lastError.orElse(null);
        Map<String, Long> drops = new LinkedHashMap<>(drops());
        publishedDrops = Map.copyOf(drops);
        st.drops = drops.isEmpty() ? null : drops;
        st.agentVersion = VERSION;
        reports.status(st);
        if (!programmedTransition.equals(Instant.EPOCH)) {
            st.conditions = List.of(new ConditionBuilder().withType(PROGRAMMED)
                    .withStatus(lastError.isEmpty() ? "True" : "False")
                    .withReason(notProgrammedReason.orElse(PROGRAMMED))
                    .withMessage(lastError.orElse("the kernel holds the desired " + programmed.map(s -> s.mode().wireName()).orElse("")
                            + " rules"))
                    .withLastTransitionTime(programmedTransition.truncatedTo(ChronoUnit.SECONDS).toString())
                    .build());
        }
        ndp.setStatus(st);
        return ndp;
    }

    private Optional<DatapathConfig> lastConfig = Optional.empty();

    /** The last state hashed and its hash: a SHA-256 over 10,000 service ports costs 10-39 ms, once per state is enough. */
    private record Hashed(NodeState state, String hash) {
    }

    private volatile Hashed lastHashed = new Hashed(null, "");

    private String hashOf(NodeState state) {
        Hashed h = lastHashed;
        if (h.state() != state) {
            h = new Hashed(state, state.hash());
            lastHashed = h;
        }
        return h.hash();
    }

    private void publish() {
        if (options.dryRun()) {
            System.out.println("# status that would be written:");
            System.out.print(io.lbmode.yaml.KubeYaml.toYaml(nodeDataplane()));
            return;
        }
        try {
            sink.publish(nodeDataplane());
        } catch (Exception e) {
            LOG.warn("could not write NodeDataplane status for {}: {}", options.node(), e.getMessage());
        }
    }
}
