package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.lab.KubeLab;
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.testsupport.Await;
import java.io.IOException;
import java.net.NoRouteToHostException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.MatchResult;
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
 * {@link KubeLab} puts the lab on the control plane (the same code {@code ./lbmode demo --kube} runs).
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
    static final String VIP = KubeLab.VIP;
    static final String METALLB_NS = KubeLab.METALLB_NS;

    static Lab lab;
    static KubeLab kubeLab;

    final KubeControlPlane kube = KubeControlPlane.get();

    @BeforeAll
    static void labOnTheControlPlane() throws Exception {
        KubeControlPlane kube = KubeControlPlane.get();
        String prefix = System.getProperty("lbmode.lab.prefix");
        lab = Lab.start(prefix == null ? LabSpec.unique() : new LabSpec(prefix, true));
        kubeLab = KubeLab.start(lab, kube.labPlane(), kube.metallb());
        // The one self-managed Cluster, DSR first.
        kubeLab.applyCluster(Files.readString(kube.example("cluster-dsr.yaml")), ForwardMode.DSR);
        kubeLab.startAgents();
        lab.awaitPods();
        kubeLab.applyService(List.of("w1p1", "w2p1", "w2p2"));
    }

    @AfterAll
    static void tearDown() {
        if (kubeLab != null) {
            kubeLab.close();
        } else if (lab != null) {
            lab.close();
        }
    }

    // ---- DSR ----

    @Test
    @Order(1)
    void dsrVipAnswersOnlyOnceTheSpeakerOnTheLbNodeAnnouncesIt() throws Exception {
        kubeLab.awaitAssigned();
        kubeLab.awaitProgrammed(ForwardMode.DSR, 1, 3);

        // Programmed on every node, but no speaker yet: the router's ARP for the VIP goes unanswered (3 probes, 1 s
        // apart) and it tells the client the host is unreachable: an ICMP answer, not a timeout we wait out.
        Throwable before = catchThrowable(() -> lab.connect(Lab.CLIENT, VIP, 80, Duration.ofSeconds(20)).close());
        String neighbourBefore = kubeLab.routerNeighbour();
        kubeLab.startSpeaker(Lab.LB);
        assertThat(before).as("connecting to the VIP before any speaker announced it").isInstanceOf(NoRouteToHostException.class);
        assertThat(neighbourBefore).as("router's neighbour entry for the VIP before the speaker").doesNotContain("lladdr");

        String body = Await.until("the client reaches " + VIP + " through the speaker's ARP answer",
                Duration.ofSeconds(60), () -> get(VIP), b -> b != null && b.startsWith("pod="));
        assertThat(body).startsWith("pod=");

        assertThat(kubeLab.vipArpAnswer()).as("the router learned the VIP's address from the LB node's eth0")
                .contains(new KubeLab.ArpAnswer(Lab.LB, kubeLab.mac(Lab.LB, "eth0")));
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
        assertThat(dsrServices()).as("lb_services on the LB node").hasSize(1);
        assertThat(dsrBackendAddresses()).as("lb_backends on the LB node")
                .containsExactlyInAnyOrder("10.244.1.2", "10.244.2.2", "10.244.2.3");
        kubeLab.applyService(List.of("w1p1"));
        kubeLab.awaitProgrammed(ForwardMode.DSR, 1, 1);
        Await.until("every new connection goes to w1p1, the only endpoint left", Duration.ofSeconds(30),
                () -> allAnsweredBy("w1p1", 8));
        for (String node : Lab.NODES) {
            JsonNode status = kubeLab.nodeDataplane(node).orElseThrow();
            List<int[]> services = dsrServices(node);
            assertThat(status.at("/status/services").asInt()).as("%s: status services vs lb_services entries", node)
                    .isEqualTo(services.size());
            assertThat(status.at("/status/endpoints").asInt()).as("%s: status endpoints vs the backends of its Maglev table", node)
                    .isEqualTo(services.stream().mapToInt(v -> v[2]).sum());
            assertThat(dsrBackendAddresses(node)).as("%s: lb_backends", node).containsExactly("10.244.1.2");
        }

        kubeLab.applyService(List.of("w1p1", "w2p1", "w2p2"));
        kubeLab.awaitProgrammed(ForwardMode.DSR, 1, 3);
    }

    @Test
    @Order(4)
    void dsrAgentRestartInClusterModeKeepsAnEstablishedConnection() throws Exception {
        try (Socket open = lab.connect(Lab.CLIENT, VIP, 80, Duration.ofSeconds(5))) {
            String first = Lab.request(open, "/", false);
            assertThat(first).as("what the pod saw").contains("client=" + Lab.CLIENT_IP + ":");
            // Every agent: the LB node's (Maglev, no flow state) and the workers' (lb_reverse, the reply translation).
            Map<String, String> syncedBefore = new HashMap<>();
            for (String node : Lab.NODES) {
                syncedBefore.put(node, kubeLab.nodeDataplane(node).orElseThrow().at("/status/lastSyncTime").asText());
                kubeLab.stopAgent(node);
            }
            kubeLab.startAgents();
            for (String node : Lab.NODES) {
                Await.until("the restarted agent on " + node + " reports a new sync", Duration.ofSeconds(90),
                        () -> kubeLab.nodeDataplane(node).map(n -> n.at("/status/lastSyncTime").asText()).orElse(""),
                        t -> !t.isEmpty() && !t.equals(syncedBefore.get(node)));
            }
            assertThat(Lab.request(open, "/", false)).as("the same connection after every agent restarted: same pod, same client port")
                    .isEqualTo(first);
        }
    }

    @Test
    @Order(5)
    void dsrServiceDeletedThroughTheApiLeavesTheKernel() throws Exception {
        kube.kubectl("delete", "service", "web").ok("kubectl delete service web");
        Await.until("lb_services on the LB node empty after the Service was deleted", Duration.ofSeconds(30),
                () -> dsrServices().isEmpty());
        kubeLab.awaitProgrammed(ForwardMode.DSR, 0, 0);
    }

    // ---- SNAT: a new Cluster ----

    @Test
    @Order(6)
    void snatAfterTheDsrClusterIsReplacedByAnSnatCluster() throws Exception {
        kubeLab.applyCluster(Files.readString(kube.example("cluster-snat.yaml")), ForwardMode.SNAT);
        kubeLab.applyService(List.of("w1p1", "w2p1", "w2p2"));
        kubeLab.awaitAssigned();
        kubeLab.awaitProgrammed(ForwardMode.SNAT, 1, 3);
        String body = Await.until("the client reaches " + VIP + " in SNAT", Duration.ofSeconds(60), () -> get(VIP),
                b -> b != null && b.startsWith("pod="));
        assertThat(body).as("what the pod saw").contains("client=" + Lab.NODE_IPS.get(Lab.LB) + ":");
        assertThat(kubeLab.vipArpAnswer().map(KubeLab.ArpAnswer::node)).contains(Lab.LB);
        assertThat(lbNodeBytesFor10MbDownload()).as("LB node eth0 bytes (in + out) for a 10 MB response in SNAT")
                .isGreaterThan(20_000_000);
    }

    @Test
    @Order(7)
    void snatEndpointChangeThroughTheApiReachesTheKernelAndTheStatusMatchesIt() throws Exception {
        assertThat(nftBackends(Lab.LB)).as("backends map on the LB node").hasSize(3);
        List<String> hashesBefore = rulesetHashes();
        kubeLab.applyService(List.of("w2p2"));
        Await.until("the backends map holds w2p2 only", Duration.ofSeconds(30), () -> nftBackends(Lab.LB).size() == 1);
        Await.until("every new connection goes to w2p2", Duration.ofSeconds(30), () -> allAnsweredBy("w2p2", 8));
        kubeLab.awaitProgrammed(ForwardMode.SNAT, 1, 1);
        for (String node : Lab.NODES) {
            JsonNode status = kubeLab.nodeDataplane(node).orElseThrow();
            assertThat(status.at("/status/endpoints").asInt()).as("%s: status endpoints vs backends elements", node)
                    .isEqualTo(nftBackends(node).size());
            assertThat(status.at("/status/services").asInt()).as("%s: status services vs service-ports elements", node)
                    .isEqualTo(nftServices(node));
            assertThat(nftBackends(node)).as("%s: the backends element's address", node)
                    .allSatisfy(e -> assertThat(e).endsWith(": 10.244.2.3 . 8080"));
        }
        // The hash of what each node programmed moved with the kernel's rules (it names the node: one per node).
        List<String> hashesAfter = rulesetHashes();
        for (int i = 0; i < Lab.NODES.size(); i++) {
            assertThat(hashesAfter.get(i)).as("%s: rulesetHash after the endpoint change", Lab.NODES.get(i))
                    .isNotEmpty().isNotEqualTo(hashesBefore.get(i));
        }
    }

    @Test
    @Order(8)
    void snatAgentRestartInClusterModeKeepsAnEstablishedConnection() throws Exception {
        try (Socket open = lab.connect(Lab.CLIENT, VIP, 80, Duration.ofSeconds(5))) {
            String first = Lab.request(open, "/", false);
            assertThat(first).startsWith("pod=w2p2 ");
            String syncedBefore = kubeLab.nodeDataplane(Lab.LB).orElseThrow().at("/status/lastSyncTime").asText();
            kubeLab.stopAgent(Lab.LB);
            kubeLab.startAgent(Lab.LB);
            Await.until("the restarted agent on the LB node reports a new sync", Duration.ofSeconds(90),
                    () -> kubeLab.nodeDataplane(Lab.LB).map(n -> n.at("/status/lastSyncTime").asText()).orElse(syncedBefore),
                    t -> !t.equals(syncedBefore));
            assertThat(Lab.request(open, "/", false)).as("the same connection after the restart").isEqualTo(first);
        }
    }

    @Test
    @Order(9)
    void snatServiceDeletedThroughTheApiLeavesTheKernel() throws Exception {
        kube.kubectl("delete", "service", "web").ok("kubectl delete service web");
        Await.until("no element for the VIP in the LB node's nftables maps", Duration.ofSeconds(30),
                () -> nftServices(Lab.LB) == 0 && nftBackends(Lab.LB).isEmpty());
        kubeLab.awaitProgrammed(ForwardMode.SNAT, 0, 0);
    }

    // ---- helpers ----

    private static JsonNode json(KubeControlPlane.Result result) {
        return result.exitCode() == 0 ? KubeState.readJson(result.stdout()) : null;
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

    /** The LB node's lb_services values. */
    private static List<int[]> dsrServices() {
        return dsrServices(Lab.LB);
    }

    /** A node's pinned lb_services values (one per VIP, protocol and port): slot offset, slot count, backends. */
    private static List<int[]> dsrServices(String node) {
        List<int[]> values = new ArrayList<>();
        for (JsonNode entry : dumpMap(node, "lb_services")) {
            byte[] v = bytes(entry.path("value"));
            values.add(new int[]{le32(v, 0), le32(v, 4), le32(v, 8)});
        }
        return values;
    }

    /** Pod addresses in a node's pinned lb_backends map (value bytes: address, port, flags). */
    private static List<String> dsrBackendAddresses(String node) {
        List<String> addresses = new ArrayList<>();
        for (JsonNode entry : dumpMap(node, "lb_backends")) {
            byte[] v = bytes(entry.path("value"));
            addresses.add((v[0] & 0xff) + "." + (v[1] & 0xff) + "." + (v[2] & 0xff) + "." + (v[3] & 0xff));
        }
        return addresses;
    }

    private static List<String> dsrBackendAddresses() {
        return dsrBackendAddresses(Lab.LB);
    }

    private static JsonNode dumpMap(String node, String map) {
        try {
            Path pin = lab.bpffs(node).resolve("lbmode/" + map);
            Lab.ExecResult dump = lab.exec(node, "bpftool", "-j", "map", "dump", "pinned", pin.toString());
            assertThat(dump.ok()).as("bpftool map dump %s on %s: %s", map, node, dump.stderr()).isTrue();
            return KubeState.readJson(dump.stdout());
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /** bpftool's JSON bytes ("0x0a" strings) of a key or value. */
    private static byte[] bytes(JsonNode hex) {
        byte[] b = new byte[hex.size()];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(hex.get(i).asText().replace("0x", ""), 16);
        }
        return b;
    }

    private static int le32(byte[] b, int offset) {
        return (b[offset] & 0xff) | (b[offset + 1] & 0xff) << 8 | (b[offset + 2] & 0xff) << 16 | (b[offset + 3] & 0xff) << 24;
    }

    private static final Pattern SERVICE_ELEMENT = Pattern.compile(Pattern.quote(VIP) + " \\. tcp \\. 80 :");
    private static final Pattern BACKEND_ELEMENT = Pattern.compile(Pattern.quote(VIP) + " \\. tcp \\. 80 \\. \\d+ : [0-9.]+ \\. \\d+");

    private static int nftServices(String node) {
        return elements(node, SERVICE_ELEMENT, "service-ports").size();
    }

    /** The VIP's elements of a node's {@code backends} map ({@code VIP . tcp . 80 . N : POD . PORT}). */
    private static List<String> nftBackends(String node) {
        return elements(node, BACKEND_ELEMENT, "backends");
    }

    private static List<String> elements(String node, Pattern element, String map) {
        return element.matcher(nftMap(node, map)).results().map(MatchResult::group).toList();
    }

    private static String nftMap(String node, String map) {
        try {
            Lab.ExecResult list = lab.exec(node, "nft", "list", "map", "ip", "lbmode", map);
            assertThat(list.ok()).as("nft list map %s on %s: %s", map, node, list.stderr()).isTrue();
            return list.stdout();
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    private static List<String> rulesetHashes() {
        return Lab.NODES.stream().map(n -> kubeLab.nodeDataplane(n).orElseThrow().at("/status/rulesetHash").asText()).toList();
    }
}
