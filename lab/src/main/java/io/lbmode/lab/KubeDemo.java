package io.lbmode.lab;

import io.lbmode.crds.cluster.v1.ForwardMode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * {@code ./lbmode demo --kube}: the demo's measurements ({@link LabDemo}) with the seed's scenario on the real control
 * plane instead of standalone agents: the Cluster applied with kubectl, the operator writing the datapath ConfigMap,
 * the agents in cluster mode, MetalLB's controller assigning {@value KubeLab#VIP} and its speaker on the LB node
 * answering ARP for it ({@link KubeLab}). The table gets one more row: which node answered ARP for the VIP.
 */
public final class KubeDemo {
    private KubeDemo() {
    }

    /**
     * Runs the demo in a lab on the control plane: Service web, MetalLB's speaker on the LB node, then
     * {@link LabDemo#run} with each mode's Cluster applied through the API.
     */
    public static LabDemo.Result run(KubeLab kube, List<ForwardMode> modes, Function<ForwardMode, LabDemo.ClusterDoc> clusters,
                                     LabDemo.Settings settings, PrintStream progress) throws Exception {
        progress.printf("control plane: Nodes %s, MetalLB controller running, IPAddressPool 172.16.20.16/28, "
                + "L2Advertisement on the LB node's eth0%n", String.join(", ", kube.nodes()));
        kube.applyService(List.of("w1p1", "w2p1", "w2p2"));
        kube.awaitAssigned();
        kube.startSpeaker(Lab.LB);
        progress.printf("Service web (type LoadBalancer) got %s from MetalLB; its speaker runs in the LB node's namespace%n",
                KubeLab.VIP);
        return LabDemo.run(kube.lab(), setting(kube), KubeLab.VIP, modes, clusters, settings, progress);
    }

    /** Switching modes through the API: a new Cluster per mode (forwardMode is immutable), the agents follow. */
    static LabDemo.Setting setting(KubeLab kube) {
        return new LabDemo.Setting() {
            private boolean agentsStarted;

            @Override
            public void switchTo(ForwardMode mode, LabDemo.ClusterDoc cluster) throws Exception {
                kube.applyCluster(cluster.yaml(), mode);
                if (!agentsStarted) {
                    kube.startAgents();
                    agentsStarted = true;
                }
                kube.lab().awaitPods();
                kube.awaitProgrammed(mode, 1, 3);
                kube.lab().await("the client reaches " + KubeLab.VIP + " (the speaker answered ARP)", Duration.ofSeconds(60), () -> {
                    try {
                        return kube.lab().httpGet(Lab.CLIENT, KubeLab.VIP, 80, "/").startsWith("pod=");
                    } catch (IOException e) {
                        return false;
                    }
                });
            }

            @Override
            public String vipArpAnswer() throws Exception {
                return kube.vipArpAnswer().map(a -> a.node() + " (eth0 " + a.mac() + ")").orElse("nobody");
            }

            @Override
            public String description() {
                return "agents in cluster mode on a real control plane, Cluster applied with kubectl, "
                        + "VIP from MetalLB's controller, ARP answered by its speaker";
            }
        };
    }

    /**
     * The command: starts the control plane with {@code kube/kube.sh up} (its settings: LBMODE_KUBE_ADDRESS,
     * LBMODE_KUBE_STATE; reused when it already runs), builds MetalLB once ({@code kube/build-metallb.sh}), runs the
     * demo in a new lab, prints the table and writes Markdown + PNG to {@code out}. Stops the control plane at the end
     * when it started it. Returns the exit code.
     */
    static int command(Path root, List<ForwardMode> modes, Path out, Function<ForwardMode, LabDemo.ClusterDoc> clusters,
                       LabDemo.Settings settings, LabMain.Cleanup cleanup) throws Exception {
        long t0 = System.nanoTime();
        Path kubeSh = root.resolve("kube/kube.sh");
        boolean wasRunning = script(kubeSh.toString(), "status").stdout().contains("kube-apiserver: running");
        System.out.println(wasRunning ? "control plane: already running (./lbmode kube up), reused and left running"
                : "control plane: ./lbmode kube up (the first run builds it from Go modules: about 9 minutes)...");
        Lab.ExecResult up = script(kubeSh.toString(), "up");
        up.ok("kube/kube.sh up");
        if (!wasRunning) {
            cleanup.push(() -> {
                try {
                    script(kubeSh.toString(), "down");
                } catch (IOException | InterruptedException e) {
                    System.err.println("lbmode demo: kube down: " + e.getMessage());
                }
            });
        }
        System.out.println("MetalLB: kube/build-metallb.sh (the first run builds v0.15.2 from Go modules: about 3 minutes)...");
        Lab.ExecResult built = script(root.resolve("kube/build-metallb.sh").toString());
        built.ok("kube/build-metallb.sh");
        Path metallb = Path.of(built.stdout().strip().lines().reduce((a, b) -> b).orElseThrow());
        KubeLab.ControlPlane plane = KubeLab.ControlPlane.fromKubeUp(root, up.stdout());

        LabSpec spec = LabSpec.unique();
        System.out.printf("building the lab (client, router, LB node, 2 workers, 3 pods; namespaces %s-*)...%n", spec.prefix());
        cleanup.push(() -> LabMain.teardownQuietly(spec.prefix()));
        Lab lab = Lab.start(spec);
        LabDemo.Result result;
        try (KubeLab kube = KubeLab.start(lab, plane, metallb)) {
            cleanup.push(kube::close);
            result = run(kube, modes, clusters, settings, System.out);
        }
        System.out.println();
        System.out.print(LabDemo.text(result));
        System.out.println();
        for (Path p : LabDemo.write(result, out)) {
            System.out.println("wrote " + p.toAbsolutePath().normalize());
        }
        System.out.printf(Locale.ROOT, "lab removed (logs: %s); demo took %.0f s%n", plane.logDir(), (System.nanoTime() - t0) / 1e9);
        return 0;
    }

    /** Runs a script of the repository; its stderr (progress) goes to ours, its stdout is returned. */
    private static Lab.ExecResult script(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        return new Lab.ExecResult(p.waitFor(), out, "(see above)");
    }

    /** The repository: the directory above the current one or above this jar that holds {@code kube/kube.sh}. */
    static Path findRoot() {
        List<Path> starts = new ArrayList<>();
        starts.add(Path.of("").toAbsolutePath());
        try {
            starts.add(Path.of(KubeDemo.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
        } catch (Exception e) {
            // no code source: the current directory only
        }
        for (Path start : starts) {
            for (Path p = start; p != null; p = p.getParent()) {
                if (Files.isRegularFile(p.resolve("kube/kube.sh")) && Files.isRegularFile(p.resolve("lbmode"))) {
                    return p;
                }
            }
        }
        throw new IllegalStateException("the lbmode repository (kube/kube.sh) was not found above " + starts.getFirst());
    }
}
