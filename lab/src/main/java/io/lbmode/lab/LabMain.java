package io.lbmode.lab;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code ./lbmode lab up|down|demo [--mode snat|dsr] [--name PREFIX]} (root):
 * <ul>
 *   <li>{@code up}: builds the lab, writes a Cluster, the Nodes and Service {@code web} (VIP 172.16.20.16, TCP 80 and
 *       UDP 53, three pods), starts the pods and an agent per node, and leaves them running.</li>
 *   <li>{@code down}: stops them and removes the lab.</li>
 *   <li>{@code demo [--mode snat|dsr] [--out DIR] [--examples DIR]}: builds the lab, runs the real agents in SNAT
 *       and then DSR mode (or only {@code --mode}) with the Cluster of {@code examples/cluster-snat.yaml} and
 *       {@code examples/cluster-dsr.yaml}, and prints a side-by-side table with the direct client-to-pod path as the
 *       baseline ({@link LabDemo}); writes it as Markdown and a PNG chart to {@code DIR} (default
 *       {@code target/lab-demo} under the current directory). The lab is removed at the end, also on failure or
 *       Ctrl-C. {@code --rounds N} and {@code --window-ms MS} change how much it measures (default 5 rounds of
 *       600 ms bursts): more and longer rounds give steadier medians on a busy machine. With {@code --kube}, on the real control plane ({@link KubeDemo}): {@code kube/kube.sh up}, MetalLB,
 *       the agents in cluster mode, the Cluster applied with kubectl.</li>
 * </ul>
 * Exit codes: 0 ok, 1 failed, 2 usage.
 */
public final class LabMain {
    static final String VIP = "172.16.20.16";

    private LabMain() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length == 0 || !List.of("up", "down", "demo").contains(args[0])) {
            System.err.println("usage: lbmode lab up|down|demo [--mode snat|dsr] [--name PREFIX] [--out DIR] [--examples DIR] [--rounds N] [--window-ms MS] [--kube]   (needs root)");
            return 2;
        }
        ForwardMode mode = null;
        String name = "lbmode";
        Path out = Path.of("target", "lab-demo");
        Path examples = null;
        boolean kube = false;
        LabDemo.Settings settings = LabDemo.Settings.DEMO;
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            String v = a.contains("=") ? a.substring(a.indexOf('=') + 1) : (i + 1 < args.length ? args[i + 1] : "");
            if (!a.contains("=") && List.of("--mode", "--name", "--out", "--examples", "--rounds", "--window-ms").contains(a)) {
                i++;
            }
            if (a.equals("--kube") && args[0].equals("demo")) {
                kube = true;
            } else if (a.startsWith("--mode")) {
                mode = ForwardMode.fromWireName(v).orElse(null);
                if (mode == null) {
                    System.err.println("lbmode lab: --mode must be snat or dsr, not '" + v + "'");
                    return 2;
                }
            } else if (a.startsWith("--name")) {
                name = v;
            } else if (a.startsWith("--out") && !v.isEmpty()) {
                out = Path.of(v);
            } else if (a.startsWith("--examples") && !v.isEmpty()) {
                examples = Path.of(v);
            } else if (a.startsWith("--rounds") || a.startsWith("--window-ms")) {
                int n;
                try {
                    n = Integer.parseInt(v);
                } catch (NumberFormatException e) {
                    n = 0;
                }
                if (n < 1) {
                    System.err.println("lbmode lab: " + a.replaceAll("=.*", "") + " must be a positive number, not '" + v + "'");
                    return 2;
                }
                settings = a.startsWith("--rounds")
                        ? new LabDemo.Settings(n, settings.window(), settings.probeBytes(), settings.throughputBytes())
                        : new LabDemo.Settings(settings.rounds(), Duration.ofMillis(n), settings.probeBytes(), settings.throughputBytes());
            } else {
                System.err.println("lbmode lab: unknown argument '" + a + "'");
                return 2;
            }
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            System.err.println("lbmode lab: needs root (network namespaces, nftables): run it with sudo");
            return 1;
        }
        try {
            return switch (args[0]) {
                case "down" -> {
                    Lab.teardown(name);
                    System.out.println("lab " + name + " removed");
                    yield 0;
                }
                case "up" -> {
                    if (mode == null) {
                        mode = ForwardMode.SNAT;
                    }
                    Lab lab = up(new LabSpec(name, true), mode);
                    System.out.println("""
                            lab %1$s is up (%2$s). Try:
                              ip netns exec %1$s-client curl -s http://%3$s/          # answered by a pod, which prints the client it saw
                              ip netns exec %1$s-lb nft list table ip lbmode          # the SNAT rules
                              cat %4$s/lb/.status/nodedataplane-lb.yaml               # the agent's status
                              edit the YAML in %4$s/<node>/ and watch the agents follow; logs in %5$s
                            remove it with: ./lbmode lab down%6$s
                            """.formatted(name, mode.wireName(), VIP, lab.stateDir("x").getParent(), lab.logDir(),
                            name.equals("lbmode") ? "" : " --name " + name));
                    yield 0; // processes keep running after this JVM exits; 'down' stops them
                }
                default -> demo(mode == null ? List.of(ForwardMode.SNAT, ForwardMode.DSR) : List.of(mode), out, examples, kube, settings);
            };
        } catch (Exception e) {
            System.err.println("lbmode lab: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            return 1;
        }
    }

    /** Builds the lab with one Service and running agents; waits until every agent programmed it. */
    static Lab up(LabSpec spec, ForwardMode mode) throws Exception {
        Lab lab = Lab.start(spec);
        lab.writeObjects("cluster.yaml", LabObjects.cluster(mode) + LabObjects.nodes());
        lab.writeObjects("web.yaml", LabObjects.service("web", VIP, false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.ready("w2p1"), LabObjects.Ep.ready("w2p2"))));
        for (String node : Lab.NODES) {
            lab.startAgent(node);
        }
        lab.awaitPods();
        for (String node : Lab.NODES) {
            try {
                lab.awaitStatus(node, Duration.ofSeconds(40),
                        s -> s.getStatus() != null && s.getStatus().lastSyncTime != null || s.getStatus() != null && s.getStatus().lastError != null);
            } catch (AssertionError e) {
                throw new IllegalStateException("agent on " + node + " did not report: " + e.getMessage());
            }
            var st = lab.status(node).orElseThrow().getStatus();
            if (st.lastError != null) {
                throw new IllegalStateException("agent on " + node + ": " + st.lastError);
            }
        }
        return lab;
    }

    /**
     * The demo: one lab, the direct path and each mode through the VIP, a table on stdout and Markdown + PNG in
     * {@code out}; with {@code kube}, on the real control plane ({@link KubeDemo}). A shutdown hook removes what the
     * demo started when the JVM is stopped (Ctrl-C) while it runs.
     */
    private static int demo(List<ForwardMode> modes, Path out, Path examples, boolean kube, LabDemo.Settings settings) throws Exception {
        long t0 = System.nanoTime();
        Path examplesDir = examples != null ? examples : findExamples().orElse(null);
        if (examples != null && !Files.isDirectory(examples)) {
            System.err.println("lbmode lab: --examples " + examples + " is not a directory");
            return 2;
        }
        Cleanup cleanup = new Cleanup();
        AtomicBoolean done = new AtomicBoolean();
        Thread hook = new Thread(() -> {
            if (!done.get()) {
                System.err.println("lbmode lab: interrupted, removing what the demo started");
                cleanup.run();
            }
        }, "lab-teardown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            if (kube) {
                return KubeDemo.command(KubeDemo.findRoot(), modes, out, m -> clusterFor(m, examplesDir),
                        settings, cleanup);
            }
            LabSpec spec = LabSpec.unique();
            System.out.printf("building the lab (client, router, LB node, 2 workers, 3 pods; namespaces %s-*)...%n", spec.prefix());
            cleanup.push(() -> teardownQuietly(spec.prefix()));
            Lab lab = Lab.start(spec);
            cleanup.push(lab::close);
            lab.writeObjects("web.yaml", LabObjects.service("web", VIP, false, LabObjects.webPorts(),
                    List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.ready("w2p1"), LabObjects.Ep.ready("w2p2"))));
            LabDemo.Result result = LabDemo.run(lab, VIP, modes, m -> clusterFor(m, examplesDir),
                    settings, System.out);
            System.out.println();
            System.out.print(LabDemo.text(result));
            System.out.println();
            for (Path p : LabDemo.write(result, out)) {
                System.out.println("wrote " + p.toAbsolutePath().normalize());
            }
            cleanup.run();
            System.out.printf("lab removed; demo took %.0f s%n", (System.nanoTime() - t0) / 1e9);
            return 0;
        } finally {
            cleanup.run();
            done.set(true);
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down: the hook runs
            }
        }
    }

    static void teardownQuietly(String prefix) {
        try {
            Lab.teardown(prefix);
        } catch (IOException | InterruptedException e) {
            System.err.println("lbmode lab: cleanup of lab " + prefix + " incomplete: " + e.getMessage());
        }
    }

    /** What the demo started, stopped in reverse order, once (at the end, on failure, or from the shutdown hook). */
    static final class Cleanup {
        private final java.util.Deque<Runnable> steps = new java.util.concurrent.ConcurrentLinkedDeque<>();

        void push(Runnable step) {
            steps.push(step);
        }

        void run() {
            for (Runnable step = steps.poll(); step != null; step = steps.poll()) {
                try {
                    step.run();
                } catch (RuntimeException e) {
                    System.err.println("lbmode lab: cleanup incomplete: " + e.getMessage());
                }
            }
        }
    }

    /** {@code examples/cluster-MODE.yaml}, or (no examples dir) the lab's built-in Cluster of that mode. */
    public static LabDemo.ClusterDoc clusterFor(ForwardMode mode, Path examplesDir) {
        if (examplesDir != null) {
            Path file = examplesDir.resolve("cluster-" + mode.wireName() + ".yaml");
            try {
                return new LabDemo.ClusterDoc(Files.readString(file), relative(file));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + file, e);
            }
        }
        return new LabDemo.ClusterDoc(LabObjects.cluster(mode), "built in (no examples/ dir found; --examples DIR)");
    }

    private static String relative(Path file) {
        Path abs = file.toAbsolutePath().normalize();
        Path cwd = Path.of("").toAbsolutePath();
        return abs.startsWith(cwd) ? cwd.relativize(abs).toString() : abs.toString();
    }

    /** The repository's {@code examples/}: above the current directory, or above the jar this class came from. */
    public static Optional<Path> findExamples() {
        List<Path> starts = new ArrayList<>();
        starts.add(Path.of("").toAbsolutePath());
        try {
            starts.add(Path.of(LabMain.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
        } catch (Exception e) {
            // no code source: the current directory only
        }
        for (Path start : starts) {
            for (Path p = start; p != null; p = p.getParent()) {
                if (Files.isRegularFile(p.resolve("examples").resolve("cluster-snat.yaml"))
                        && Files.isRegularFile(p.resolve("examples").resolve("cluster-dsr.yaml"))) {
                    return Optional.of(p.resolve("examples"));
                }
            }
        }
        return Optional.empty();
    }
}
