package io.lbmode.datapath.bench;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapathconfig.DatapathConfig;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Benchmark (not a test): kube-proxy in nftables mode against lbmode's agent (SNAT), each in its own network namespace,
 * both watching the same real API server with N LoadBalancer Services x K endpoints created through the API.
 * Prints sync time (process start to the last Service's VIP in the kernel), time from an EndpointSlice write to the
 * new endpoint in each kernel (seen by {@code nft monitor} in each namespace), and RSS. Run by
 * {@code lab/bench/kube-proxy-vs-agent.sh}, which builds the control plane and the namespaces.
 *
 * <p>Arguments: {@code SERVICES ENDPOINTS CHANGES PROXY_NS AGENT_NS KUBE_PROXY_BINARY LBMODE_LAUNCHER KUBECONFIG LOG_DIR};
 * {@code -} as KUBE_PROXY_BINARY runs the agent alone.
 */
public final class KubeProxyComparison {
    private static final String NS = "l14-bench";
    private static final String SYSTEM_NS = "lbmode-system";

    private KubeProxyComparison() {
    }

    static String vip(int i) {
        return "172.20." + (i / 250) + "." + (i % 250 + 1);
    }

    static String endpointAddress(int i, int e) {
        // 10.(210+e).x.y: distinct per endpoint and service
        return "10." + (210 + e) + "." + (i / 250) + "." + (i % 250 + 1);
    }

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        int k = Integer.parseInt(args[1]);
        int changes = Integer.parseInt(args[2]);
        String proxyNs = args[3];
        String agentNs = args[4];
        String kubeProxy = args[5];
        String launcher = args[6];
        String kubeconfig = args[7];
        Path logs = Path.of(args[8]);
        Files.createDirectories(logs);
        try (KubernetesClient client = new KubernetesClientBuilder().build()) {
            populate(client, n, k, List.of(proxyNs, agentNs));

            List<String[]> rows = new ArrayList<>();
            // One after the other, so neither start competes with the other for the 2 cores.
            boolean withProxy = !kubeProxy.equals("-"); // "-": the agent alone
            Proc proxy = !withProxy ? null : start(logs.resolve("kube-proxy.log"), "ip", "netns", "exec", proxyNs, kubeProxy,
                    "--kubeconfig=" + kubeconfig, "--proxy-mode=nftables", "--hostname-override=" + proxyNs,
                    "--conntrack-max-per-core=0", "--cluster-cidr=10.244.0.0/16", "--v=1");
            double proxySync = !withProxy ? Double.NaN : awaitVip(proxyNs, "ip kube-proxy service-ips", vip(n - 1), proxy);
            Proc agent = start(logs.resolve("agent.log"), "ip", "netns", "exec", agentNs, launcher, "datapath",
                    "--node", agentNs, "--config-namespace", SYSTEM_NS, "--health-port", "0");
            double agentSync = awaitVip(agentNs, "ip lbmode service-ports", vip(n - 1), agent);
            Thread.sleep(3000);
            long proxyRss = withProxy ? rssKb(proxy.p.pid()) : -1;
            long agentRss = rssKb(agent.p.pid());

            Monitor mp = !withProxy ? null : new Monitor(proxyNs, logs.resolve("monitor-kube-proxy.log"));
            Monitor ma = new Monitor(agentNs, logs.resolve("monitor-agent.log"));
            // A first change that is not counted: each nft monitor reads the whole ruleset when it starts.
            change(client, n, -1, mp, ma);
            Thread.sleep(1500);
            List<Double> lp = new ArrayList<>();
            List<Double> la = new ArrayList<>();
            for (int c = 0; c < changes; c++) {
                double[] ms = change(client, n, c, mp, ma);
                lp.add(ms[0]);
                la.add(ms[1]);
                Thread.sleep(1500); // past kube-proxy's 1 s minimum sync period, so every change is a fresh one
            }
            long proxyRssAfter = withProxy ? rssKb(proxy.p.pid()) : -1;
            long agentRssAfter = rssKb(agent.p.pid());
            if (withProxy) {
                mp.close();
                proxy.stop();
            }
            ma.close();
            agent.stop();

            System.out.printf("%n%,d LoadBalancer Services x %d endpoints through the API server; %d EndpointSlice writes%n", n, k, changes);
            System.out.printf("%-52s %18s %18s %8s%n", "", "kube-proxy nft", "lbmode agent", "ratio");
            row("sync: process start to all VIPs in the kernel (s)", proxySync, agentSync);
            row("API write to kernel p50 (ms)", pct(lp, 50), pct(la, 50));
            row("API write to kernel p99 (ms)", pct(lp, 99), pct(la, 99));
            row("API write to kernel max (ms)", pct(lp, 100), pct(la, 100));
            row("RSS after sync (MB)", proxyRss / 1024.0, agentRss / 1024.0);
            row("RSS after the changes (MB)", proxyRssAfter / 1024.0, agentRssAfter / 1024.0);
            System.out.println("(ratio = kube-proxy / lbmode; > 1 means lbmode is lower; a change not seen within 30 s counts as infinite)");
            System.out.println("kube-proxy ms: " + lp);
            System.out.println("lbmode ms:     " + la);
        }
    }

    /** Distinguishes this run's endpoint addresses from an earlier run's on the same Services. */
    private static final int RUN = (int) (System.currentTimeMillis() / 1000 % 250);

    /** Replaces the first endpoint of one Service's slice by a new address: ms until each kernel has it. */
    static double[] change(KubernetesClient client, int n, int c, Monitor mp, Monitor ma) throws InterruptedException {
        int svc = (int) (((c + 1) * 7919L) % n);
        // Addresses of this run only: a run on a kept control plane (BENCH_KEEP_KUBE) writing the previous run's
        // address would change nothing, and no watch event would come.
        String fresh = c < 0 ? "10.198." + RUN + ".1" : "10." + (200 + c / 250) + "." + RUN + "." + (c % 250 + 1);
        EndpointSlice slice = client.discovery().v1().endpointSlices().inNamespace(NS).withName("s" + svc + "-1").get();
        slice.getEndpoints().get(0).setAddresses(List.of(fresh));
        if (mp != null) {
            mp.expect(fresh);
        }
        ma.expect(fresh);
        long t0 = System.nanoTime();
        client.discovery().v1().endpointSlices().inNamespace(NS).resource(slice).update();
        double agent = ma.await(fresh, t0);
        return new double[]{mp == null ? Double.NaN : mp.await(fresh, t0), agent};
    }

    private static void row(String what, double proxy, double agent) {
        System.out.printf("%-52s %18.1f %18.1f %7.1fx%n", what, proxy, agent, proxy / agent);
    }

    static double pct(List<Double> values, int p) {
        List<Double> s = values.stream().map(v -> v.isNaN() ? Double.POSITIVE_INFINITY : v).sorted().toList();
        if (s.isEmpty()) {
            return Double.NaN;
        }
        int idx = (int) Math.ceil(p / 100.0 * s.size()) - 1;
        return s.get(Math.max(0, Math.min(s.size() - 1, idx)));
    }

    /** The namespaces, the agent's ConfigMap, one Node per netns, N Services with LB status and their slices (idempotent). */
    static void populate(KubernetesClient client, int n, int k, List<String> nodes) throws Exception {
        for (String ns : List.of(NS, SYSTEM_NS)) {
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).serverSideApply();
        }
        DatapathConfig config = new DatapathConfig(ForwardMode.SNAT, List.of("10.244.0.0/16"), List.of("10.96.0.0/12"),
                "cluster-bench", "bench", DatapathConfig.seedFor("cluster-bench", "bench"), List.of("172.20.0.0/16"));
        client.configMaps().inNamespace(SYSTEM_NS).resource(new ConfigMapBuilder().withNewMetadata()
                .withName(DatapathConfig.CONFIG_MAP_NAME).endMetadata().withData(config.toConfigMapData()).build()).serverSideApply();
        for (int i = 0; i < nodes.size(); i++) {
            String node = nodes.get(i);
            client.nodes().resource(new NodeBuilder().withNewMetadata().withName(node).addToLabels("kubernetes.io/hostname", node)
                    .endMetadata().withNewStatus().addNewAddress().withType("InternalIP").withAddress("10.252." + (i + 1) + ".2")
                    .endAddress().endStatus().build()).serverSideApply();
        }
        int have = client.services().inNamespace(NS).list().getItems().size();
        long t0 = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(12);
        List<Future<?>> done = new ArrayList<>();
        for (int i = have; i < n; i++) {
            int s = i;
            done.add(pool.submit(() -> {
                Service svc = client.services().inNamespace(NS).resource(new ServiceBuilder().withNewMetadata().withName("s" + s).endMetadata()
                        .withNewSpec().withType("LoadBalancer").withAllocateLoadBalancerNodePorts(false)
                        .addNewPort().withName("http").withProtocol("TCP").withPort(80).withNewTargetPort(8080).endPort()
                        .endSpec().build()).create();
                svc.setStatus(new io.fabric8.kubernetes.api.model.ServiceStatusBuilder().withNewLoadBalancer()
                        .addNewIngress().withIp(vip(s)).endIngress().endLoadBalancer().build());
                client.services().inNamespace(NS).resource(svc).updateStatus();
                EndpointSliceBuilder b = new EndpointSliceBuilder().withNewMetadata().withName("s" + s + "-1")
                        .addToLabels("kubernetes.io/service-name", "s" + s)
                        .addToLabels("endpointslice.kubernetes.io/managed-by", "l14-bench").endMetadata()
                        .withAddressType("IPv4").addNewPort().withName("http").withProtocol("TCP").withPort(8080).endPort();
                for (int e = 0; e < k; e++) {
                    b.addToEndpoints(new EndpointBuilder().withAddresses(endpointAddress(s, e)).withNodeName("w")
                            .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions().build());
                }
                client.discovery().v1().endpointSlices().inNamespace(NS).resource(b.build()).create();
                return null;
            }));
        }
        for (Future<?> f : done) {
            f.get();
        }
        pool.shutdown();
        if (have < n) {
            System.out.printf("created %,d Services (+ status) and EndpointSlices in %.1f s%n", n - have, (System.nanoTime() - t0) / 1e9);
        }
    }

    record Proc(Process p, long startNanos) {
        void stop() throws InterruptedException {
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
            }
        }
    }

    static Proc start(Path log, String... cmd) throws IOException {
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new Proc(p, t0);
    }

    /** Seconds from the start of {@code proc} until {@code nft get element} finds the VIP in the map. */
    static double awaitVip(String netns, String map, String vip, Proc proc) throws Exception {
        String[] parts = map.split(" ");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (!proc.p.isAlive()) {
                throw new IllegalStateException(netns + ": process exited " + proc.p.exitValue());
            }
            Process get = new ProcessBuilder("ip", "netns", "exec", netns, "nft", "get", "element", parts[0], parts[1], parts[2],
                    "{ " + vip + " . tcp . 80 }").redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (get.waitFor() == 0) {
                return (System.nanoTime() - proc.startNanos) / 1e9;
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException(netns + ": " + vip + " never reached " + map);
    }

    static long rssKb(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    /** {@code nft monitor} in a namespace: when each line arrived. */
    static final class Monitor implements AutoCloseable {
        private final Process p;
        private final Map<String, Long> firstSeen = new ConcurrentHashMap<>();
        private final Map<String, Pattern> pending = new ConcurrentHashMap<>();
        private final Object lock = new Object();

        Monitor(String netns, Path log) throws IOException {
            p = new ProcessBuilder("ip", "netns", "exec", netns, "stdbuf", "-oL", "nft", "monitor").redirectErrorStream(true).start();
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
                     var w = Files.newBufferedWriter(log)) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        long now = System.nanoTime();
                        w.write(line);
                        w.newLine();
                        for (var want : pending.entrySet()) {
                            if (want.getValue().matcher(line).find()) {
                                firstSeen.putIfAbsent(want.getKey(), now);
                                synchronized (lock) {
                                    lock.notifyAll();
                                }
                            }
                        }
                    }
                } catch (IOException e) {
                    // closed
                }
            }, "monitor-" + netns);
            t.setDaemon(true);
            t.start();
        }

        /** Milliseconds from {@code t0} until a line naming {@code address} ({@link #expect}ed before) arrived (NaN after 30 s). */
        void expect(String address) {
            pending.put(address, Pattern.compile("(^|[^0-9.])" + Pattern.quote(address) + "([^0-9]|$)"));
        }

        /** Like {@link #expect} for a line that deletes something naming {@code address}; await it as {@code "delete " + address}. */
        void expectDeletion(String address) {
            pending.put("delete " + address, Pattern.compile("^delete .*[^0-9.]" + Pattern.quote(address) + "([^0-9]|$)"));
        }

        double await(String address, long t0) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            synchronized (lock) {
                while (!firstSeen.containsKey(address) && System.nanoTime() < deadline) {
                    lock.wait(50);
                }
            }
            pending.remove(address);
            Long seen = firstSeen.get(address);
            return seen == null ? Double.NaN : (seen - t0) / 1e6;
        }

        @Override
        public void close() {
            p.destroy();
        }
    }
}
