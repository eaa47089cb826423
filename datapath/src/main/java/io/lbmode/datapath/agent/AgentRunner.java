package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.lbmode.datapath.program.Applied;
import java.io.IOException;
import java.time.Clock;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the {@link Agent} on one thread: syncs on changes (a burst becomes one sync), re-reads a state dir when its files change,
 * checks for drift every {@value #DRIFT_CHECK_SECONDS} s (so edits are undone within 10 s) and retries a failed sync
 * or drift repair with exponential backoff (1 s doubling to 60 s, from 1 s again after a success).
 */
public final class AgentRunner implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AgentRunner.class);
    static final int DRIFT_CHECK_SECONDS = 3;
    /** How often a state dir's file list, sizes and times are compared (a stat per file), besides the kernel's notices. */
    static final int STATE_DIR_POLL_MILLIS = 100;

    private final AgentOptions options;
    private final Programmers programmers;
    private final ScheduledExecutorService loop = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "lbmode-agent");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean syncPending = new AtomicBoolean();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private Agent agent;
    private HealthServer health;
    private AutoCloseable source = () -> {
    };
    /** Set once the source exists; informers may ask for a sync before that (their first list). */
    private volatile Supplier<Inputs> inputs;
    private String fingerprint = "";
    private final Backoff backoff;
    private ScheduledFuture<?> retry;

    private final Supplier<KubernetesClient> clients;

    public AgentRunner(AgentOptions options, Programmers programmers) {
        this(options, programmers, () -> new KubernetesClientBuilder().build());
    }

    /** @param clients the API client for in-cluster mode (tests pass the mock server's) */
    public AgentRunner(AgentOptions options, Programmers programmers, Supplier<KubernetesClient> clients) {
        this(options, programmers, clients, new Backoff(Backoff.FIRST, Backoff.MAX));
    }

    /** @param backoff delays between retries (tests pass short ones) */
    AgentRunner(AgentOptions options, Programmers programmers, Supplier<KubernetesClient> clients, Backoff backoff) {
        this.options = options;
        this.programmers = programmers;
        this.clients = clients;
        this.backoff = backoff;
    }

    /** Exit code: {@code --once}/{@code --dry-run}: 0 programmed, 1 not; continuous: runs until {@link #close()}. */
    public int run() throws IOException, InterruptedException {
        if (options.cleanup()) {
            Agent a = new Agent(options, programmers, StatusSink.NONE, Clock.systemUTC());
            var errors = a.cleanupAll();
            errors.ifPresent(e -> System.err.println("lbmode datapath --cleanup: " + e));
            return errors.isPresent() ? 1 : 0;
        }
        if (options.stateDir().isPresent()) {
            StateDirSource dir = new StateDirSource(options.stateDir().get());
            StatusSink sink = options.dryRun() ? StatusSink.NONE : new FileStatusSink(options.stateDir().get(), options.node());
            agent = new Agent(options, programmers, sink, Clock.systemUTC());
            inputs = dir::read;
            if (options.once()) {
                Agent.SyncResult r = agent.sync(dir.read());
                r.error().ifPresent(e -> System.err.println("lbmode datapath: " + e));
                return r.error().isPresent() ? 1 : 0;
            }
            fingerprint = dir.fingerprint();
            Runnable checkDir = () -> {
                String now = dir.fingerprint();
                if (!now.equals(fingerprint)) {
                    fingerprint = now;
                    requestSync();
                }
            };
            loop.scheduleWithFixedDelay(checkDir, STATE_DIR_POLL_MILLIS, STATE_DIR_POLL_MILLIS, TimeUnit.MILLISECONDS);
            // The kernel's notice starts the same check at once; the poll stays for file systems without one.
            source = dir.watch(() -> {
                try {
                    loop.execute(checkDir);
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    // stopping
                }
            });
        } else {
            KubernetesClient client = clients.get();
            agent = new Agent(options, programmers, ClusterSource.apiSink(client, options.node()), Clock.systemUTC());
            ClusterSource cs = new ClusterSource(client, options.configNamespace(), options.node(), this::requestSync);
            inputs = cs::read;
            goingAway = () -> Uninstall.reason(client, options.configNamespace(), cs::configMapDeleted);
            source = () -> {
                cs.close();
                client.close();
            };
        }
        if (options.healthPort() > 0) {
            health = new HealthServer(options.healthAddress(), options.healthPort(), agent);
        }
        requestSync();
        loop.scheduleWithFixedDelay(this::checkDrift, DRIFT_CHECK_SECONDS, DRIFT_CHECK_SECONDS, TimeUnit.SECONDS);
        Runtime.getRuntime().addShutdownHook(new Thread(this::close, "lbmode-agent-shutdown"));
        stopped.await();
        return 0;
    }

    /**
     * A sync as soon as the loop is free, without waiting for more: a sync costs what changed, and every millisecond
     * counts in the time from an API write to the kernel (this waited 100 ms, then 10 ms, for events to gather). The
     * events that come while a sync runs gather by themselves and become the next one.
     */
    void requestSync() {
        if (syncPending.compareAndSet(false, true)) {
            loop.execute(() -> {
                syncPending.set(false);
                syncNow();
            });
        }
    }

    private void syncNow() {
        if (inputs == null) {
            return; // run() requests a sync once the source is ready
        }
        try {
            Agent.SyncResult result = agent.sync(inputs.get());
            if (result.applied().map(Applied::full).orElse(false)) {
                // A full load leaves its garbage (objects read, the whole script) in a heap grown for it: one full
                // collection now lets the serial collector shrink the heap back (MaxHeapFreeRatio in jvm.options).
                System.gc();
            }
        } catch (RuntimeException e) {
            LOG.error("sync failed", e);
        }
        afterAttempt();
    }

    /** After a sync or repair: retry while the kernel lacks the desired state, each time later; else start over. */
    private void afterAttempt() {
        if (retry != null) {
            retry.cancel(false);
            retry = null;
        }
        if (!agent.failing()) {
            backoff.reset();
            return;
        }
        java.time.Duration delay = backoff.next();
        LOG.info("retrying in {} s", String.format("%.1f", delay.toMillis() / 1000.0));
        retry = loop.schedule(this::syncNow, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void checkDrift() {
        agent.loopTick = System.nanoTime();
        try {
            if (!agent.failing() && !agent.checkDrift()) {
                afterAttempt();
            }
        } catch (RuntimeException e) {
            LOG.error("drift check failed", e);
        }
    }

    /** In-cluster mode: whether the agent is stopped because lbmode is leaving the node (see {@link Uninstall}). */
    private volatile Supplier<java.util.Optional<String>> goingAway = java.util.Optional::empty;

    /**
     * Stops the agent (SIGTERM runs this through the shutdown hook). The kernel state stays, so that a restart or a
     * rolling update keeps forwarding, unless lbmode is leaving the node: then every lbmode nft table, tc program and
     * pinned map is removed first.
     */
    @Override
    public void close() {
        if (stopped.getCount() == 0) {
            return;
        }
        loop.shutdownNow();
        try {
            loop.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        var reason = agent == null ? java.util.Optional.<String>empty() : goingAway.get();
        if (reason.isPresent()) {
            LOG.info("stopping and removing this node's lbmode kernel state: {}", reason.get());
            agent.cleanupAll().ifPresentOrElse(e -> LOG.error("removing the kernel state failed: {}", e),
                    () -> LOG.info("removed every lbmode nft table, tc program and pinned map"));
        } else if (agent != null) {
            LOG.info("stopping; the kernel state stays for the next agent (the DaemonSet is not known to be gone)");
        }
        if (health != null) {
            health.close();
        }
        try {
            source.close();
        } catch (Exception e) {
            LOG.debug("closing source", e);
        }
        stopped.countDown();
    }

    /** For tests in the same JVM. */
    Agent agent() {
        return agent;
    }

    int healthPort() {
        return health == null ? 0 : health.port();
    }
}
