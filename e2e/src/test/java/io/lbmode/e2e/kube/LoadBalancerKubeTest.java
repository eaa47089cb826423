package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.testsupport.Await;
import java.io.IOException;
import java.net.NoRouteToHostException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The seed's packet flow on the real control plane: the lab's nodes are Node objects, its pods are endpoints of an
 * EndpointSlice written through the API (no kubelet runs, so there are no Pod objects: the slice names the lab's echo
 * servers, as the EndpointSlice controller would for Pods), a Service of type LoadBalancer gets 172.16.20.16 from
 * MetalLB's controller, MetalLB's speaker (layer 2, memberlist off) in the LB node's namespace answers the router's
 * ARP for it, and {@code ./lbmode datapath} runs in cluster mode on every node as the chart's datapath
 * ServiceAccount. The router has no route for the VIP: it has the VIP range on its node-network bridge and asks by ARP.
 *
 * <p>One self-managed Cluster drives the agents, and forwardMode can't change: the DSR half runs with
 * {@code examples/cluster-dsr.yaml}, then that Cluster is deleted and {@code examples/cluster-snat.yaml} created (a new
 * Cluster, not an edit), and the same agents switch to SNAT through the datapath ConfigMap the operator rewrites.
 * The methods run in order: each half needs the state the previous method left.
 */
@Tag("kube")
@Tag("lab")
@Order(7)
@ExtendWith(KubeControlPlane.Extension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LoadBalancerKubeTest {
    static final String VIP = "172.16.20.16";
    static final String METALLB_NS = "metallb-system";
    /** Host side of each node's link to this machine (the API server's address): 10.213.N.0/30, N = 1 + node index. */
    static final String HOST_NET = "10.213.";

    static Lab lab;
    static Path metallb;
    static Path adminKubeconfig;
    static final List<Process> hostProcesses = new ArrayList<>();
    static final Map<String, Process> agents = new ConcurrentHashMap<>();
    static Path agentKubeconfig;

    final KubeControlPlane kube = KubeControlPlane.get();

    @BeforeAll
    static void labOnTheControlPlane() throws Exception {
        KubeControlPlane kube = KubeControlPlane.get();
        adminKubeconfig = kube.kubeconfig;
        metallb = Path.of(lastLine(run(List.of(kube.root.resolve("kube/build-metallb.sh").toString()))));

        String prefix = System.getProperty("lbmode.lab.prefix");
        lab = Lab.start(prefix == null ? LabSpec.unique() : new LabSpec(prefix, true));
        lab.announceVipsByArp();
        for (int i = 0; i < Lab.NODES.size(); i++) {
            lab.linkToHost(Lab.NODES.get(i), HOST_NET + (i + 1) + ".1", HOST_NET + (i + 1) + ".2", KubeControlPlane.ADDRESS);
        }

        StringBuilder nodes = new StringBuilder();
        for (String node : Lab.NODES) {
            nodes.append("""
                    ---
                    apiVersion: v1
                    kind: Node
                    metadata:
                      name: %s
                      labels: {kubernetes.io/hostname: %s}
                    status:
                      addresses:
                      - {type: InternalIP, address: %s}
                      - {type: Hostname, address: %s}
                    """.formatted(node, node, Lab.NODE_IPS.get(node), node));
        }
        kube.apply(nodes.toString());

        // MetalLB: its CRDs from its module, its controller on this machine, its pool and a layer-2 advertisement
        // from the LB node's eth0 only (not from the link to this machine).
        ExamplesKubeTest.createNamespace(kube, METALLB_NS);
        kube.kubectl("apply", "--server-side", "-f", metallb.resolve("crds").toString()).ok("kubectl apply MetalLB CRDs");
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/ipaddresspools.metallb.io",
                "crd/l2advertisements.metallb.io", "crd/servicel2statuses.metallb.io").ok("MetalLB CRDs established");
        hostProcesses.add(startOnHost("metallb-controller", metallb.resolve("bin/controller").toString(),
                "--namespace", METALLB_NS, "--port", "17472", "--webhook-mode", "disabled", "--disable-cert-rotation"));
        kube.apply("""
                apiVersion: metallb.io/v1beta1
                kind: IPAddressPool
                metadata: {name: lab, namespace: %s}
                spec:
                  addresses: [172.16.20.16/28]
                ---
                apiVersion: metallb.io/v1beta1
                kind: L2Advertisement
                metadata: {name: lab, namespace: %s}
                spec:
                  ipAddressPools: [lab]
                  interfaces: [eth0]
                  nodeSelectors:
                  - matchLabels: {kubernetes.io/hostname: %s}
                """.formatted(METALLB_NS, METALLB_NS, Lab.LB));

        // The one self-managed Cluster, DSR first.
        ExamplesKubeTest.createNamespace(kube, "cluster-lb-mode");
        kube.kubectl("apply", "-f", kube.example("cluster-dsr.yaml").toString()).ok("kubectl apply cluster-dsr.yaml");
        awaitConfigMapMode(kube, "dsr");

        agentKubeconfig = kube.datapathKubeconfig("lab-agent.kubeconfig");
        for (String node : Lab.NODES) {
            startAgent(node);
        }
        lab.awaitPods();
        applyService(kube, List.of("w1p1", "w2p1", "w2p2"));
    }

    @AfterAll
    static void tearDown() throws Exception {
        KubeControlPlane kube = KubeControlPlane.get();
        if (lab != null) {
            // The lab's logs (agents, pods, the speaker) go with its directory: keep them beside the control plane's.
            try (var logs = Files.list(lab.logDir())) {
                for (Path log : logs.toList()) {
                    Files.copy(log, kube.state.resolve("logs/lab-" + log.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                }
            } catch (IOException e) {
                System.err.println("could not keep the lab's logs: " + e.getMessage());
            }
            lab.close();
        }
        for (Process p : hostProcesses) {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
            }
        }
        kube.kubectl("delete", "service", "web", "--ignore-not-found");
        kube.kubectl("delete", "endpointslice", "web-1", "--ignore-not-found");
        // No kubelet confirms the speaker Pod's end: without --force it would hold its namespace in Terminating.
        kube.kubectl("delete", "pod", "speaker-lb", "-n", METALLB_NS, "--ignore-not-found", "--force", "--grace-period=0");
        kube.kubectl("delete", "namespace", METALLB_NS, "--ignore-not-found", "--timeout=60s");
        ExamplesKubeTest.deleteClusters(kube, "lb-mode", "lb-snat");
        for (String node : Lab.NODES) {
            kube.kubectl("delete", "node", node, "--ignore-not-found");
            kube.kubectl("delete", "nodedataplanes.lbmode.io", node, "--ignore-not-found");
        }
    }

    // ---- DSR ----

    @Test
    @Order(1)
    void dsrVipAnswersOnlyOnceTheSpeakerOnTheLbNodeAnnouncesIt() throws Exception {
        String assigned = Await.until("MetalLB's controller assigns " + VIP + " to Service web",
                () -> kube.kubectl("get", "service", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout(),
                VIP::equals);
        assertThat(assigned).isEqualTo(VIP);
        awaitProgrammed("dsr", 1, 3);

        // Programmed on every node, but no speaker yet: the router's ARP for the VIP goes unanswered (3 probes, 1 s
        // apart) and it tells the client the host is unreachable: an ICMP answer, not a timeout we wait out.
        Throwable before = catchThrowable(() -> lab.connect(Lab.CLIENT, VIP, 80, Duration.ofSeconds(20)).close());
        String neighbourBefore = routerNeighbour();

        // The speaker reads its own Pod at start (it owns the ServiceL2Status objects): the Pod object a DaemonSet
        // would have made, bound to node lb. No kubelet runs it; the process below is that pod.
        Await.until("the speaker's Pod object created (its namespace's default ServiceAccount exists)", () -> kube.kubectlWithInput("""
                apiVersion: v1
                kind: Pod
                metadata: {name: speaker-lb, namespace: %s, labels: {app: metallb, component: speaker}}
                spec:
                  nodeName: %s
                  automountServiceAccountToken: false
                  containers: [{name: speaker, image: quay.io/metallb/speaker:v0.15.2}]
                """.formatted(METALLB_NS, Lab.LB), "apply", "-f", "-").exitCode() == 0);
        lab.spawn(Lab.LB, "metallb-speaker", List.of("env", "KUBECONFIG=" + adminKubeconfig,
                metallb.resolve("bin/speaker").toString(), "--namespace", METALLB_NS, "--node-name", Lab.LB,
                "--pod-name", "speaker-lb", "--host", "127.0.0.1"));
        assertThat(before).as("connecting to the VIP before any speaker announced it").isInstanceOf(NoRouteToHostException.class);
        assertThat(neighbourBefore).as("router's neighbour entry for the VIP before the speaker").doesNotContain("lladdr");

        String body = Await.until("the client reaches " + VIP + " through the speaker's ARP answer",
                Duration.ofSeconds(60), () -> get(VIP), b -> b != null && b.startsWith("pod="));
        assertThat(body).startsWith("pod=");

        String lbMac = mac(Lab.LB, "eth0");
        assertThat(routerNeighbour()).as("the router learned the VIP's address from the LB node's eth0").contains("lladdr " + lbMac);
        JsonNode l2 = Await.until("MetalLB's ServiceL2Status names the announcing node", () -> json(kube.kubectl(
                        "get", "servicel2statuses.metallb.io", "-n", METALLB_NS, "-o", "json")),
                j -> j != null && !j.path("items").isEmpty() && !j.at("/items/0/status/node").asText().isEmpty());
        assertThat(l2.at("/items/0/status/node").asText()).isEqualTo(Lab.LB);
        assertThat(l2.at("/items/0/status/interfaces/0/name").asText()).isEqualTo("eth0");
    }

    @Test
    @Order(2)
    void dsrThePodSeesTheClientAndTheLbNodeKeepsNoConnection() throws Exception {
        for (int i = 0; i < 6; i++) {
            assertThat(get(VIP)).as("what the pod saw").contains("client=" + Lab.CLIENT_IP + ":");
        }
        assertThat(lbNodeBytesFor10MbDownload()).as("LB node eth0 bytes (in + out) for a 10 MB response in DSR")
                .isLessThan(1_000_000);
        Lab.ExecResult conntrack = lab.exec(Lab.LB, "conntrack", "-L", "-d", VIP);
        assertThat(conntrack.ok()).as("conntrack -L: %s", conntrack.stderr()).isTrue();
        assertThat(conntrack.stdout()).as("LB node conntrack entries for the VIP").doesNotContain(VIP);
    }

    @Test
    @Order(3)
    void dsrEndpointChangeThroughTheApiReachesTheKernelAndTheStatusMatchesIt() throws Exception {
        assertThat(dsrServices()).as("lb_services entries on the LB node").isEqualTo(1);
        applyService(kube, List.of("w1p1"));
        awaitProgrammed("dsr", 1, 1);
        Await.until("every new connection goes to w1p1, the only endpoint left", Duration.ofSeconds(30),
                () -> allAnsweredBy("w1p1", 8));
        JsonNode status = nodeDataplane(Lab.LB);
        assertThat(status.at("/status/services").asInt()).as("status services vs kernel").isEqualTo(dsrServices());

        applyService(kube, List.of("w1p1", "w2p1", "w2p2"));
        awaitProgrammed("dsr", 1, 3);
    }

    @Test
    @Order(4)
    void dsrServiceDeletedThroughTheApiLeavesTheKernel() throws Exception {
        kube.kubectl("delete", "service", "web").ok("kubectl delete service web");
        Await.until("lb_services on the LB node empty after the Service was deleted", Duration.ofSeconds(30),
                () -> dsrServices() == 0);
        awaitProgrammed("dsr", 0, 0);
    }

    // ---- SNAT: a new Cluster ----

    @Test
    @Order(5)
    void snatAfterTheDsrClusterIsReplacedByAnSnatCluster() throws Exception {
        ExamplesKubeTest.deleteClusters(kube, "lb-mode");
        ExamplesKubeTest.createNamespace(kube, "cluster-lb-snat");
        kube.kubectl("apply", "-f", kube.example("cluster-snat.yaml").toString()).ok("kubectl apply cluster-snat.yaml");
        awaitConfigMapMode(kube, "snat");
        applyService(kube, List.of("w1p1", "w2p1", "w2p2"));
        Await.until("MetalLB assigns " + VIP + " to the new Service web",
                () -> kube.kubectl("get", "service", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout(),
                VIP::equals);
        awaitProgrammed("snat", 1, 3);
        String body = Await.until("the client reaches " + VIP + " in SNAT", Duration.ofSeconds(60), () -> get(VIP),
                b -> b != null && b.startsWith("pod="));
        assertThat(body).as("what the pod saw").contains("client=" + Lab.NODE_IPS.get(Lab.LB) + ":");
        assertThat(routerNeighbour()).contains("lladdr " + mac(Lab.LB, "eth0"));
        assertThat(lbNodeBytesFor10MbDownload()).as("LB node eth0 bytes (in + out) for a 10 MB response in SNAT")
                .isGreaterThan(20_000_000);
    }

    @Test
    @Order(6)
    void snatEndpointChangeThroughTheApiReachesTheKernelAndTheStatusMatchesIt() throws Exception {
        assertThat(nftBackends()).as("backends map on the LB node").isEqualTo(3);
        applyService(kube, List.of("w2p2"));
        Await.until("the backends map holds w2p2 only", Duration.ofSeconds(30), () -> nftBackends() == 1);
        Await.until("every new connection goes to w2p2", Duration.ofSeconds(30), () -> allAnsweredBy("w2p2", 8));
        JsonNode status = awaitProgrammed("snat", 1, 1);
        assertThat(status.at("/status/endpoints").asInt()).as("status endpoints vs kernel").isEqualTo(nftBackends());
        assertThat(status.at("/status/services").asInt()).as("status services vs kernel").isEqualTo(nftServices());
    }

    @Test
    @Order(7)
    void snatAgentRestartInClusterModeKeepsAnEstablishedConnection() throws Exception {
        try (Socket open = lab.connect(Lab.CLIENT, VIP, 80, Duration.ofSeconds(5))) {
            assertThat(Lab.request(open, "/", false)).startsWith("pod=w2p2 ");
            String syncedBefore = nodeDataplane(Lab.LB).at("/status/lastSyncTime").asText();
            Process old = agents.get(Lab.LB);
            old.destroy();
            assertThat(old.waitFor(30, TimeUnit.SECONDS)).as("the LB node's agent stopped").isTrue();
            startAgent(Lab.LB);
            Await.until("the restarted agent on the LB node reports a new sync", Duration.ofSeconds(90),
                    () -> nodeDataplane(Lab.LB).at("/status/lastSyncTime").asText(), t -> !t.equals(syncedBefore));
            assertThat(Lab.request(open, "/", false)).as("the same connection after the restart").startsWith("pod=w2p2 ");
        }
    }

    @Test
    @Order(8)
    void snatServiceDeletedThroughTheApiLeavesTheKernel() throws Exception {
        kube.kubectl("delete", "service", "web").ok("kubectl delete service web");
        Await.until("no element for the VIP in the LB node's nftables maps", Duration.ofSeconds(30),
                () -> nftServices() == 0 && nftBackends() == 0);
        awaitProgrammed("snat", 0, 0);
    }

    // ---- helpers ----

    /** {@code ./lbmode datapath} in cluster mode in the node's namespace, as the chart's datapath ServiceAccount. */
    static void startAgent(String node) throws IOException {
        KubeControlPlane kube = KubeControlPlane.get();
        agents.put(node, lab.spawn(node, "agent-" + node, List.of("env", "KUBECONFIG=" + agentKubeconfig,
                kube.root.resolve("lbmode").toString(), "datapath", "--node", node,
                "--config-namespace", KubeControlPlane.NAMESPACE, "--health-port", "0",
                "--interface", "eth0", "--bpffs", lab.bpffs(node).toString())));
    }

    /** The Service without a selector (no controller writes its slices) and its one EndpointSlice naming lab pods. */
    static void applyService(KubeControlPlane kube, List<String> pods) {
        StringBuilder endpoints = new StringBuilder();
        for (String pod : pods) {
            List<String> where = Lab.PODS.get(pod);
            endpoints.append("""
                    - addresses: [%s]
                      nodeName: %s
                      targetRef: {kind: Pod, namespace: default, name: %s}
                      conditions: {ready: true, serving: true, terminating: false}
                    """.formatted(where.get(1), where.get(0), pod));
        }
        kube.apply("""
                apiVersion: v1
                kind: Service
                metadata:
                  name: web
                  namespace: default
                  annotations: {metallb.io/loadBalancerIPs: %s}
                spec:
                  type: LoadBalancer
                  externalTrafficPolicy: Cluster
                  ports:
                  - {name: http, protocol: TCP, port: 80, targetPort: %d}
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata:
                  name: web-1
                  namespace: default
                  labels: {kubernetes.io/service-name: web, endpointslice.kubernetes.io/managed-by: lbmode-lab}
                addressType: IPv4
                ports:
                - {name: http, protocol: TCP, port: %d}
                endpoints:
                """.formatted(VIP, Lab.POD_PORT, Lab.POD_PORT) + endpoints);
    }

    private JsonNode awaitProgrammed(String mode, int services, int endpoints) {
        JsonNode last = null;
        for (String node : Lab.NODES) {
            last = Await.until("NodeDataplane " + node + ": mode " + mode + ", " + services + " service(s), " + endpoints
                            + " endpoint(s), no error", Duration.ofSeconds(60), () -> nodeDataplane(node),
                    n -> n != null && mode.equals(n.at("/status/mode").asText())
                            && n.at("/status/services").asInt(-1) == services && n.at("/status/endpoints").asInt(-1) == endpoints
                            && n.at("/status/lastError").asText("").isEmpty());
        }
        return nodeDataplane(Lab.LB);
    }

    private JsonNode nodeDataplane(String node) {
        return json(kube.kubectl("get", "nodedataplanes.lbmode.io", node, "-o", "json"));
    }

    private static JsonNode json(KubeControlPlane.Result result) {
        return result.exitCode() == 0 ? KubeState.readJson(result.stdout()) : null;
    }

    private static void awaitConfigMapMode(KubeControlPlane kube, String mode) {
        Await.until("the operator writes forwardMode " + mode + " into the datapath ConfigMap", Duration.ofSeconds(60),
                () -> kube.kubectl("get", "configmap", "lbmode-datapath", "-n", KubeControlPlane.NAMESPACE,
                        "-o", "jsonpath={.data.forwardMode}").stdout(), mode::equals);
    }

    /** One GET through the VIP on a fresh connection, or null when it fails. */
    private static String get(String ip) {
        try {
            return lab.httpGet(Lab.CLIENT, ip, 80, "/");
        } catch (Exception e) {
            return null;
        }
    }

    /** Bytes the LB node's eth0 received and sent while the client downloaded 10 MB through the VIP. */
    private static long lbNodeBytesFor10MbDownload() throws Exception {
        long[] before = lab.interfaceBytes(Lab.LB, "eth0");
        assertThat(lab.httpGet(Lab.CLIENT, VIP, 80, "/bytes/10000000")).isEqualTo("(10000000 bytes)");
        long[] after = lab.interfaceBytes(Lab.LB, "eth0");
        return (after[0] - before[0]) + (after[1] - before[1]);
    }

    private static boolean allAnsweredBy(String pod, int requests) {
        for (int i = 0; i < requests; i++) {
            String body = get(VIP);
            if (body == null || !body.startsWith("pod=" + pod + " ")) {
                return false;
            }
        }
        return true;
    }

    private static String routerNeighbour() throws IOException, InterruptedException {
        return lab.exec(Lab.ROUTER, "ip", "neigh", "show", VIP, "dev", "br0").stdout();
    }

    private static String mac(String member, String ifname) throws IOException, InterruptedException {
        Matcher m = Pattern.compile("link/ether ([0-9a-f:]{17})").matcher(lab.exec(member, "ip", "link", "show", ifname).stdout());
        assertThat(m.find()).as("MAC of %s in %s", ifname, member).isTrue();
        return m.group(1);
    }

    /** Entries of the LB node's pinned lb_services map (one per VIP, protocol and port). */
    private static int dsrServices() {
        try {
            Path pin = lab.bpffs(Lab.LB).resolve("lbmode/lb_services");
            Lab.ExecResult dump = lab.exec(Lab.LB, "bpftool", "-j", "map", "dump", "pinned", pin.toString());
            assertThat(dump.ok()).as("bpftool map dump: %s", dump.stderr()).isTrue();
            return KubeState.readJson(dump.stdout()).size();
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    private static final Pattern SERVICE_ELEMENT = Pattern.compile(Pattern.quote(VIP) + " \\. tcp \\. 80 :");
    private static final Pattern BACKEND_ELEMENT = Pattern.compile(Pattern.quote(VIP) + " \\. tcp \\. 80 \\. \\d+ :");

    private static int nftServices() {
        return count(SERVICE_ELEMENT, "service-ports");
    }

    private static int nftBackends() {
        return count(BACKEND_ELEMENT, "backends");
    }

    private static int count(Pattern element, String map) {
        try {
            Lab.ExecResult list = lab.exec(Lab.LB, "nft", "list", "map", "ip", "lbmode", map);
            assertThat(list.ok()).as("nft list map %s: %s", map, list.stderr()).isTrue();
            return (int) element.matcher(list.stdout()).results().count();
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /** A process in this machine's namespace with the admin kubeconfig (MetalLB's controller), output in the kube logs. */
    private static Process startOnHost(String name, String... command) throws IOException {
        KubeControlPlane kube = KubeControlPlane.get();
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(kube.state.resolve("logs/" + name + ".log").toFile());
        builder.environment().put("KUBECONFIG", adminKubeconfig.toString());
        return builder.start();
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as("%s: %s", command, out).isZero();
        return out;
    }

    private static String lastLine(String out) {
        List<String> lines = out.strip().lines().toList();
        return lines.getLast();
    }
}
