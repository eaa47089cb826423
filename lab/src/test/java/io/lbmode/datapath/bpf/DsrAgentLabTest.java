package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.lab.LabSupport;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * DSR through the real agent processes ({@code io.lbmode.datapath.Main --state-dir}, one per lab node, as the
 * DaemonSet runs them): the Cluster YAML selects the mode, the agents load and attach the programs, restarts adopt
 * the pinned maps while a download is in flight, drops reach NodeDataplane status, and switching the Cluster to SNAT
 * removes every trace of DSR.
 */
@Tag("lab")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DsrAgentLabTest {
    static final String VIP = "172.16.20.16";
    static final String EMPTY_VIP = "172.16.20.30";

    Lab lab;

    @BeforeAll
    void setUp() throws Exception {
        LabSupport.requireRoot();
        lab = Lab.start(LabSpec.unique());
        try {
            writeCluster(ForwardMode.DSR);
            lab.writeObjects("web.yaml", LabObjects.service("web", VIP, false, LabObjects.webPorts(),
                    List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.ready("w2p1"), LabObjects.Ep.ready("w2p2"))));
            // a service whose pods are all gone: its packets are dropped and counted as noBackend
            lab.writeObjects("empty.yaml", LabObjects.service("empty", EMPTY_VIP, false,
                    List.of(new LabObjects.Port("dns", "UDP", 53, "8080")), List.of()));
            for (String node : Lab.NODES) {
                lab.startAgent(node);
            }
            lab.awaitPods();
            awaitMode("dsr");
        } catch (Exception | Error e) {
            tearDown();
            throw e;
        }
    }

    @AfterAll
    void tearDown() {
        if (lab != null) {
            lab.close();
        }
    }

    void writeCluster(ForwardMode mode) throws Exception {
        lab.writeObjects("cluster.yaml", LabObjects.cluster(mode) + LabObjects.nodes());
    }

    void awaitMode(String mode) throws Exception {
        for (String node : Lab.NODES) {
            NodeDataplane ndp = lab.awaitStatus(node, Duration.ofSeconds(60), s -> s.getStatus() != null
                    && mode.equals(s.getStatus().mode) && s.getStatus().lastError == null && s.getStatus().lastSyncTime != null);
            assertThat(ndp.getStatus().services).isEqualTo(3);
        }
    }

    String clientSeenBy(String answer) {
        return answer.replaceAll("(?s).*client=([0-9.]+):.*", "$1");
    }

    @Test
    @Order(1)
    void agentsInDsrModeShowThePodsTheClient() throws Exception {
        for (int i = 0; i < 5; i++) {
            assertThat(clientSeenBy(lab.httpGet(Lab.CLIENT, VIP, 80, "/"))).isEqualTo(Lab.CLIENT_IP);
        }
        assertThat(clientSeenBy(lab.udp(Lab.CLIENT, VIP, 53, "hi", Duration.ofSeconds(3)))).isEqualTo(Lab.CLIENT_IP);
        for (String node : Lab.NODES) {
            assertThat(exec(node, "tc", "filter", "show", "dev", "eth0", "ingress")).contains("dsr_ingress");
            assertThat(exec(node, "tc", "filter", "show", "dev", "eth0", "egress")).contains("dsr_egress");
        }
    }

    @Test
    @Order(2)
    void dropsReachTheNodeDataplaneStatus() throws Exception {
        for (int i = 0; i < 3; i++) {
            try {
                lab.udp(Lab.CLIENT, EMPTY_VIP, 53, "anyone?", Duration.ofMillis(300));
            } catch (Exception expected) {
                // dropped on the LB node: no answer
            }
        }
        // any change makes the agents sync and publish again
        lab.writeObjects("touch.yaml", "# " + System.nanoTime() + "\n");
        NodeDataplane lb = lab.awaitStatus(Lab.LB, Duration.ofSeconds(30),
                s -> s.getStatus() != null && s.getStatus().drops != null && s.getStatus().drops.getOrDefault("noBackend", 0L) >= 3);
        assertThat(lb.getStatus().drops).containsKey("noBackend");
    }

    @Test
    @Order(3)
    void restartedAgentsAdoptThePinnedStateWhileADownloadRuns() throws Exception {
        long n = 256L << 20;
        try (Socket s = lab.connect(Lab.CLIENT, VIP, 80, Duration.ofSeconds(3))) {
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET /bytes/" + n + " HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            byte[] buf = new byte[64 * 1024];
            long body = -1;
            StringBuilder head = new StringBuilder();
            while (body < 0) {
                int c = in.read();
                head.append((char) c);
                if (head.toString().endsWith("\r\n\r\n")) {
                    body = 0;
                }
            }
            assertThat(head.toString().toLowerCase()).contains("200").contains("content-length: " + n);
            AtomicLong received = new AtomicLong();
            AtomicBoolean restartDone = new AtomicBoolean();
            CompletableFuture<Long> zeroes = CompletableFuture.supplyAsync(() -> {
                long z = 0;
                try {
                    for (int r = in.read(buf); r >= 0; r = in.read(buf)) {
                        for (int i = 0; i < r; i++) {
                            z += buf[i] == 0 ? 1 : 0;
                        }
                        received.addAndGet(r);
                        if (!restartDone.get()) {
                            Thread.sleep(20); // a slow reader (about 3 MB/s) keeps the download going across the restart
                        }
                    }
                } catch (Exception e) {
                    throw new RuntimeException("download broke after " + received.get() + " bytes: " + e, e);
                }
                return z;
            });
            lab.await("first 8 MiB of the body", Duration.ofSeconds(20), () -> received.get() > 8 << 20);
            // the agents go away (as in a DaemonSet rollout) and come back while the body is in flight
            for (String node : Lab.NODES) {
                lab.stopAgent(node);
            }
            long atStop = received.get();
            for (String node : Lab.NODES) {
                lab.startAgent(node);
            }
            for (String node : Lab.NODES) {
                lab.await("agent on " + node + " synced again", Duration.ofSeconds(60),
                        () -> lab.log("agent-" + node).stream().filter(l -> l.contains("programmed dsr")).count() >= 2);
            }
            assertThat(zeroes).as("download still running after the restart").isNotDone();
            assertThat(received.get()).as("bytes kept flowing during the restart").isGreaterThan(atStop);
            restartDone.set(true);
            assertThat(zeroes.get(60, TimeUnit.SECONDS)).as("body content (all zero bytes)").isEqualTo(n);
            assertThat(received.get()).as("body bytes").isEqualTo(n);
        }
        assertThat(clientSeenBy(lab.httpGet(Lab.CLIENT, VIP, 80, "/"))).isEqualTo(Lab.CLIENT_IP);
    }

    @Test
    @Order(4)
    void switchingTheClusterToSnatLeavesNoDsrStateBehind() throws Exception {
        writeCluster(ForwardMode.SNAT);
        awaitMode("snat");
        for (String node : Lab.NODES) {
            assertThat(exec(node, "tc", "filter", "show", "dev", "eth0", "ingress")).as(node).doesNotContain("dsr");
            assertThat(exec(node, "tc", "filter", "show", "dev", "eth0", "egress")).as(node).doesNotContain("dsr");
            assertThat(DsrDatapath.pinDir(lab.bpffs(node))).as(node).doesNotExist();
        }
        assertThat(clientSeenBy(lab.httpGet(Lab.CLIENT, VIP, 80, "/"))).as("SNAT: the pod sees the LB node")
                .isEqualTo(Lab.NODE_IPS.get(Lab.LB));
        long snatBytes = lbBytesFor10MiB();
        // and back: DSR is programmed again from scratch
        writeCluster(ForwardMode.DSR);
        awaitMode("dsr");
        assertThat(clientSeenBy(lab.httpGet(Lab.CLIENT, VIP, 80, "/"))).isEqualTo(Lab.CLIENT_IP);
        long dsrBytes = lbBytesFor10MiB();
        System.out.printf("10 MiB download through the VIP, bytes on the LB node's eth0: SNAT %d, DSR %d (%.3f%%)%n",
                snatBytes, dsrBytes, dsrBytes * 100.0 / snatBytes);
        assertThat(snatBytes).as("SNAT carries the response in and out").isGreaterThan(2L * (10 << 20));
        assertThat(dsrBytes).as("DSR: under 1% of SNAT").isLessThan(snatBytes / 100);
        assertThat(exec(Lab.LB, "nft", "list", "tables")).as("no SNAT table left in DSR mode").doesNotContain("lbmode");
    }

    /** Bytes (rx + tx) on the LB node's eth0 while the client downloads 10 MiB through the VIP (HTTP, 1 KB request). */
    long lbBytesFor10MiB() throws Exception {
        long[] before = lab.interfaceBytes(Lab.LB, "eth0");
        assertThat(lab.httpGet(Lab.CLIENT, VIP, 80, "/bytes/" + (10 << 20))).isEqualTo("(" + (10 << 20) + " bytes)");
        long[] after = lab.interfaceBytes(Lab.LB, "eth0");
        return after[0] - before[0] + after[1] - before[1];
    }

    String exec(String member, String... cmd) throws Exception {
        Lab.ExecResult r = lab.exec(member, cmd);
        assertThat(r.ok()).as(String.join(" ", cmd) + ": " + r.stderr()).isTrue();
        return r.stdout();
    }
}
