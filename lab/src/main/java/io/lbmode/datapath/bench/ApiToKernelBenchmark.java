package io.lbmode.datapath.bench;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServiceStatusBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Benchmark (not a test): time from an API write to the kernel for lbmode's agent in cluster mode (SNAT,
 * {@code ./lbmode datapath} in its own network namespace) against a real API server, for the three writes a cluster
 * makes: a Service created (the Service, its status as MetalLB writes it, its EndpointSlice; timed from the first
 * write), an endpoint changed (an EndpointSlice update), a Service deleted. Measured at each of SIZES Services
 * (e.g. 10 and 1,000) in the same run, the first size being the baseline: medians, p99 and the ratio against it.
 * The kernel side is {@code nft monitor} in the agent's namespace (the line that adds or deletes the element).
 * Run by {@code lab/bench/api-to-kernel.sh}, which starts the control plane and the namespace.
 *
 * <p>Arguments: {@code SIZES (comma-separated, ascending) WRITES AGENT_NS LBMODE_LAUNCHER LOG_DIR}.
 */
public final class ApiToKernelBenchmark {
    private static final String NS = "l14-bench"; // KubeProxyComparison's namespace: populate() and change() work there
    private static final String SYSTEM_NS = "lbmode-system";

    private ApiToKernelBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        List<Integer> sizes = java.util.Arrays.stream(args[0].split(",")).map(Integer::parseInt).toList();
        int writes = Integer.parseInt(args[1]);
        String agentNs = args[2];
        String launcher = args[3];
        Path logs = Path.of(args[4]);
        Files.createDirectories(logs);
        Map<Integer, Map<String, List<Double>>> results = new LinkedHashMap<>();
        try (KubernetesClient client = new KubernetesClientBuilder().build()) {
            for (int size = 0; size < sizes.size(); size++) {
                int n = sizes.get(size);
                KubeProxyComparison.populate(client, n, 1, List.of(agentNs));
                KubeProxyComparison.Proc agent = KubeProxyComparison.start(logs.resolve("agent-" + n + ".log"), "ip", "netns", "exec",
                        agentNs, launcher, "datapath", "--node", agentNs, "--config-namespace", SYSTEM_NS, "--health-port", "0");
                double sync = KubeProxyComparison.awaitVip(agentNs, "ip lbmode service-ports", KubeProxyComparison.vip(n - 1), agent);
                System.out.printf(Locale.ROOT, "%,d Services: the agent synced in %.1f s%n", n, sync);
                Map<String, List<Double>> ms = new LinkedHashMap<>();
                for (String kind : List.of("create", "change", "delete")) {
                    ms.put(kind, new ArrayList<>());
                }
                try (KubeProxyComparison.Monitor monitor = new KubeProxyComparison.Monitor(agentNs, logs.resolve("monitor-" + n + ".log"))) {
                    // One round not counted: nft monitor reads the whole ruleset when it starts, the agent's JIT warms up.
                    for (int w = -1; w < writes; w++) {
                        double[] round = round(client, n, w, size * (writes + 1) + w + 1, monitor);
                        if (w >= 0) {
                            ms.get("create").add(round[0]);
                            ms.get("change").add(round[1]);
                            ms.get("delete").add(round[2]);
                        }
                    }
                }
                agent.stop();
                results.put(n, ms);
            }
        }
        int base = sizes.getFirst();
        System.out.printf(Locale.ROOT, "%nAPI write to kernel, lbmode agent (SNAT, cluster mode), %d writes of each kind per size (ms)%n", writes);
        System.out.printf(Locale.ROOT, "%-10s %10s %10s %10s %10s %14s%n", "write", "Services", "p50", "p99", "max", "p50 vs " + base);
        for (String kind : List.of("create", "change", "delete")) {
            double baseP50 = KubeProxyComparison.pct(results.get(base).get(kind), 50);
            for (int n : sizes) {
                List<Double> v = results.get(n).get(kind);
                double p50 = KubeProxyComparison.pct(v, 50);
                System.out.printf(Locale.ROOT, "%-10s %,10d %10.1f %10.1f %10.1f %13.2fx%n", kind, n, p50,
                        KubeProxyComparison.pct(v, 99), KubeProxyComparison.pct(v, 100), p50 / baseP50);
            }
        }
        System.out.println("(a write not seen in the kernel within 30 s counts as infinite)");
        results.forEach((n, ms) -> ms.forEach((kind, v) -> System.out.println(n + " " + kind + " ms: " + v)));
    }

    /**
     * One write of each kind: creates Service {@code a<w>} (VIP 172.21.x.y, one endpoint 10.201.x.y), changes an
     * endpoint of one of the N Services (its {@code change}-th new address), deletes {@code a<w>}. Returns the
     * milliseconds of each.
     */
    private static double[] round(KubernetesClient client, int n, int w, int change, KubeProxyComparison.Monitor monitor)
            throws Exception {
        int id = w + 1;
        String name = "a" + id;
        String vip = "172.21." + (id / 250) + "." + (id % 250 + 1);
        String endpoint = "10.201." + (id / 250) + "." + (id % 250 + 1);
        monitor.expect(endpoint);
        long t0 = System.nanoTime();
        Service svc = client.services().inNamespace(NS).resource(new ServiceBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewSpec().withType("LoadBalancer").withAllocateLoadBalancerNodePorts(false)
                .addNewPort().withName("http").withProtocol("TCP").withPort(80).withNewTargetPort(8080).endPort()
                .endSpec().build()).create();
        svc.setStatus(new ServiceStatusBuilder().withNewLoadBalancer().addNewIngress().withIp(vip).endIngress().endLoadBalancer().build());
        client.services().inNamespace(NS).resource(svc).updateStatus();
        client.discovery().v1().endpointSlices().inNamespace(NS).resource(new EndpointSliceBuilder().withNewMetadata()
                .withName(name + "-1").addToLabels("kubernetes.io/service-name", name)
                .addToLabels("endpointslice.kubernetes.io/managed-by", "l14-bench").endMetadata()
                .withAddressType("IPv4").addNewPort().withName("http").withProtocol("TCP").withPort(8080).endPort()
                .addToEndpoints(new EndpointBuilder().withAddresses(endpoint).withNodeName("w")
                        .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions().build())
                .build()).create();
        double create = monitor.await(endpoint, t0);
        Thread.sleep(300);

        // change >= 0: a fresh address for every change of the run (sizes included)
        double changed = KubeProxyComparison.change(client, n, change, null, monitor)[1];
        Thread.sleep(300);

        monitor.expectDeletion(vip);
        long t2 = System.nanoTime();
        client.services().inNamespace(NS).withName(name).delete();
        double delete = monitor.await("delete " + vip, t2);
        client.discovery().v1().endpointSlices().inNamespace(NS).withName(name + "-1").delete();
        Thread.sleep(300);
        return new double[]{create, changed, delete};
    }
}
