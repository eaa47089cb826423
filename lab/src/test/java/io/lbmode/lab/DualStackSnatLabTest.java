package io.lbmode.lab;

import static io.lbmode.lab.DualStackLab.ALL;
import static io.lbmode.lab.DualStackLab.DUAL4;
import static io.lbmode.lab.DualStackLab.DUAL6;
import static io.lbmode.lab.DualStackLab.client;
import static io.lbmode.lab.DualStackLab.pod;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.nft.NftProcess;
import io.lbmode.datapath.nft.SnatProgrammer;
import java.net.ConnectException;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * SNAT over IPv6 and a dual-stack Service, end to end: the real agent on the LB node, real pods answering on their
 * IPv6 and IPv4 addresses, the client reaching each VIP through the router, every address a ULA inside the lab.
 */
@Tag("lab")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DualStackSnatLabTest {
    static final String V6 = "fd00:172:16:20::10";
    static final String EMPTY6 = "fd00:172:16:20::18";

    Lab lab;

    @BeforeAll
    void up() throws Exception {
        // SNAT happens on the LB node only
        lab = DualStackLab.start(ForwardMode.SNAT, Map.of(
                        "v6.yaml", LabObjects.familiesService("v6", List.of(V6), LabObjects.webPorts(), ALL),
                        "empty6.yaml", LabObjects.familiesService("empty6", List.of(EMPTY6), LabObjects.webPorts(), List.of())),
                List.of(Lab.LB), s -> s.getStatus().rulesetGeneration != null && s.getStatus().rulesetGeneration >= 1
                        && s.getStatus().lastError == null);
    }

    @AfterAll
    void down() {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    void anIpv6VipReachesEveryPodAndThePodsSeeTheLbNodesIpv6Address() throws Exception {
        Set<String> pods = new HashSet<>();
        for (int i = 0; i < 30 && pods.size() < 3; i++) {
            String answer = lab.httpGet(Lab.CLIENT, V6, 80, "/");
            assertThat(client(answer)).as("SNAT over IPv6: the pod sees the LB node").isEqualTo(InetAddress.getByName(Lab.NODE_IPS6.get(Lab.LB)));
            pods.add(pod(answer));
        }
        assertThat(pods).containsExactlyInAnyOrder("w1p1", "w2p1", "w2p2");
        String udp = lab.udp(Lab.CLIENT, V6, 53, "hello", Duration.ofSeconds(3));
        assertThat(client(udp)).isEqualTo(InetAddress.getByName(Lab.NODE_IPS6.get(Lab.LB)));
    }

    @Test
    void aDualStackServiceAnswersOnBothFamiliesEachThroughItsOwn() throws Exception {
        String over4 = lab.httpGet(Lab.CLIENT, DUAL4, 80, "/");
        String over6 = lab.httpGet(Lab.CLIENT, DUAL6, 80, "/");
        assertThat(client(over4)).isEqualTo(InetAddress.getByName(Lab.NODE_IPS.get(Lab.LB)));
        assertThat(client(over6)).isEqualTo(InetAddress.getByName(Lab.NODE_IPS6.get(Lab.LB)));
        assertThat(List.of(pod(over4), pod(over6))).allMatch(Lab.PODS::containsKey);
    }

    @Test
    void theKernelHoldsTheIpv6PortsInTableIp6Lbmode() throws Exception {
        Lab.ExecResult table = lab.exec(Lab.LB, "nft", "list", "table", "ip6", "lbmode");
        assertThat(table.ok()).as(table.stderr()).isTrue();
        assertThat(table.stdout()).contains("fd00:172:16:20::10 . tcp . 80", "fd00:172:16:20::16 . udp . 53",
                "fd00:10:244:2::3 . 8080", "fd00:172:16:20::18 . tcp . 80");
        Lab.ExecResult table4 = lab.exec(Lab.LB, "nft", "list", "table", "ip", "lbmode");
        assertThat(table4.stdout()).contains("172.16.20.16 . tcp . 80").doesNotContain("fd00:");
    }

    @Test
    void anIpv6PortWithoutEndpointsRefusesConnections() {
        assertThatThrownBy(() -> lab.httpGet(Lab.CLIENT, EMPTY6, 80, "/")).isInstanceOf(ConnectException.class);
    }

    /**
     * The drift check compares the kernel's own listing of {@code table ip6 lbmode} with what was loaded: equal right
     * after a load (else the agent would "repair" every 3 s), different after someone deletes an element, equal
     * again after the repair. On the w2 namespace, where no agent runs in this class.
     */
    @Test
    void theIpv6TableAsNftListsItMatchesWhatWasLoadedAndAnEditIsSeenAndRepaired() throws Exception {
        SnatProgrammer programmer = new SnatProgrammer(new NftProcess(List.of("ip", "netns", "exec", lab.ns(Lab.W2))));
        List<Backend> v6 = List.of(new Backend(Addresses.ip("fd00:10:244:1::2"), 8080, "w1", false),
                new Backend(Addresses.ip("fd00:10:244:2::2"), 8080, "w2", true));
        List<Backend> v4 = List.of(new Backend(Addresses.ip("10.244.1.2"), 8080, "w1", false));
        NodeState state = new NodeState(ForwardMode.SNAT, new NodeInfo(Lab.W2, Addresses.ipv4(Lab.NODE_IPS.get(Lab.W2))), 1, List.of(
                new ServicePort("default", "dual", "http", Protocol.TCP, Addresses.ip("172.16.20.30"), 80, false, v4),
                new ServicePort("default", "dual", "http", Protocol.TCP, Addresses.ip("fd00:172:16:20::30"), 80, false, v6),
                new ServicePort("default", "dual", "dns", Protocol.UDP, Addresses.ip("fd00:172:16:20::30"), 53, true, v6),
                new ServicePort("default", "none", "", Protocol.TCP, Addresses.ip("fd00:172:16:20::31"), 80, false, List.of())));
        try {
            programmer.apply(state);
            assertThat(programmer.drifted()).as("listing of both tables equals what was loaded").isFalse();
            Lab.ExecResult edit = lab.exec(Lab.W2, "nft", "delete", "element", "ip6", "lbmode", "service-ports",
                    "{ fd00:172:16:20::30 . tcp . 80 }");
            assertThat(edit.ok()).as(edit.stderr()).isTrue();
            assertThat(programmer.drifted()).isTrue();
            programmer.repair();
            assertThat(programmer.drifted()).isFalse();
            Lab.ExecResult map = lab.exec(Lab.W2, "nft", "list", "map", "ip6", "lbmode", "service-ports");
            assertThat(map.stdout()).as(map.stderr()).contains("fd00:172:16:20::30 . tcp . 80");
        } finally {
            programmer.cleanup();
        }
        assertThat(lab.exec(Lab.W2, "nft", "list", "table", "ip6", "lbmode").ok()).isFalse();
    }

    /** Waits until the LB node's {@code table ip6 lbmode} lists {@code text}. */
    void awaitIn6(String text) throws Exception {
        lab.await(text + " in table ip6 lbmode of the LB node", Duration.ofSeconds(20),
                () -> lab.exec(Lab.LB, "nft", "list", "table", "ip6", "lbmode").stdout().contains(text));
    }

    /**
     * {@code loadBalancerSourceRanges} lists IPv4 prefixes only here: the IPv4 VIP admits the client inside them, the
     * IPv6 VIP of the same Service admits nobody (dropped and counted in the ip6 table), never everybody (fail closed:
     * a range list written for IPv4 clients says nothing about IPv6 ones).
     */
    @Test
    void anIpv6VipWhoseSourceRangesAreAllIpv4AdmitsNoClient() throws Exception {
        String v4 = "172.16.20.22";
        String v6 = "fd00:172:16:20::22";
        lab.writeObjects("closed.yaml", SnatLabTest.withSpec(LabObjects.familiesService("closed", List.of(v4, v6),
                LabObjects.webPorts(), ALL), "  loadBalancerSourceRanges: [10.0.1.0/24]\n"));
        awaitIn6(v6 + " . tcp . 80");
        assertThat(pod(lab.httpGet(Lab.CLIENT, v4, 80, "/"))).as("IPv4: the client is inside 10.0.1.0/24").startsWith("w");
        assertThatThrownBy(() -> lab.connect(Lab.CLIENT, v6, 80, Duration.ofMillis(1500)))
                .as("IPv6: no IPv6 prefix listed, so no IPv6 client gets in (dropped)").isInstanceOf(java.net.SocketTimeoutException.class);
        Lab.ExecResult counter = lab.exec(Lab.LB, "nft", "list", "counter", "ip6", "lbmode", "source-range-drops");
        assertThat(Long.parseLong(counter.stdout().replaceAll("(?s).*packets (\\d+).*", "$1"))).as(counter.stdout()).isPositive();
        assertThat(pod(lab.httpGet(Lab.CLIENT, DUAL6, 80, "/"))).as("other IPv6 VIPs are not affected").startsWith("w");
        lab.deleteObjects("closed.yaml");
    }

    /** The packets the LB node's {@code source-range-drops} counter of {@code family}'s table has counted. */
    long sourceRangeDrops(String family) throws Exception {
        Lab.ExecResult counter = lab.exec(Lab.LB, "nft", "list", "counter", family, "lbmode", "source-range-drops");
        assertThat(counter.ok()).as(counter.stderr()).isTrue();
        return Long.parseLong(counter.stdout().replaceAll("(?s).*packets (\\d+).*", "$1"));
    }

    /**
     * A dual-stack Service whose {@code loadBalancerSourceRanges} lists a prefix of each family: the client
     * (10.0.1.2, fd00:1::2) is inside both and gets in on both VIPs; the router (10.0.0.1, fd00::1) is outside both and
     * is dropped on both, each table counting its own drops, which the agent exports as {@code notInSourceRanges}.
     */
    @Test
    void ipv6SourceRangesAdmitAnIpv6ClientInsideAndDropAndCountOneOutside() throws Exception {
        String v4 = "172.16.20.23";
        String v6 = "fd00:172:16:20::23";
        lab.writeObjects("ranged.yaml", SnatLabTest.withSpec(LabObjects.familiesService("ranged", List.of(v4, v6),
                LabObjects.webPorts(), ALL), "  loadBalancerSourceRanges: [10.0.1.0/24, fd00:1::/64]\n"));
        awaitIn6(v6 + " . tcp . 80 . fd00:1::/64");
        assertThat(lab.exec(Lab.LB, "nft", "list", "set", "ip", "lbmode", "source-ranges").stdout())
                .as("the IPv4 table holds the IPv4 prefix only").contains(v4 + " . tcp . 80 . 10.0.1.0/24").doesNotContain("fd00:");
        String inside = lab.httpGet(Lab.CLIENT, v6, 80, "/");
        assertThat(pod(inside)).as("fd00:1::2 is inside fd00:1::/64").startsWith("w");
        assertThat(client(inside)).as("still SNAT").isEqualTo(InetAddress.getByName(Lab.NODE_IPS6.get(Lab.LB)));
        assertThat(client(lab.udp(Lab.CLIENT, v6, 53, "hello", Duration.ofSeconds(3))))
                .isEqualTo(InetAddress.getByName(Lab.NODE_IPS6.get(Lab.LB)));
        assertThat(pod(lab.httpGet(Lab.CLIENT, v4, 80, "/"))).as("10.0.1.2 is inside 10.0.1.0/24").startsWith("w");

        // The router reaches unrestricted IPv6 VIPs through the LB node like the client: its silence below is the check.
        assertThat(pod(lab.httpGet(Lab.ROUTER, DUAL6, 80, "/"))).as("an unrestricted IPv6 VIP answers fd00::1").startsWith("w");
        long before6 = sourceRangeDrops("ip6");
        long before4 = sourceRangeDrops("ip");
        for (int i = 0; i < 2; i++) {
            assertThatThrownBy(() -> lab.connect(Lab.ROUTER, v6, 80, Duration.ofMillis(1500)))
                    .as("fd00::1 is outside fd00:1::/64: dropped, not refused").isInstanceOf(java.net.SocketTimeoutException.class);
        }
        assertThatThrownBy(() -> lab.connect(Lab.ROUTER, v4, 80, Duration.ofMillis(1500)))
                .as("10.0.0.1 is outside 10.0.1.0/24").isInstanceOf(java.net.SocketTimeoutException.class);
        long dropped6 = sourceRangeDrops("ip6") - before6;
        assertThat(dropped6).as("the SYNs of two IPv6 attempts, counted in the ip6 table").isGreaterThanOrEqualTo(2);
        assertThat(sourceRangeDrops("ip") - before4).as("the IPv4 attempt, counted in the ip table").isPositive();
        long total = sourceRangeDrops("ip6") + sourceRangeDrops("ip");
        lab.awaitStatus(Lab.LB, Duration.ofSeconds(10), st -> st.getStatus().drops != null
                && st.getStatus().drops.getOrDefault("notInSourceRanges", 0L) >= total);
        String metrics = lab.httpGet(Lab.CLIENT, Lab.NODE_IPS.get(Lab.LB), 9102, "/metrics");
        assertThat(Long.parseLong(metrics.replaceAll("(?s).*lbmode_datapath_drops_total\\{reason=\"notInSourceRanges\"} (\\d+).*", "$1")))
                .as("both tables' drops in one metric").isGreaterThanOrEqualTo(total);
        assertThat(pod(lab.httpGet(Lab.CLIENT, v6, 80, "/"))).as("the IPv6 client still gets in").startsWith("w");
        lab.deleteObjects("ranged.yaml");
    }

    @Test
    void ipv6ClientIpAffinityKeepsOneClientOnOnePod() throws Exception {
        String sticky = "fd00:172:16:20::21";
        lab.writeObjects("sticky6.yaml", SnatLabTest.withSpec(LabObjects.familiesService("sticky6", List.of(sticky),
                LabObjects.webPorts(), ALL), "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}\n"));
        awaitIn6(sticky + " . tcp . 80 : goto aff-");
        Set<String> pods = new HashSet<>();
        for (int i = 0; i < 20; i++) {
            String answer = lab.httpGet(Lab.CLIENT, sticky, 80, "/");
            assertThat(client(answer)).as("still SNAT").isEqualTo(InetAddress.getByName(Lab.NODE_IPS6.get(Lab.LB)));
            pods.add(pod(answer));
        }
        assertThat(pods).as("20 connections from one IPv6 client: one pod").hasSize(1);
        String table = lab.exec(Lab.LB, "nft", "list", "table", "ip6", "lbmode").stdout();
        assertThat(table).as("the kernel remembers the IPv6 client, with the Service's timeout").contains("timeout 10m")
                .contains("elements = { " + Lab.CLIENT_IP6);
        lab.deleteObjects("sticky6.yaml");
        lab.await("sticky VIP removed", Duration.ofSeconds(20),
                () -> !lab.exec(Lab.LB, "nft", "list", "table", "ip6", "lbmode").stdout().contains("aff-"));
    }
}
