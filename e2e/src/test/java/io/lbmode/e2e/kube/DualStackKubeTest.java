package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.lab.KubeLab;
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.testsupport.Await;
import java.net.InetAddress;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Dual-stack on the real control plane: {@code examples/cluster-dual-stack.yaml} applied with kubectl, its IPv6 pool
 * in the datapath ConfigMap the operator writes; a dual-stack LoadBalancer Service created through the API (the API
 * server has an IPv4 and an IPv6 Service range, as {@code kube up} starts it); MetalLB's real controller assigns it
 * an IPv4 and an IPv6 VIP from its pool, MetalLB's real speaker on the LB node answers the router's ARP for the one
 * and its NDP neighbour solicitation for the other; the agents in cluster mode (SNAT) program both, each in its own
 * table; the lab's client reaches a pod over both. No address or route of the VIPs is set by the test: the router
 * has both VIP ranges on-link and learns where they are from the speaker only.
 *
 * <p>The example's forwardMode is dsr, and lbmode's DSR does not carry IPv6 yet, so after the example is checked it
 * is replaced by the same Cluster in snat (forwardMode is immutable: a new Cluster, not an edit). The methods run in
 * order: each needs the state the previous one left.
 */
@Tag("kube")
@Tag("lab")
@Order(10)
@ExtendWith(KubeControlPlane.Extension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DualStackKubeTest {
    static final List<String> PODS = List.of("w1p1", "w2p1", "w2p2");

    static Lab lab;
    static KubeLab kubeLab;
    static String vip4;
    static String vip6;

    final KubeControlPlane kube = KubeControlPlane.get();

    @BeforeAll
    static void labOnTheControlPlane() throws Exception {
        KubeControlPlane kube = KubeControlPlane.get();
        lab = Lab.start(LabSpec.unique());
        kubeLab = KubeLab.start(lab, kube.labPlane(), kube.metallb());
    }

    @AfterAll
    static void tearDown() {
        if (kubeLab != null) {
            kubeLab.close();
        } else if (lab != null) {
            lab.close();
        }
    }

    @Test
    @Order(1)
    void theDualStackExampleHandsItsIpv6PoolAndServiceBlockToTheAgents() throws Exception {
        kubeLab.applyCluster(Files.readString(kube.example("cluster-dual-stack.yaml")), ForwardMode.DSR);
        JsonNode data = KubeState.readJson(kube.kubectl("get", "configmap", "lbmode-datapath", "-n", KubeLab.SYSTEM_NS,
                "-o", "jsonpath={.data}").ok("kubectl get configmap lbmode-datapath").stdout());
        assertThat(List.of(data.path("vipRanges").asText().split(",")))
                .as("vipRanges: every pool address of the Cluster (the IPv6 one too), then its controlPlaneVIP and ingressVIP")
                .containsExactly("172.16.20.0/24", "fd00:172:16:20::/120", "10.200.0.49", "172.16.20.2");
        assertThat(List.of(data.path("serviceCIDRs").asText().split(","))).containsExactly("10.96.0.0/20", "fd00:10:96::/108");
        assertThat(data.path("clusterName").asText()).isEqualTo("lb-dual-stack");
    }

    @Test
    @Order(2)
    void metallbAssignsAnIpv4AndAnIpv6VipToADualStackServiceCreatedThroughTheApi() throws Exception {
        String example = Files.readString(kube.example("cluster-dual-stack.yaml"));
        String snat = example.replaceFirst("(?m)^(\\s*forwardMode:) dsr\\b", "$1 snat");
        assertThat(snat).as("the example names forwardMode dsr on one line").isNotEqualTo(example);
        kubeLab.applyCluster(snat, ForwardMode.SNAT);
        kubeLab.startAgents();
        lab.awaitPods();

        kubeLab.applyDualStackService(PODS, List.of());
        JsonNode service = KubeState.readJson(kube.kubectl("get", "service", KubeLab.SERVICE, "-o", "json").ok("kubectl get service").stdout());
        assertThat(service.at("/spec/ipFamilies").toString()).isEqualTo("[\"IPv4\",\"IPv6\"]");
        assertThat(service.at("/spec/clusterIPs").size()).as("the API server gave it a cluster IP of each family").isEqualTo(2);
        assertThat(Cidr.parse("fd00:10:96::/108").orElseThrow().contains(Addresses.ip(service.at("/spec/clusterIPs/1").asText())))
                .as("IPv6 cluster IP %s from kube up's IPv6 Service range", service.at("/spec/clusterIPs/1").asText()).isTrue();

        List<String> ingress = kubeLab.awaitIngress(2);
        vip4 = ingress.get(0);
        vip6 = ingress.get(1);
        assertThat(Cidr.parse(KubeLab.POOL.get(0)).orElseThrow().contains(Addresses.ip(vip4))).as("IPv4 VIP %s from the pool", vip4).isTrue();
        assertThat(Cidr.parse(KubeLab.POOL.get(1)).orElseThrow().contains(Addresses.ip(vip6))).as("IPv6 VIP %s from the pool", vip6).isTrue();
    }

    @Test
    @Order(3)
    void theAgentsProgramEachVipInItsFamilysTable() throws Exception {
        kubeLab.awaitProgrammed(ForwardMode.SNAT, 2, 6);
        for (String node : kubeLab.nodes()) {
            assertThat(nft(node, "ip", "service-ports")).as("%s: ip lbmode", node).contains(vip4 + " . tcp . 80 : goto pick-3")
                    .doesNotContain("fd00:");
            assertThat(nft(node, "ip6", "service-ports")).as("%s: ip6 lbmode", node).contains(vip6 + " . tcp . 80 : goto pick-3");
            assertThat(nft(node, "ip6", "backends")).as("%s: the IPv6 VIP's backends are the pods' IPv6 addresses", node)
                    .contains(PODS.stream().map(p -> Lab.PODS6.get(p) + " . " + Lab.POD_PORT).toArray(String[]::new));
        }
    }

    @Test
    @Order(4)
    void theClientReachesAPodOverBothVipsOnceTheSpeakerAnswersArpAndNdp() throws Exception {
        kubeLab.startSpeaker(Lab.LB);
        String over4 = Await.until("the client reaches " + vip4, Duration.ofSeconds(60), () -> get(Lab.CLIENT, vip4),
                b -> b != null && b.startsWith("pod="));
        String over6 = Await.until("the client reaches " + vip6, Duration.ofSeconds(60), () -> get(Lab.CLIENT, vip6),
                b -> b != null && b.startsWith("pod="));
        assertThat(client(over4)).as("SNAT: the pod sees the LB node").isEqualTo(InetAddress.getByName(Lab.NODE_IPS.get(Lab.LB)));
        assertThat(client(over6)).as("SNAT over IPv6: the pod sees the LB node's IPv6 address")
                .isEqualTo(InetAddress.getByName(Lab.NODE_IPS6.get(Lab.LB)));
        KubeLab.ArpAnswer lbNode = new KubeLab.ArpAnswer(Lab.LB, kubeLab.mac(Lab.LB, "eth0"));
        assertThat(kubeLab.neighbourAnswer(vip4)).as("ARP for %s answered by the LB node's eth0", vip4).contains(lbNode);
        assertThat(kubeLab.neighbourAnswer(vip6)).as("NDP for %s answered by the LB node's eth0 (the speaker's NDP responder)", vip6)
                .contains(lbNode);
        assertThat(kubeLab.announcingNode()).contains(Lab.LB);
        assertThat(get(Lab.ROUTER, vip6)).as("the router reaches the IPv6 VIP too (no source ranges yet)").startsWith("pod=");
    }

    @Test
    @Order(5)
    void sourceRangesOfBothFamiliesThroughTheApiAdmitTheClientAndDropTheRouter() throws Exception {
        kube.kubectl("patch", "service", KubeLab.SERVICE, "--type=merge", "-p",
                "{\"spec\":{\"loadBalancerSourceRanges\":[\"10.0.1.0/24\",\"fd00:1::/64\"]}}").ok("kubectl patch service web");
        Await.until("the LB node's ip6 source-ranges set holds fd00:1::/64 for " + vip6, Duration.ofSeconds(30),
                () -> nft(Lab.LB, "ip6", "source-ranges").contains(vip6 + " . tcp . 80 . fd00:1::/64"));
        assertThat(nft(Lab.LB, "ip", "source-ranges")).contains(vip4 + " . tcp . 80 . 10.0.1.0/24").doesNotContain("fd00:");
        assertThat(get(Lab.CLIENT, vip6)).as("fd00:1::2 is inside fd00:1::/64").startsWith("pod=");
        assertThat(get(Lab.CLIENT, vip4)).as("10.0.1.2 is inside 10.0.1.0/24").startsWith("pod=");
        assertThatThrownBy(() -> lab.connect(Lab.ROUTER, vip6, 80, Duration.ofMillis(1500)).close())
                .as("the router's IPv6 address is outside fd00:1::/64: dropped").isInstanceOf(SocketTimeoutException.class);
        long dropped = Long.parseLong(lab.exec(Lab.LB, "nft", "list", "counter", "ip6", "lbmode", "source-range-drops").stdout()
                .replaceAll("(?s).*packets (\\d+).*", "$1"));
        assertThat(dropped).as("counted in the ip6 table").isPositive();
        Await.until("NodeDataplane lb reports the drops as notInSourceRanges", Duration.ofSeconds(30),
                () -> kubeLab.nodeDataplane(Lab.LB).map(n -> n.at("/status/drops/notInSourceRanges").asLong(0)).orElse(0L),
                n -> n >= dropped);
    }

    // ---- helpers ----

    /** One GET through a VIP on a fresh connection from a lab member, or null when it fails. */
    private static String get(String member, String ip) {
        try {
            return lab.httpGet(member, ip, 80, "/");
        } catch (Exception e) {
            return null;
        }
    }

    /** The address the pod saw, from {@code client=ADDR:PORT}. */
    private static InetAddress client(String answer) throws Exception {
        String peer = answer.replaceAll("(?s).*client=(\\S+).*", "$1");
        return InetAddress.getByName(peer.substring(0, peer.lastIndexOf(':')));
    }

    /** {@code nft list map|set FAMILY lbmode NAME} on a node. */
    private static String nft(String node, String family, String name) {
        try {
            String kind = name.equals("source-ranges") ? "set" : "map";
            Lab.ExecResult list = lab.exec(node, "nft", "list", kind, family, "lbmode", name);
            assertThat(list.ok()).as("nft list %s %s lbmode %s on %s: %s", kind, family, name, node, list.stderr()).isTrue();
            return list.stdout();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
