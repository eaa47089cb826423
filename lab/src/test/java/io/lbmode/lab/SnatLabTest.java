package io.lbmode.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.fixtures.LabObjects.Ep;
import java.net.ConnectException;
import java.net.PortUnreachableException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * SNAT mode end to end: real agents (separate JVMs, {@code --state-dir}) in the lab's node namespaces, real pods,
 * real kernel rules; the client talks to the VIP through the router and the LB node.
 */
@Tag("lab")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SnatLabTest {
    static final String WEB = "172.16.20.16";
    static final String LOCAL = "172.16.20.17";
    static final String EMPTY = "172.16.20.18";
    static final String PARTIAL = "172.16.20.19";
    static final String LB_IP = Lab.NODE_IPS.get(Lab.LB);
    static final List<Ep> ALL = List.of(Ep.ready("w1p1"), Ep.ready("w2p1"), Ep.ready("w2p2"));

    Lab lab;

    @BeforeAll
    void up() throws Exception {
        LabSupport.requireRoot();
        lab = Lab.start(LabSpec.unique());
        lab.writeObjects("cluster.yaml", LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        lab.writeObjects("web.yaml", LabObjects.service("web", WEB, false, LabObjects.webPorts(), ALL));
        lab.writeObjects("local.yaml", LabObjects.service("local", LOCAL, true, LabObjects.webPorts(),
                List.of(Ep.ready("w1p1"), Ep.ready("w2p1"))));
        lab.writeObjects("empty.yaml", LabObjects.service("empty", EMPTY, false, LabObjects.webPorts(), List.of()));
        lab.writeObjects("partial.yaml", LabObjects.service("partial", PARTIAL, false, LabObjects.webPorts(),
                List.of(Ep.ready("w1p1"), Ep.notReady("w2p2"))));
        lab.routeVip(LOCAL, Lab.W1); // MetalLB announces an ETP Local VIP from a node with a local endpoint
        for (String node : Lab.NODES) {
            lab.startAgent(node);
        }
        lab.awaitPods();
        for (String node : Lab.NODES) {
            lab.awaitStatus(node, Duration.ofSeconds(60), s -> s.getStatus().rulesetGeneration != null
                    && s.getStatus().rulesetGeneration >= 1 && s.getStatus().lastError == null);
        }
    }

    @AfterAll
    void down() {
        if (lab != null) {
            lab.close();
        }
    }

    static String pod(String answer) {
        return answer.replaceAll("(?s).*pod=(\\S+).*", "$1");
    }

    static String client(String answer) {
        return answer.replaceAll("(?s).*client=([0-9.]+):.*", "$1");
    }

    Map<String, Integer> spread(String vip, int requests) throws Exception {
        Map<String, Integer> byPod = new TreeMap<>();
        for (int i = 0; i < requests; i++) {
            byPod.merge(pod(lab.httpGet(Lab.CLIENT, vip, 80, "/")), 1, Integer::sum);
        }
        return byPod;
    }

    @Test
    @Order(1)
    void tcpAndUdpThroughTheVipReachPodsOnBothWorkersAndThePodSeesTheLbNode() throws Exception {
        List<String> answers = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            answers.add(lab.httpGet(Lab.CLIENT, WEB, 80, "/"));
        }
        assertThat(answers).extracting(SnatLabTest::pod).containsOnly("w1p1", "w2p1", "w2p2").contains("w1p1", "w2p1", "w2p2");
        assertThat(answers).extracting(SnatLabTest::client).containsOnly(LB_IP);
        List<String> udp = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            udp.add(lab.udp(Lab.CLIENT, WEB, 53, "q" + i, Duration.ofSeconds(3)));
        }
        assertThat(udp).extracting(SnatLabTest::client).containsOnly(LB_IP);
        assertThat(udp.stream().map(SnatLabTest::pod).distinct().count()).isGreaterThanOrEqualTo(2);
        // health and metrics of the LB node's agent, reached over the node network
        assertThat(lab.httpGet(Lab.CLIENT, LB_IP, 9102, "/healthz")).isEqualTo("ok\n");
        assertThat(lab.httpGet(Lab.CLIENT, LB_IP, 9102, "/metrics")).contains("lbmode_agent_backends 8", "lbmode_agent_healthy 1");
    }

    @Test
    @Order(2)
    void repliesTraverseTheLbNode() throws Exception {
        long[] before = lab.interfaceBytes(Lab.LB, "eth0");
        assertThat(lab.httpGet(Lab.CLIENT, WEB, 80, "/bytes/2000000")).isEqualTo("(2000000 bytes)");
        long[] after = lab.interfaceBytes(Lab.LB, "eth0");
        assertThat(after[0] - before[0]).as("LB node received the response from the worker").isGreaterThan(2_000_000);
        assertThat(after[1] - before[1]).as("LB node sent the response to the client").isGreaterThan(2_000_000);
    }

    @Test
    @Order(3)
    void newConnectionsSpreadEvenlyOverThreeBackends() throws Exception {
        Map<String, Integer> byPod = spread(WEB, 300);
        assertThat(byPod).containsOnlyKeys("w1p1", "w2p1", "w2p2");
        // binomial(300, 1/3): mean 100, sd 8.2; 60..140 is a 4.9 sd band
        assertThat(byPod.values()).allSatisfy(n -> assertThat(n).isBetween(60, 140));
    }

    @Test
    @Order(4)
    void externalTrafficPolicyLocalKeepsTheClientAddressAndUsesLocalEndpointsOnly() throws Exception {
        for (int i = 0; i < 20; i++) {
            String answer = lab.httpGet(Lab.CLIENT, LOCAL, 80, "/");
            assertThat(pod(answer)).isEqualTo("w1p1");
            assertThat(client(answer)).isEqualTo(Lab.CLIENT_IP);
        }
        assertThat(client(lab.udp(Lab.CLIENT, LOCAL, 53, "q", Duration.ofSeconds(3)))).isEqualTo(Lab.CLIENT_IP);
        String w1 = lab.exec(Lab.W1, "nft", "list", "map", "ip", "lbmode", "backends").stdout();
        assertThat(w1).contains(LOCAL + " . tcp . 80 . 0 : 10.244.1.2 . 8080").doesNotContain(LOCAL + " . tcp . 80 . 1");
        String lbSets = lab.exec(Lab.LB, "nft", "list", "set", "ip", "lbmode", "reject-ports").stdout();
        assertThat(lbSets).as("the LB node has no local endpoint: it rejects").contains(LOCAL + " . tcp . 80");
    }

    @Test
    @Order(5)
    void aServiceWithoutEndpointsIsRefusedQuicklyNotTimedOut() throws Exception {
        long start = System.nanoTime();
        assertThatThrownBy(() -> lab.httpGet(Lab.CLIENT, EMPTY, 80, "/")).isInstanceOf(ConnectException.class)
                .hasMessageContaining("refused");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
        assertThatThrownBy(() -> lab.udp(Lab.CLIENT, EMPTY, 53, "q", Duration.ofSeconds(3)))
                .isInstanceOf(PortUnreachableException.class);
    }

    @Test
    @Order(6)
    void aNotReadyEndpointNeverGetsTraffic() throws Exception {
        assertThat(spread(PARTIAL, 30)).containsOnlyKeys("w1p1");
    }

    @Test
    @Order(7)
    void endpointRemovalAndAdditionAreIncrementalAndKeepOtherConnections() throws Exception {
        try (Socket kept = lab.connect(Lab.CLIENT, WEB, 80, Duration.ofSeconds(3))) {
            String keptPod = pod(Lab.request(kept, "/", false));
            String removed = Stream.of("w1p1", "w2p1", "w2p2").filter(p -> !p.equals(keptPod)).findFirst().orElseThrow();
            long gen = lab.status(Lab.LB).orElseThrow().getStatus().rulesetGeneration;
            lab.writeObjects("web.yaml", LabObjects.service("web", WEB, false, LabObjects.webPorts(),
                    ALL.stream().filter(e -> !e.pod().equals(removed)).toList()));
            lab.awaitStatus(Lab.LB, Duration.ofSeconds(10), s -> s.getStatus().rulesetGeneration > gen && s.getStatus().endpoints == 4 + 3 - 1 + 0);
            assertThat(lab.log("agent-lb")).last().asString().contains("incremental");
            assertThat(pod(Lab.request(kept, "/", false))).as("established connection keeps its backend").isEqualTo(keptPod);
            assertThat(spread(WEB, 30)).doesNotContainKey(removed);

            long gen2 = lab.status(Lab.LB).orElseThrow().getStatus().rulesetGeneration;
            lab.writeObjects("web.yaml", LabObjects.service("web", WEB, false, LabObjects.webPorts(), ALL));
            lab.awaitStatus(Lab.LB, Duration.ofSeconds(10), s -> s.getStatus().rulesetGeneration > gen2);
            assertThat(lab.log("agent-lb")).last().asString().contains("incremental");
            assertThat(spread(WEB, 45)).containsKey(removed);
            assertThat(pod(Lab.request(kept, "/", false))).isEqualTo(keptPod);
        }
    }

    @Test
    @Order(8)
    void aRestartedAgentAdoptsTheTableAndEstablishedConnectionsSurvive() throws Exception {
        try (Socket kept = lab.connect(Lab.CLIENT, WEB, 80, Duration.ofSeconds(3))) {
            String keptPod = pod(Lab.request(kept, "/", false));
            String hash = lab.status(Lab.LB).orElseThrow().getStatus().rulesetHash;
            lab.stopAgent(Lab.LB);
            int logLines = lab.log("agent-lb").size();
            lab.startAgent(Lab.LB);
            lab.await("restarted agent programmed", Duration.ofSeconds(30),
                    () -> lab.log("agent-lb").stream().skip(logLines).anyMatch(l -> l.contains("full replace")));
            assertThat(lab.status(Lab.LB).orElseThrow().getStatus().rulesetHash).isEqualTo(hash);
            assertThat(pod(Lab.request(kept, "/", false))).isEqualTo(keptPod);
            assertThat(lab.exec(Lab.LB, "nft", "list", "tables").stdout().lines().filter(l -> l.contains("lbmode")).count())
                    .as("one table, adopted, not a second one").isEqualTo(1);
            assertThat(pod(lab.httpGet(Lab.CLIENT, WEB, 80, "/"))).isIn("w1p1", "w2p1", "w2p2");
        }
    }

    @Test
    @Order(9)
    void flushedOrDeletedRulesAreRestoredWithinTenSeconds() throws Exception {
        for (List<String> vandalism : List.of(List.of("flush", "table", "ip", "lbmode"), List.of("delete", "table", "ip", "lbmode"))) {
            List<String> cmd = new ArrayList<>(List.of("nft"));
            cmd.addAll(vandalism);
            assertThat(lab.exec(Lab.LB, cmd.toArray(String[]::new)).ok()).isTrue();
            long start = System.nanoTime();
            lab.await("rules restored after nft " + String.join(" ", vandalism), Duration.ofSeconds(10), () -> {
                try {
                    return pod(lab.httpGet(Lab.CLIENT, WEB, 80, "/")).startsWith("w");
                } catch (Exception e) {
                    return false;
                }
            });
            System.out.printf("restored after '%s' in %.1f s%n", String.join(" ", vandalism), (System.nanoTime() - start) / 1e9);
            assertThat(lab.exec(Lab.LB, "nft", "list", "set", "ip", "lbmode", "reject-ports").stdout()).contains(EMPTY);
        }
    }

    @Test
    @Order(10)
    void onceDryRunAndCleanupExitCodesAndEffects() throws Exception {
        // In the client namespace (no agent there), on a copy of the LB node's objects.
        Path dir = Files.createTempDirectory("lbmode-once");
        try {
            for (String f : List.of("cluster.yaml", "web.yaml")) {
                Files.copy(lab.stateDir(Lab.LB).resolve(f), dir.resolve(f));
            }
            var dry = lab.exec(Lab.CLIENT, Lab.javaCommand("io.lbmode.datapath.Main", "--node", "lb", "--state-dir", dir.toString(), "--dry-run").toArray(String[]::new));
            assertThat(dry.exitCode()).as(dry.stderr()).isZero();
            assertThat(dry.stdout()).contains("add element ip lbmode service-ports { 172.16.20.16 . tcp . 80 : goto pick-3");
            assertThat(lab.exec(Lab.CLIENT, "nft", "list", "ruleset").stdout()).as("dry run touched nothing").isBlank();
            assertThat(dir.resolve(".status")).doesNotExist();

            var once = lab.exec(Lab.CLIENT, Lab.javaCommand("io.lbmode.datapath.Main", "--node", "lb", "--state-dir", dir.toString(), "--once").toArray(String[]::new));
            assertThat(once.exitCode()).as(once.stderr()).isZero();
            assertThat(lab.exec(Lab.CLIENT, "nft", "list", "map", "ip", "lbmode", "backends").stdout()).contains("10.244.2.3 . 8080");

            var wrongNode = lab.exec(Lab.CLIENT, Lab.javaCommand("io.lbmode.datapath.Main", "--node", "nope", "--state-dir", dir.toString(), "--once").toArray(String[]::new));
            assertThat(wrongNode.exitCode()).isEqualTo(1);
            assertThat(wrongNode.stderr()).contains("no Node object with metadata.name nope");

            var cleanup = lab.exec(Lab.CLIENT, Lab.javaCommand("io.lbmode.datapath.Main", "--cleanup").toArray(String[]::new));
            assertThat(cleanup.exitCode()).as(cleanup.stderr()).isZero();
            assertThat(lab.exec(Lab.CLIENT, "nft", "list", "ruleset").stdout()).as("--cleanup removed everything").isBlank();
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    @Order(11)
    void aUdpFlowStaysOnItsBackendAndMovesWhenThatBackendIsRemoved() throws Exception {
        try (java.net.DatagramSocket flow = lab.udpSocket(Lab.CLIENT, WEB, 53)) {
            String first = pod(Lab.udpExchange(flow, "a"));
            for (int i = 0; i < 5; i++) {
                assertThat(pod(Lab.udpExchange(flow, "b" + i))).as("conntrack keeps the flow on its backend").isEqualTo(first);
            }
            long gen = lab.status(Lab.LB).orElseThrow().getStatus().rulesetGeneration;
            lab.writeObjects("web.yaml", LabObjects.service("web", WEB, false, LabObjects.webPorts(),
                    ALL.stream().filter(e -> !e.pod().equals(first)).toList()));
            lab.awaitStatus(Lab.LB, Duration.ofSeconds(10), st -> st.getStatus().rulesetGeneration > gen);
            assertThat(pod(Lab.udpExchange(flow, "c"))).as("stale UDP conntrack entry removed with the backend").isNotEqualTo(first);
        } finally {
            lab.writeObjects("web.yaml", LabObjects.service("web", WEB, false, LabObjects.webPorts(), ALL));
        }
    }

    /** {@code service} with {@code specLines} (two-space indented YAML) added to the Service's spec. */
    static String withSpec(String service, String specLines) {
        return service.replaceFirst("\nspec:\n", "\nspec:\n" + java.util.regex.Matcher.quoteReplacement(specLines));
    }

    void awaitInSet(String set, String text) throws Exception {
        lab.await(text + " in " + set + " of the LB node", Duration.ofSeconds(20),
                () -> lab.exec(Lab.LB, "nft", "list", "set", "ip", "lbmode", set).stdout().contains(text));
    }

    @Test
    @Order(12)
    void loadBalancerSourceRangesAdmitClientsInsideAndDropAndCountOthers() throws Exception {
        String limited = "172.16.20.20";
        lab.writeObjects("limited.yaml", withSpec(LabObjects.service("limited", limited, false, LabObjects.webPorts(), ALL),
                "  loadBalancerSourceRanges: [" + Lab.CLIENT_IP.replaceAll("\\.\\d+$", ".0") + "/24]\n"));
        awaitInSet("source-range-ports", limited + " . tcp . 80");
        assertThat(pod(lab.httpGet(Lab.CLIENT, limited, 80, "/"))).as("the client is inside 10.0.1.0/24").startsWith("w");
        // The router (10.0.0.1, outside the range) reaches the VIP through the LB node like the client, and gets nothing.
        assertThat(pod(lab.httpGet(Lab.ROUTER, WEB, 80, "/"))).as("an unrestricted VIP answers the router").startsWith("w");
        for (int i = 0; i < 2; i++) {
            assertThatThrownBy(() -> lab.connect(Lab.ROUTER, limited, 80, Duration.ofMillis(1500)))
                    .as("dropped, not refused: a client outside the ranges learns nothing").isInstanceOf(java.net.SocketTimeoutException.class);
        }
        String metrics = lab.httpGet(Lab.CLIENT, LB_IP, 9102, "/metrics");
        long dropped = Long.parseLong(metrics.replaceAll("(?s).*lbmode_datapath_drops_total\\{reason=\"notInSourceRanges\"} (\\d+).*", "$1"));
        assertThat(dropped).as("SYNs (and their retransmissions) of two attempts").isGreaterThanOrEqualTo(2);
        lab.awaitStatus(Lab.LB, Duration.ofSeconds(10), st -> st.getStatus().drops != null
                && st.getStatus().drops.getOrDefault("notInSourceRanges", 0L) >= dropped);
        assertThat(pod(lab.httpGet(Lab.CLIENT, limited, 80, "/"))).as("the client still gets in").startsWith("w");
        lab.deleteObjects("limited.yaml");
    }

    @Test
    @Order(13)
    void clientIpAffinityKeepsOneClientOnOnePodWhileOthersSpread() throws Exception {
        String sticky = "172.16.20.21";
        lab.writeObjects("sticky.yaml", withSpec(LabObjects.service("sticky", sticky, false, LabObjects.webPorts(), ALL),
                "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}\n"));
        lab.await("sticky VIP programmed", Duration.ofSeconds(20), () -> lab.exec(Lab.LB, "nft", "list", "map", "ip", "lbmode",
                "service-ports").stdout().contains(sticky + " . tcp . 80 : goto aff-"));
        assertThat(spread(sticky, 20)).as("20 connections from one client: one pod").hasSize(1);
        assertThat(spread(WEB, 20).size()).as("without affinity they spread").isGreaterThan(1);
        String sets = lab.exec(Lab.LB, "nft", "list", "ruleset").stdout();
        assertThat(sets).as("the kernel remembers the client, with the Service's timeout").contains("timeout 10m")
                .contains("elements = { " + Lab.CLIENT_IP);
        lab.deleteObjects("sticky.yaml");
        lab.await("sticky VIP removed", Duration.ofSeconds(20),
                () -> !lab.exec(Lab.LB, "nft", "list", "table", "ip", "lbmode").stdout().contains("aff-"));
    }

    @Test
    @Order(14)
    void aVipOutsideTheClustersPoolsIsRefusedAndReported() throws Exception {
        lab.writeObjects("rogue.yaml", LabObjects.service("rogue", "8.8.8.8", false, LabObjects.webPorts(), ALL));
        var status = lab.awaitStatus(Lab.LB, Duration.ofSeconds(20), st -> st.getStatus().skippedServices != null);
        assertThat(status.getStatus().skippedServices).isEqualTo(1);
        assertThat(status.getStatus().skipped).singleElement().satisfies(sk -> {
            assertThat(sk.service).isEqualTo("default/rogue");
            assertThat(sk.reason).contains("8.8.8.8", "outside the Cluster's load-balancer address pools");
        });
        assertThat(lab.exec(Lab.LB, "nft", "list", "table", "ip", "lbmode").stdout()).doesNotContain("8.8.8.8");
        assertThat(status.getStatus().lastError).isNull();
        lab.deleteObjects("rogue.yaml");
        lab.awaitStatus(Lab.LB, Duration.ofSeconds(20), st -> st.getStatus().skippedServices == null);
    }
}
