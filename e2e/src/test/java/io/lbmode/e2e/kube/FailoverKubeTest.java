package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.lab.KubeLab;
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.testsupport.Await;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Failover between two LB nodes, {@code lb} and {@code lb2}, each with MetalLB's speaker (layer 2, memberlist on, as
 * MetalLB's DaemonSet runs it) and an agent in cluster mode. One speaker announces the VIP; when it stops (SIGTERM:
 * it leaves the member list), the other learns it from memberlist, announces the VIP and sends gratuitous ARP, and
 * the router's neighbour entry moves to the other node's MAC. A long-running TCP stream through the VIP
 * ({@code GET /stream/50}: a numbered line every 50 ms, each naming the pod and the client address it saw) shows what
 * happens to an established flow:
 * <ul>
 *   <li>DSR: the stream keeps flowing, from the same pod. The second LB node keeps no state and needs none: Maglev
 *       with the same seed and backends picks the same backend for the flow's packets, and the reply translation lives
 *       on the worker (lb_reverse), which the failover does not touch. The client's packets of that flow are captured
 *       on the second LB node's eth0.</li>
 *   <li>SNAT: the stream breaks. Its translation is a conntrack entry on the first LB node; the second one has none,
 *       so the client's next packet becomes a new translation there (source: the second node's address), which the
 *       pod's TCP does not know and resets. New connections work through the second node.</li>
 * </ul>
 */
@Tag("kube")
@Tag("lab")
@Order(9)
@ExtendWith(KubeControlPlane.Extension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FailoverKubeTest {
    static final String VIP = KubeLab.VIP;
    static Lab lab;
    static KubeLab kubeLab;

    @BeforeAll
    static void twoLbNodesOnTheControlPlane() throws Exception {
        KubeControlPlane kube = KubeControlPlane.get();
        lab = Lab.start(LabSpec.unique());
        kubeLab = KubeLab.withSecondLbNode(lab, kube.labPlane(), kube.metallb());
        kubeLab.applyCluster(Files.readString(kube.example("cluster-dsr.yaml")), ForwardMode.DSR);
        kubeLab.startAgents();
        lab.awaitPods();
        kubeLab.applyService(List.of("w1p1", "w2p1", "w2p2"));
        kubeLab.awaitAssigned();
        kubeLab.startSpeakers();
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
    void dsrAnEstablishedStreamKeepsFlowingFromTheSamePodWhenTheVipMovesToTheOtherLbNode() throws Exception {
        kubeLab.awaitProgrammed(ForwardMode.DSR, 1, 3);
        String first = awaitAnnounced();
        String second = other(first);
        try (Stream stream = Stream.open()) {
            stream.awaitLines(5);
            String line = stream.lines.getFirst();
            assertThat(line).as("the pod sees the client in DSR").contains(" client=" + Lab.CLIENT_IP + ":");
            // Every packet the client sends on this flow from now on, on the second LB node's eth0 (none yet: the
            // router sends the VIP's packets to the first node).
            CompletableFuture<Lab.ExecResult> captured = capture(second, stream.clientPort());

            kubeLab.stopSpeaker(first);
            awaitAnnouncedBy(second);
            int atFailover = stream.lines.size();
            stream.awaitLines(atFailover + 20);

            assertThat(stream.error.get()).as("the stream across the failover").isNull();
            assertThat(stream.lines).as("every line from the same pod, to the same client address and port")
                    .allSatisfy(l -> assertThat(l.replaceFirst(" seq=\\d+$", "")).isEqualTo(line.replaceFirst(" seq=\\d+$", "")));
            Lab.ExecResult packets = captured.get();
            assertThat(packets.stdout() + packets.stderr()).as("the flow's packets captured on %s after the failover", second)
                    .contains("5 packets captured");
            assertThat(get(VIP)).as("a new connection through %s", second).contains(" client=" + Lab.CLIENT_IP + ":");
        }
        kubeLab.startSpeaker(first); // back to both speakers for the SNAT half
        awaitAnnouncedBy(first);
    }

    @Test
    @Order(2)
    void snatAnEstablishedStreamBreaksAndNewConnectionsWorkWhenTheVipMovesToTheOtherLbNode() throws Exception {
        kubeLab.applyCluster(Files.readString(KubeControlPlane.get().example("cluster-snat.yaml")), ForwardMode.SNAT);
        kubeLab.awaitProgrammed(ForwardMode.SNAT, 1, 3);
        String first = awaitAnnounced();
        String second = other(first);
        try (Stream stream = Stream.open()) {
            stream.awaitLines(5);
            assertThat(stream.lines.getFirst()).as("the pod sees the announcing LB node in SNAT")
                    .contains(" client=" + kubeLab.nodeIp(first) + ":");
            assertThat(conntrack(first, stream.clientPort())).as("the flow's translation on %s", first).isTrue();
            assertThat(conntrack(second, stream.clientPort())).as("the flow's translation on %s", second).isFalse();

            kubeLab.stopSpeaker(first);
            awaitAnnouncedBy(second);
            Await.until("the established stream ends (its translation is on " + first + " only)", Duration.ofSeconds(30),
                    () -> stream.ended);
            assertThat(stream.error.get()).as("how the stream ended").isNotNull();
            System.out.printf("SNAT: the established stream ended after %d lines: %s%n", stream.lines.size(), stream.error.get());
        }
        String body = Await.until("a new connection through " + second, Duration.ofSeconds(30), () -> get(VIP),
                b -> b != null && b.startsWith("pod="));
        assertThat(body).as("a new connection: the pod sees %s", second).contains(" client=" + kubeLab.nodeIp(second) + ":");
    }

    // ---- helpers ----

    /** The LB node whose eth0 MAC the router holds for the VIP, once a new connection through the VIP works. */
    private static String awaitAnnounced() throws Exception {
        Await.until("the client reaches " + VIP, Duration.ofSeconds(60), () -> get(VIP), b -> b != null && b.startsWith("pod="));
        return kubeLab.vipArpAnswer().orElseThrow().node();
    }

    private static void awaitAnnouncedBy(String node) {
        Await.until("the router's neighbour entry for the VIP moves to " + node + "'s MAC (gratuitous ARP)", Duration.ofSeconds(60),
                () -> {
                    try {
                        return kubeLab.vipArpAnswer().map(KubeLab.ArpAnswer::node).orElse("");
                    } catch (IOException | InterruptedException e) {
                        return "";
                    }
                }, node::equals);
    }

    private static String other(String lbNode) {
        return lbNode.equals(Lab.LB) ? KubeLab.LB2 : Lab.LB;
    }

    private static String get(String ip) {
        try {
            return lab.httpGet(Lab.CLIENT, ip, 80, "/");
        } catch (Exception e) {
            return null;
        }
    }

    /** tcpdump on a node's eth0: the first 5 packets from the client's port (30 s at most). */
    private static CompletableFuture<Lab.ExecResult> capture(String node, int clientPort) throws Exception {
        CompletableFuture<Lab.ExecResult> result = CompletableFuture.supplyAsync(() -> {
            try {
                return lab.exec(node, "timeout", "30", "tcpdump", "-n", "-i", "eth0", "-c", "5",
                        "tcp and src host " + Lab.CLIENT_IP + " and src port " + clientPort);
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(1000); // tcpdump attaches before the failover (it prints nothing until it has packets)
        return result;
    }

    /** Whether a node's conntrack table holds the client's flow from {@code clientPort}. */
    private static boolean conntrack(String node, int clientPort) throws IOException, InterruptedException {
        Lab.ExecResult list = lab.exec(node, "conntrack", "-L", "-p", "tcp", "--orig-src", Lab.CLIENT_IP, "--orig-port-src",
                Integer.toString(clientPort));
        return list.stdout().contains("sport=" + clientPort + " ");
    }

    /** {@code GET /stream/50} through the VIP, read on its own thread: the lines, and how it ended. */
    private static final class Stream implements AutoCloseable {
        final Socket socket;
        final List<String> lines = new CopyOnWriteArrayList<>();
        final AtomicReference<IOException> error = new AtomicReference<>();
        volatile boolean ended;

        private Stream(Socket socket) {
            this.socket = socket;
        }

        static Stream open() throws Exception {
            Socket s = lab.connect(Lab.CLIENT, VIP, 80, Duration.ofSeconds(5));
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /stream/50 HTTP/1.1\r\nHost: lab\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            Stream stream = new Stream(s);
            Thread.ofPlatform().daemon().name("stream").start(stream::read);
            return stream;
        }

        private void read() {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l = in.readLine(); l != null; l = in.readLine()) {
                    if (l.startsWith("pod=")) {
                        lines.add(l);
                    }
                }
                error.set(new IOException("the server closed the stream"));
            } catch (IOException e) {
                error.set(e);
            } finally {
                ended = true;
            }
        }

        int clientPort() {
            return socket.getLocalPort();
        }

        void awaitLines(int n) {
            Await.until(n + " lines of the stream", Duration.ofSeconds(30), () -> lines.size() >= n || ended);
            assertThat(error.get()).as("the stream after %d lines", lines.size()).isNull();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
