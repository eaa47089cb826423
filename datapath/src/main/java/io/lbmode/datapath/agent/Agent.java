package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneSpec;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.NodeStateBuilder;
import io.lbmode.datapath.program.Applied;
import io.lbmode.datapath.program.ModeProgrammer;
import io.lbmode.datapathconfig.DatapathConfig;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
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

    private Optional<ModeProgrammer> active = Optional.empty();
    /** Both sources keep unchanged objects between syncs (informers; a state dir's unchanged documents), so unchanged Services are not rebuilt. */
    private final NodeStateBuilder.Memo memo;
    private Optional<NodeState> lastState = Optional.empty();
    private Optional<String> lastError = Optional.empty();
    private boolean otherModeCleaned;
    private long generation;
    private Instant lastSync = Instant.EPOCH;

    // Metrics (read by the health server from another thread).
    final AtomicLong syncs = new AtomicLong();
    final AtomicLong syncErrors = new AtomicLong();
    final AtomicLong driftRepairs = new AtomicLong();
    final AtomicLong lastApplyMicros = new AtomicLong();
    volatile int services;
    volatile int endpoints;
    volatile boolean healthy;
    volatile String healthMessage = "not synced yet";

    public Agent(AgentOptions options, Programmers programmers, StatusSink sink, Clock clock) {
        this.options = options;
        this.programmers = programmers;
        this.sink = sink;
        this.clock = clock;
        this.memo = new NodeStateBuilder.Memo();
    }

    /** Outcome of one sync; {@code error} empty on success. */
    public record SyncResult(Optional<NodeState> state, Optional<Applied> applied, Optional<String> error) {
    }

    /** Brings the kernel to what {@code in} asks for and publishes the status. Never throws for bad input. */
    public SyncResult sync(Inputs in) {
        syncs.incrementAndGet();
        lastConfig = in.config().or(() -> lastConfig);
        Optional<NodeState> state = Optional.empty();
        try {
            if (in.problem().isPresent()) {
                return fail(state, "objects could not be read: " + in.problem().get());
            }
            if (in.config().isEmpty()) {
                return fail(state, options.stateDir().isPresent()
                        ? "no Cluster (baremetal.cluster.gke.io/v1) or ConfigMap " + DatapathConfig.CONFIG_MAP_NAME + " document in "
                          + options.stateDir().get() + ": add one so the agent knows the forward mode"
                        : "ConfigMap " + options.configNamespace() + "/" + DatapathConfig.CONFIG_MAP_NAME
                          + " not found: the lbmode operator writes it; is the operator running?");
            }
            DatapathConfig config = in.config().get();
            boolean nodeKnown = in.nodes().stream().anyMatch(n -> n.getMetadata() != null && options.node().equals(n.getMetadata().getName()));
            if (!nodeKnown) {
                return fail(state, "node " + options.node() + ": no Node object with metadata.name " + options.node()
                        + (options.stateDir().isPresent() ? " in " + options.stateDir().get() + ": add it or fix --node" : ": check --node / NODE_NAME"));
            }
            long buildStart = System.nanoTime();
            NodeStateBuilder.Result built = NodeStateBuilder.build(config.forwardMode(), config.hashSeed(), options.node(),
                    in.nodes(), in.services(), in.endpointSlices(), memo);
            double buildMillis = (System.nanoTime() - buildStart) / 1e6;
            built.warnings().forEach(w -> LOG.warn(w));
            state = Optional.of(built.state());
            ModeProgrammer programmer = programmerFor(config);
            if (options.dryRun()) {
                System.out.println("# lbmode datapath --dry-run: node " + options.node() + ", mode " + config.forwardMode().wireName()
                        + ", " + built.state().services().size() + " service ports, " + built.state().backendCount() + " backends, hash " + built.state().hash());
                System.out.print(programmer.render(built.state()));
                lastState = state;
                publish(state, Optional.empty());
                return new SyncResult(state, Optional.empty(), Optional.empty());
            }
            Applied applied = programmer.apply(built.state());
            if (!otherModeCleaned) {
                cleanupOtherMode(config.forwardMode());
            }
            if (applied.changedAnything() || lastState.isEmpty()) {
                generation++;
                LOG.info("programmed {} ({} service ports, {} backends, hash {}): {} {} changes in {} ms (desired state built in {} ms)",
                        config.forwardMode().wireName(), built.state().services().size(), built.state().backendCount(),
                        built.state().hash(), applied.full() ? "full replace," : "incremental,", applied.changes(),
                        String.format("%.1f", applied.took().toNanos() / 1e6), String.format("%.1f", buildMillis));
            }
            lastApplyMicros.set(applied.took().toNanos() / 1000);
            lastState = state;
            lastError = Optional.empty();
            lastSync = clock.instant();
            services = built.state().services().size();
            endpoints = built.state().backendCount();
            healthy = true;
            healthMessage = "ok";
            publish(state, Optional.empty());
            return new SyncResult(state, Optional.of(applied), Optional.empty());
        } catch (RuntimeException e) {
            String msg = e.getMessage() == null ? e.toString() : e.getMessage();
            return fail(state, msg);
        }
    }

    private SyncResult fail(Optional<NodeState> state, String message) {
        syncErrors.incrementAndGet();
        lastError = Optional.of(message);
        healthy = false;
        healthMessage = message;
        LOG.error(message);
        publish(state.or(() -> lastState), Optional.of(message));
        return new SyncResult(state, Optional.empty(), Optional.of(message));
    }

    /**
     * The programmer of the effective mode; a mode change replaces it after removing the old mode's state. The seed
     * travels in the {@link NodeState}: the programmer reprograms whatever depends on it when it changes.
     */
    private ModeProgrammer programmerFor(DatapathConfig config) {
        if (active.isPresent() && active.get().mode() != config.forwardMode()) {
            ModeProgrammer old = active.get();
            active = Optional.empty();
            if (!options.dryRun()) {
                LOG.info("forward mode now {}: removing {} state", config.forwardMode().wireName(), old.mode().wireName());
                old.cleanup();
            }
            old.close();
            otherModeCleaned = false;
            lastState = Optional.empty();
        }
        if (active.isEmpty()) {
            active = Optional.of(programmers.create(config.forwardMode()));
        }
        return active.get();
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

    /** Called every few seconds: restores the rules when someone flushed or edited them. */
    public void checkDrift() {
        if (active.isEmpty() || lastError.isPresent() || options.dryRun()) {
            return;
        }
        try {
            if (active.get().drifted()) {
                LOG.warn("{} rules were changed by someone else: restoring them", active.get().mode().wireName());
                active.get().repair();
                driftRepairs.incrementAndGet();
                generation++;
                publish(lastState, Optional.empty());
            }
        } catch (RuntimeException e) {
            LOG.error("drift repair failed: {}", e.getMessage());
            healthy = false;
            healthMessage = "drift repair failed: " + e.getMessage();
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

    Map<String, Long> drops() {
        return active.map(ModeProgrammer::dropCounters).orElse(Map.of());
    }

    long generation() {
        return generation;
    }

    /** The NodeDataplane this agent would publish now. */
    NodeDataplane nodeDataplane(Optional<NodeState> state, Optional<String> error, Optional<DatapathConfig> config) {
        NodeDataplane ndp = new NodeDataplane();
        ndp.setMetadata(new ObjectMetaBuilder().withName(options.node()).build());
        NodeDataplaneSpec spec = new NodeDataplaneSpec();
        spec.nodeName = options.node();
        config.ifPresent(c -> {
            spec.clusterNamespace = c.clusterNamespace();
            spec.clusterName = c.clusterName();
        });
        ndp.setSpec(spec);
        NodeDataplaneStatus st = new NodeDataplaneStatus();
        state.ifPresent(s -> {
            st.mode = s.mode().wireName();
            st.services = s.services().size();
            st.endpoints = s.backendCount();
            st.rulesetHash = s.hash();
        });
        st.interfaceName = options.interfaceName().isEmpty() ? null : options.interfaceName();
        st.rulesetGeneration = generation;
        st.lastSyncTime = lastSync.equals(Instant.EPOCH) ? null : lastSync.truncatedTo(ChronoUnit.SECONDS).toString();
        st.lastError = error.orElse(null);
        Map<String, Long> drops = new LinkedHashMap<>(drops());
        st.drops = drops.isEmpty() ? null : drops;
        st.agentVersion = VERSION;
        ndp.setStatus(st);
        return ndp;
    }

    private Optional<DatapathConfig> lastConfig = Optional.empty();

    private void publish(Optional<NodeState> state, Optional<String> error) {
        if (options.dryRun()) {
            System.out.println("# status that would be written:");
            System.out.print(io.lbmode.yaml.KubeYaml.toYaml(nodeDataplane(state, error, lastConfig)));
            return;
        }
        try {
            sink.publish(nodeDataplane(state, error, lastConfig));
        } catch (Exception e) {
            LOG.warn("could not write NodeDataplane status for {}: {}", options.node(), e.getMessage());
        }
    }
}
