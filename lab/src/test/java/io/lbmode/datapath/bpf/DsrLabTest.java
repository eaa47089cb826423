package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.program.Applied;
import io.lbmode.testsupport.Await;
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.lab.LabSupport;
import io.lbmode.lab.Netns;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * DSR end to end with real packets in the network-namespace lab ({@link Lab}): the programs are loaded, pinned and
 * attached by {@link DsrProgrammer} on each node (in-process, one thread per node namespace), traffic comes from the
 * client namespace, and the assertions read what the pods saw, interface and nft counters, conntrack, tcpdump
 * captures and the programs' own counters.
 *
 * <p>Services (VIPs in 172.16.20.0/24, routed by the lab's router to the LB node):
 * <ul>
 *   <li>172.16.20.16 TCP 80 -> w1p1:8080 (the lab's HTTP echo pod; the option example of datapath/src/main/bpf/README.md), TCP 81 ->
 *       w1p1:8181 (nothing listens: reset)</li>
 *   <li>172.16.20.17 TCP/UDP 9000 -> w1p1, w2p1, w2p2 :9000 ({@link PodServer}); UDP 53 -> the same pods :8080</li>
 *   <li>172.16.20.18 TCP/UDP 9000 -> lbp1:9000, a pod on the LB node itself</li>
 *   <li>172.16.20.19 TCP/UDP 9000 -> the pool of .17, {@code loadBalancerSourceRanges} {@link #ranges19}</li>
 *   <li>172.16.20.20 TCP 9000 -> the pool of .17 with {@code sessionAffinity: ClientIP}</li>
 *   <li>172.16.20.21 TCP 9000 -> {@link #pool21} ready, {@link #draining21} serving but terminating</li>
 *   <li>172.16.20.22 UDP 9000 -> w1p1:9000, UDP 9100 -> w1p1:9100 (nothing listens: ICMP port unreachable)</li>
 * </ul>
 */
@Tag("lab")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DsrLabTest {
    static final String VIP16 = "172.16.20.16";
    static final String VIP17 = "172.16.20.17";
    static final String VIP18 = "172.16.20.18";
    static final String VIP19 = "172.16.20.19";
    static final String VIP20 = "172.16.20.20";
    static final String VIP21 = "172.16.20.21";
    static final String VIP22 = "172.16.20.22";
    static final List<String> POOL = List.of("w1p1", "w2p1", "w2p2");
    static final int PORT = 9000;
    static final long SEED = 0x1b5d_2026L;
    static final String LB_POD = "lbp1";
    static final String LB_POD_IP = "10.244.0.2";
    static final Map<String, String> POD_NODE = Map.of("w1p1", Lab.W1, "w2p1", Lab.W2, "w2p2", Lab.W2, LB_POD, Lab.LB);
    static final Map<String, String> POD_IP = Map.of("w1p1", "10.244.1.2", "w2p1", "10.244.2.2", "w2p2", "10.244.2.3",
            LB_POD, LB_POD_IP);

    Lab lab;
    final Map<String, Netns> ns = new HashMap<>();
    final Map<String, DsrProgrammer> programmers = new LinkedHashMap<>();
    final List<PodServer> servers = new ArrayList<>();
    List<String> pool17 = POOL;
    List<Cidr> ranges19 = List.of(cidr("10.0.1.0/24"));
    List<String> pool21 = POOL;
    List<String> draining21 = List.of();

    @BeforeAll
    void setUp() throws Exception {
        LabSupport.requireRoot();
        lab = Lab.start(LabSpec.unique());
        try {
            // A pod on the LB node (the shared lab has none): namespace, veth, route.
            sh("ip", "netns", "add", lab.ns(LB_POD));
            sh("ip", "link", "add", "eth0", "netns", lab.ns(LB_POD), "type", "veth", "peer", "p-lbp1", "netns", lab.ns(Lab.LB));
            sh("ip", "-n", lab.ns(LB_POD), "link", "set", "lo", "up");
            sh("ip", "-n", lab.ns(LB_POD), "link", "set", "eth0", "up");
            sh("ip", "-n", lab.ns(LB_POD), "addr", "add", LB_POD_IP + "/24", "dev", "eth0");
            sh("ip", "-n", lab.ns(LB_POD), "route", "add", "default", "via", "10.244.0.1");
            sh("ip", "-n", lab.ns(Lab.LB), "addr", "add", "10.244.0.1/24", "dev", "p-lbp1");
            sh("ip", "-n", lab.ns(Lab.LB), "link", "set", "p-lbp1", "up");
            for (String m : List.of(Lab.CLIENT, Lab.ROUTER, Lab.LB, Lab.W1, Lab.W2, "w1p1", "w2p1", "w2p2", LB_POD)) {
                ns.put(m, new Netns(lab.ns(m)));
            }
            for (String pod : POD_NODE.keySet()) {
                servers.add(new PodServer(ns.get(pod), pod, PORT));
            }
            // Conntrack on in the LB node (an nft rule that uses it), and counters for anything coming *from* pods or
            // VIPs into the LB node's interface: replies that DSR must keep away from it.
            nft(Lab.LB, """
                    table ip lbtest {
                      chain pre {
                        type filter hook prerouting priority -150;
                        ct state new counter
                      }
                    }
                    table netdev lbtest {
                      chain in {
                        type filter hook ingress device "eth0" priority 0;
                        ip saddr 10.244.0.0/16 counter comment "from-pods"
                        ip saddr 172.16.20.0/24 counter comment "from-vips"
                      }
                    }
                    """);
            for (String node : Lab.NODES) {
                programmers.put(node, new DsrProgrammer("eth0", lab.bpffs(node), 16381));
            }
            applyAll();
            lab.awaitPods();
            if (Integer.getInteger("dsr.debugPause", 0) > 0) { // manual debugging: poke the lab with ip netns exec
                System.out.println("lab " + lab.prefix() + " ready, pausing");
                Thread.sleep(Integer.getInteger("dsr.debugPause") * 1000L);
            }
        } catch (Exception | Error e) {
            tearDown();
            throw e;
        }
    }

    @AfterAll
    void tearDown() throws Exception {
        for (PodServer s : servers) {
            s.close();
        }
        for (var e : programmers.entrySet()) {
            try {
                ns.get(e.getKey()).run(() -> e.getValue().cleanup());
            } catch (Exception ex) {
                System.err.println("cleanup " + e.getKey() + ": " + ex);
            }
        }
        ns.values().forEach(Netns::close);
        if (lab != null) {
            lab.close();
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    static void sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    String exec(String member, String... cmd) throws Exception {
        Lab.ExecResult r = lab.exec(member, cmd);
        if (!r.ok()) {
            throw new IOException(String.join(" ", cmd) + " in " + member + " failed: " + r.stderr());
        }
        return r.stdout();
    }

    void nft(String member, String script) throws Exception {
        Path f = Files.createTempFile("lbtest", ".nft");
        try {
            Files.writeString(f, script);
            exec(member, "nft", "-f", f.toString());
        } finally {
            Files.deleteIfExists(f);
        }
    }

    static Backend backend(String pod, int port, String node) {
        return new Backend(Addresses.ipv4(POD_IP.get(pod)), port, POD_NODE.get(pod), POD_NODE.get(pod).equals(node));
    }

    static ServicePort svc(String name, Protocol proto, String vip, int port, List<String> pods, int podPort, String node) {
        return new ServicePort("default", name, "", proto, Addresses.ipv4(vip), port, false,
                pods.stream().map(p -> backend(p, podPort, node)).toList());
    }

    static ServicePort svc(String name, Protocol proto, String vip, List<String> pods, List<String> draining, String node,
                           ServicePort.Policy policy) {
        return new ServicePort("default", name, "", proto, Addresses.ipv4(vip), PORT, false,
                pods.stream().map(p -> backend(p, PORT, node)).toList(), draining.stream().map(p -> backend(p, PORT, node)).toList(),
                policy);
    }

    static Cidr cidr(String text) {
        return Cidr.parse(text).orElseThrow();
    }

    NodeState state(String node) {
        List<ServicePort> s = List.of(
                svc("web", Protocol.TCP, VIP16, 80, List.of("w1p1"), Lab.POD_PORT, node),
                svc("closed", Protocol.TCP, VIP16, 81, List.of("w1p1"), 8181, node),
                svc("pool", Protocol.TCP, VIP17, PORT, pool17, PORT, node),
                svc("pool-udp", Protocol.UDP, VIP17, PORT, pool17, PORT, node),
                svc("dns", Protocol.UDP, VIP17, 53, pool17, Lab.POD_PORT, node),
                svc("local", Protocol.TCP, VIP18, PORT, List.of(LB_POD), PORT, node),
                svc("local-udp", Protocol.UDP, VIP18, PORT, List.of(LB_POD), PORT, node),
                svc("ranged", Protocol.TCP, VIP19, POOL, List.of(), node, new ServicePort.Policy(ranges19, 0)),
                svc("ranged-udp", Protocol.UDP, VIP19, POOL, List.of(), node, new ServicePort.Policy(ranges19, 0)),
                svc("sticky", Protocol.TCP, VIP20, POOL, List.of(), node,
                        new ServicePort.Policy(List.of(), ServicePort.Policy.DEFAULT_AFFINITY_SECONDS)),
                svc("drain", Protocol.TCP, VIP21, pool21, draining21, node, ServicePort.Policy.OPEN),
                svc("mtu", Protocol.UDP, VIP22, PORT, List.of("w1p1"), PORT, node),
                svc("closed-udp", Protocol.UDP, VIP22, 9100, List.of("w1p1"), 9100, node));
        return new NodeState(ForwardMode.DSR, new NodeInfo(node, Addresses.ipv4(Lab.NODE_IPS.get(node))), SEED, s);
    }

    Map<String, Applied> applyAll() throws Exception {
        Map<String, Applied> out = new LinkedHashMap<>();
        for (var e : programmers.entrySet()) {
            out.put(e.getKey(), ns.get(e.getKey()).call(() -> e.getValue().apply(state(e.getKey()))));
        }
        return out;
    }

    DsrDatapath dp(String node) {
        return programmers.get(node).datapath().orElseThrow();
    }

    /** Sends one TCP command from the client to VIP:port and returns the whole answer. */
    byte[] tcp(String vip, int port, String command) throws Exception {
        try (Socket s = ns.get(Lab.CLIENT).call(() -> {
            Socket c = new Socket();
            c.connect(new InetSocketAddress(vip, port), 3000);
            c.setSoTimeout(10_000);
            return c;
        })) {
            s.getOutputStream().write((command + "\n").getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            return s.getInputStream().readAllBytes();
        }
    }

    String who(String vip) throws Exception {
        return new String(tcp(vip, PORT, "who"), StandardCharsets.US_ASCII).trim();
    }

    /** Downloads n bytes through the VIP; returns the SHA-256 of what arrived. */
    String download(String vip, long n) throws Exception {
        try (Socket s = ns.get(Lab.CLIENT).call(() -> {
            Socket c = new Socket();
            c.connect(new InetSocketAddress(vip, PORT), 3000);
            c.setSoTimeout(15_000);
            return c;
        })) {
            s.getOutputStream().write(("bytes " + n + "\n").getBytes(StandardCharsets.US_ASCII));
            return sha256(s.getInputStream(), n);
        }
    }

    static String sha256(InputStream in, long expected) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[1 << 16];
        long total = 0;
        for (int r = in.read(buf); r >= 0; r = in.read(buf)) {
            d.update(buf, 0, r);
            total += r;
        }
        assertThat(total).as("bytes received").isEqualTo(expected);
        return HexFormat.of().formatHex(d.digest());
    }

    /** One datagram from the client (from a fixed source port when {@code srcPort > 0}); the answer. */
    String udp(String vip, int port, int srcPort, int size) throws Exception {
        return ns.get(Lab.CLIENT).call(() -> {
            try (DatagramSocket s = new DatagramSocket(srcPort > 0 ? new InetSocketAddress(srcPort) : new InetSocketAddress(0))) {
                s.setReuseAddress(true);
                s.connect(new InetSocketAddress(vip, port));
                s.setSoTimeout(2000);
                byte[] data = new byte[size];
                s.send(new DatagramPacket(data, data.length));
                DatagramPacket reply = new DatagramPacket(new byte[2048], 2048);
                s.receive(reply);
                return new String(reply.getData(), 0, reply.getLength(), StandardCharsets.US_ASCII).trim();
            }
        });
    }

    static final Pattern WHO = Pattern.compile("pod=(\\S+) client=([0-9.]+):(\\d+)");

    static Matcher who(String answer, String what) {
        Matcher m = WHO.matcher(answer);
        assertThat(m.find()).as(what + ": " + answer).isTrue();
        return m;
    }

    long nftCounter(String member, String comment) throws Exception {
        String out = exec(member, "nft", "list", "table", "netdev", "lbtest");
        Matcher m = Pattern.compile("counter packets (\\d+) bytes \\d+ comment \"" + comment + "\"").matcher(out);
        assertThat(m.find()).as("counter " + comment + " in\n" + out).isTrue();
        return Long.parseLong(m.group(1));
    }

    // ---------------------------------------------------------------------------------------------------------------

    @Test
    @Order(1)
    void httpThroughTheVipShowsThePodTheRealClient() throws Exception {
        String body = lab.httpGet(Lab.CLIENT, VIP16, 80, "/");
        Matcher m = who(body, "HTTP answer");
        assertThat(m.group(1)).isEqualTo("w1p1");
        assertThat(m.group(2)).as("address the pod saw").isEqualTo(Lab.CLIENT_IP);
        assertThat(dp(Lab.LB).event(DsrEvent.LB_OPTION)).isPositive();
        assertThat(dp(Lab.W1).event(DsrEvent.OPTION_STRIPPED)).isPositive();
        assertThat(dp(Lab.W1).event(DsrEvent.REPLY_REWRITTEN)).isPositive();
    }

    @Test
    @Order(2)
    void theSynCarriesCiliumsOptionBytes() throws Exception {
        Path pcap = lab.logDir().resolve("w1-syn.pcap");
        // IHL 7: only packets that still carry the option (tcpdump sees them before tc strips it).
        Process dump = lab.spawn(Lab.W1, "tcpdump-w1", List.of("tcpdump", "-i", "eth0", "-n", "-U", "-c", "1", "-w",
                pcap.toString(), "ip[0] = 0x47 and tcp"));
        awaitListening("tcpdump-w1");
        lab.httpGet(Lab.CLIENT, VIP16, 80, "/");
        assertThat(dump.waitFor(10, TimeUnit.SECONDS)).as("tcpdump saw the SYN").isTrue();
        byte[] frame = Pcap.frames(pcap).getFirst();
        int ip = 14;
        // IP header starts 47 00 00 44 (IHL 7, total length 20 + 8 + 40), option 9a 08 50 00 10 14 10 ac
        assertThat(HexFormat.ofDelimiter(" ").formatHex(frame, ip, ip + 4)).isEqualTo("47 00 00 44");
        assertThat(HexFormat.ofDelimiter(" ").formatHex(frame, ip + 20, ip + 28)).isEqualTo("9a 08 50 00 10 14 10 ac");
        assertThat(Pcap.checksum(frame, ip, 28)).as("IPv4 header checksum with the option").isZero();
        assertThat(frame[ip + 28 + 13] & 0x12).as("TCP flags: SYN without ACK").isEqualTo(0x02);
        // destination already rewritten to the pod, source still the client
        assertThat(HexFormat.of().formatHex(frame, ip + 12, ip + 20)).isEqualTo("0a000102" + "0af40102");
    }

    void awaitListening(String log) throws Exception {
        lab.await(log + " listening", Duration.ofSeconds(10), () -> lab.log(log).stream().anyMatch(l -> l.contains("listening on")));
    }

    @Test
    @Order(3)
    void tcpSpreadsOverBothWorkersAndEveryPodSeesTheClient() throws Exception {
        Set<String> pods = new TreeSet<>();
        for (int i = 0; i < 40; i++) {
            Matcher m = who(who(VIP17), "who");
            assertThat(m.group(2)).isEqualTo(Lab.CLIENT_IP);
            pods.add(m.group(1));
        }
        assertThat(pods).contains("w1p1").containsAnyOf("w2p1", "w2p2");
    }

    @Test
    @Order(4)
    void udpWorksAndTheReplyComesFromTheVip() throws Exception {
        // connected sockets only accept datagrams from VIP:port: an answer proves the source was rewritten
        Matcher m = who(udp(VIP17, 53, 0, 16), "UDP to the lab's echo pods");
        assertThat(m.group(2)).isEqualTo(Lab.CLIENT_IP);
        Set<String> pods = new TreeSet<>();
        for (int i = 0; i < 30; i++) {
            pods.add(who(udp(VIP17, PORT, 0, 100), "udp").group(1));
        }
        assertThat(pods).contains("w1p1").containsAnyOf("w2p1", "w2p2");
    }

    @Test
    @Order(5)
    void tenMegabytesPassTheLbNodeOnlyAsRequestsAndAcks() throws Exception {
        long n = 10L << 20;
        long[] before = lab.interfaceBytes(Lab.LB, "eth0");
        long fromPods = nftCounter(Lab.LB, "from-pods");
        long fromVips = nftCounter(Lab.LB, "from-vips");
        assertThat(download(VIP17, n)).isEqualTo(PodServer.expectedHash(n));
        long[] after = lab.interfaceBytes(Lab.LB, "eth0");
        long lbBytes = (after[0] - before[0]) + (after[1] - before[1]);
        // SNAT moves the whole response in and out of the LB node: at least 2 x 10 MiB.
        System.out.printf("DSR 10 MiB download: LB node eth0 moved %d bytes (rx %d, tx %d) = %.3f%% of the 2 x 10 MiB SNAT must move%n",
                lbBytes, after[0] - before[0], after[1] - before[1], lbBytes * 100.0 / (2 * n));
        assertThat(lbBytes).isLessThan(2 * n / 100);
        assertThat(nftCounter(Lab.LB, "from-pods")).as("packets from pods into the LB node").isEqualTo(fromPods);
        assertThat(nftCounter(Lab.LB, "from-vips")).as("packets from VIPs into the LB node").isEqualTo(fromVips);
    }

    @Test
    @Order(6)
    void theLbNodeKeepsNoConntrackEntriesForDsrFlows() throws Exception {
        // positive control: a datagram to the LB node's own address is tracked (and answered port-unreachable)
        assertThatThrownBy(() -> udp(Lab.NODE_IPS.get(Lab.LB), 9, 0, 4)).isInstanceOf(IOException.class);
        who(VIP17);
        udp(VIP17, PORT, 0, 10);
        String table = exec(Lab.LB, "conntrack", "-L");
        assertThat(table).as("conntrack works in the LB node (control)").contains("dst=" + Lab.NODE_IPS.get(Lab.LB));
        List<String> dsr = table.lines().filter(l -> l.contains("src=" + Lab.CLIENT_IP))
                .filter(l -> l.contains("dst=172.16.20.17") || l.contains("dst=10.244.1.") || l.contains("dst=10.244.2."))
                .toList();
        assertThat(dsr).as("LB node conntrack entries for DSR flows").isEmpty();
    }

    @Test
    @Order(7)
    void resetsFromThePodComeFromTheVip() throws Exception {
        long deleted = dp(Lab.W1).event(DsrEvent.REVERSE_DELETED);
        // nothing listens on the pod port: the pod's RST must reach the client as VIP:81, or connect would time out
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> tcp(VIP16, 81, "who")).isInstanceOf(ConnectException.class).hasMessageContaining("refused");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(2));
        // an established connection reset by the pod
        boolean reset = false;
        for (int i = 0; i < 10 && !reset; i++) {
            try (Socket s = ns.get(Lab.CLIENT).call(() -> {
                Socket c = new Socket();
                c.connect(new InetSocketAddress(VIP17, PORT), 3000);
                c.setSoTimeout(5000);
                return c;
            })) {
                s.getOutputStream().write("rst\n".getBytes(StandardCharsets.US_ASCII));
                InputStream in = s.getInputStream();
                assertThat(new String(in.readNBytes(3), StandardCharsets.US_ASCII)).isEqualTo("ok\n");
                in.read();
            } catch (SocketException e) {
                assertThat(e.getMessage()).containsIgnoringCase("reset");
                reset = true;
            }
        }
        assertThat(reset).as("the client saw the pod's reset").isTrue();
        long deletedNow = 0;
        for (String w : List.of(Lab.W1, Lab.W2)) {
            deletedNow += dp(w).event(DsrEvent.REVERSE_DELETED);
        }
        assertThat(deletedNow).as("RSTs removed reverse entries").isGreaterThan(deleted);
    }

    @Test
    @Order(8)
    void oversizedUdpGetsFragmentationNeededWithMtuMinus8() throws Exception {
        assertFragNeeded();
    }

    void assertFragNeeded() throws Exception {
        exec(Lab.CLIENT, "ip", "route", "flush", "cache");
        long before = dp(Lab.LB).drops().get(DropReason.FRAG_NEEDED);
        Path pcap = lab.logDir().resolve("client-icmp-" + System.nanoTime() + ".pcap");
        String log = "tcpdump-client-" + System.nanoTime();
        Process dump = lab.spawn(Lab.CLIENT, log, List.of("tcpdump", "-i", "eth0", "-n", "-U", "-c", "1", "-w",
                pcap.toString(), "icmp"));
        awaitListening(log);
        // 1472 bytes of payload: a 1500-byte IP packet, the MTU everywhere; +8 bytes of option would not fit.
        assertThatThrownBy(() -> udp(VIP17, PORT, 0, 1472)).isInstanceOf(Exception.class);
        assertThat(dump.waitFor(10, TimeUnit.SECONDS)).as("ICMP reached the client").isTrue();
        byte[] f = Pcap.frames(pcap).getFirst();
        int ip = 14;
        int ihl = (f[ip] & 0x0f) * 4;
        int icmp = ip + ihl;
        assertThat(f[icmp] & 0xff).as("ICMP type").isEqualTo(3);
        assertThat(f[icmp + 1] & 0xff).as("ICMP code (fragmentation needed)").isEqualTo(4);
        assertThat(((f[icmp + 6] & 0xff) << 8) | (f[icmp + 7] & 0xff)).as("next-hop MTU").isEqualTo(1492);
        assertThat(HexFormat.of().formatHex(f, ip + 12, ip + 16)).as("ICMP from the VIP").isEqualTo("ac101411");
        assertThat(HexFormat.of().formatHex(f, icmp + 8 + 16, icmp + 8 + 20)).as("quoted packet went to the VIP").isEqualTo("ac101411");
        assertThat(Pcap.checksum(f, ip, ihl)).as("IP header checksum").isZero();
        assertThat(Pcap.checksum(f, icmp, 8 + 28)).as("ICMP checksum").isZero();
        assertThat(dp(Lab.LB).drops().get(DropReason.FRAG_NEEDED)).isGreaterThan(before);
        assertThat(programmers.get(Lab.LB).dropCounters()).containsKey("fragNeeded");
        assertThat(exec(Lab.CLIENT, "ip", "route", "get", VIP17)).as("client's path MTU").contains("mtu 1492");
        // and a datagram that fits still works
        assertThat(who(udp(VIP17, PORT, 0, 1400), "udp 1400").group(2)).isEqualTo(Lab.CLIENT_IP);
    }

    @Test
    @Order(9)
    void aBackendOnTheLbNodeItselfWorks() throws Exception {
        long local = dp(Lab.LB).event(DsrEvent.LB_LOCAL);
        Matcher m = who(who(VIP18), "local pod");
        assertThat(m.group(1)).isEqualTo(LB_POD);
        assertThat(m.group(2)).isEqualTo(Lab.CLIENT_IP);
        assertThat(who(udp(VIP18, PORT, 0, 10), "local udp").group(1)).isEqualTo(LB_POD);
        assertThat(download(VIP18, 2 << 20)).isEqualTo(PodServer.expectedHash(2 << 20));
        assertThat(dp(Lab.LB).event(DsrEvent.LB_LOCAL)).isGreaterThan(local);
    }

    /** Backend of each flow, for 300 UDP flows from fixed client ports. */
    Map<Integer, String> flows() throws Exception {
        Map<Integer, String> out = new LinkedHashMap<>();
        for (int port = 40000; port < 40300; port++) {
            out.put(port, who(udp(VIP17, PORT, port, 8), "flow " + port).group(1));
        }
        return out;
    }

    @Test
    @Order(10)
    void changingTheEndpointsKeepsMostFlowsOnTheirBackend() throws Exception {
        Map<Integer, String> before = flows();
        assertThat(flows()).as("stable without changes").isEqualTo(before);
        pool17 = List.of("w1p1", "w2p1"); // w2p2 goes away
        Map<String, Applied> applied = applyAll();
        Map<Integer, String> after = flows();
        long survivors = before.values().stream().filter(p -> !p.equals("w2p2")).count();
        long kept = before.entrySet().stream().filter(e -> !e.getValue().equals("w2p2"))
                .filter(e -> e.getValue().equals(after.get(e.getKey()))).count();
        System.out.printf("Maglev in the datapath: %d of %d flows on surviving backends kept them after a removal; "
                + "LB node rewrote %d map entries/slots%n", kept, survivors, applied.get(Lab.LB).changes());
        assertThat(after.values()).doesNotContain("w2p2");
        assertThat((double) kept / survivors).isGreaterThanOrEqualTo(0.95);
        pool17 = List.of("w1p1", "w2p1", "w2p2");
        applyAll();
        Map<Integer, String> back = flows();
        long same = before.entrySet().stream().filter(e -> e.getValue().equals(back.get(e.getKey()))).count();
        System.out.printf("after adding it back: %d of %d flows on their original backend%n", same, before.size());
        assertThat((double) same / before.size()).isGreaterThanOrEqualTo(0.95);
    }

    @Test
    @Order(15)
    void anotherLbNodePicksTheSameBackendForEveryFlow() throws Exception {
        Map<Integer, String> viaLb = flows();
        // the router now sends the VIPs to w1 (as after a MetalLB failover): same seed, same tables, same choices
        exec(Lab.ROUTER, "ip", "route", "replace", "172.16.20.0/24", "via", Lab.NODE_IPS.get(Lab.W1));
        try {
            long forwardedByW1 = dp(Lab.W1).event(DsrEvent.LB_FORWARDED) + dp(Lab.W1).event(DsrEvent.LB_LOCAL);
            assertThat(flows()).isEqualTo(viaLb);
            assertThat(dp(Lab.W1).event(DsrEvent.LB_FORWARDED) + dp(Lab.W1).event(DsrEvent.LB_LOCAL))
                    .as("w1 did the load balancing").isGreaterThanOrEqualTo(forwardedByW1 + viaLb.size());
        } finally {
            exec(Lab.ROUTER, "ip", "route", "replace", "172.16.20.0/24", "via", Lab.NODE_IPS.get(Lab.LB));
        }
    }

    @Test
    @Order(11)
    void aRestartedProgrammerAdoptsThePinnedMapsAndALongDownloadSurvives() throws Exception {
        long n = 24L << 20;
        Socket s = ns.get(Lab.CLIENT).call(() -> {
            Socket c = new Socket();
            c.connect(new InetSocketAddress(VIP17, PORT), 3000);
            c.setSoTimeout(15_000);
            return c;
        });
        try (s) {
            s.getOutputStream().write(("slow " + n + "\n").getBytes(StandardCharsets.US_ASCII));
            AtomicLong received = new AtomicLong();
            InputStream counted = new FilterInputStream(s.getInputStream()) {
                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int r = super.read(b, off, len);
                    received.addAndGet(Math.max(r, 0));
                    return r;
                }
            };
            CompletableFuture<String> hash = CompletableFuture.supplyAsync(() -> {
                try {
                    return sha256(counted, n);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            Await.until("the first MiB of the slow download", () -> received.get() >= 1 << 20);
            assertThat(hash).as("the download is still running when the programmers go").isNotDone();
            Map<String, Integer> oldProgs = new HashMap<>();
            // "agent exits": handles released, programs stay attached, maps stay pinned
            for (String node : Lab.NODES) {
                oldProgs.put(node, dp(node).attached().orElseThrow().ingressProgId());
                programmers.get(node).close();
                programmers.put(node, new DsrProgrammer("eth0", lab.bpffs(node), 16381));
            }
            long atExit = received.get();
            Await.until("the download goes on with no programmer running", () -> received.get() >= atExit + (256 << 10));
            Map<String, Applied> applied = applyAll(); // "new agent": opens the pinned programs and maps (same dsr.o)
            for (String node : Lab.NODES) {
                assertThat(applied.get(node).full()).isTrue();
                assertThat(applied.get(node).changes()).as("entries rewritten on %s after adoption", node).isZero();
                assertThat(dp(node).loadedObject()).as("dsr.o loaded again on %s", node).isFalse();
                assertThat(dp(node).attached().orElseThrow().ingressProgId()).as("the same program still attached on %s", node)
                        .isEqualTo(oldProgs.get(node));
            }
            assertThat(hash.get(60, TimeUnit.SECONDS)).isEqualTo(PodServer.expectedHash(n));
        }
    }

    @Test
    @Order(12)
    void checksumsAreRightWithChecksumOffloadOff() throws Exception {
        Map<String, List<String>> ifaces = new LinkedHashMap<>();
        ifaces.put(Lab.CLIENT, List.of("eth0"));
        ifaces.put(Lab.ROUTER, List.of("to-client", "to-lb", "to-w1", "to-w2"));
        ifaces.put(Lab.LB, List.of("eth0", "p-lbp1"));
        ifaces.put(Lab.W1, List.of("eth0", "p-w1p1"));
        ifaces.put(Lab.W2, List.of("eth0", "p-w2p1", "p-w2p2"));
        for (String pod : POD_NODE.keySet()) {
            ifaces.put(pod, List.of("eth0"));
        }
        for (var e : ifaces.entrySet()) {
            ns.get(e.getKey()).run(() -> e.getValue().forEach(Ethtool::checksumOffloadOff));
        }
        assertThat(who(lab.httpGet(Lab.CLIENT, VIP16, 80, "/"), "http").group(2)).isEqualTo(Lab.CLIENT_IP);
        assertThat(who(udp(VIP17, PORT, 0, 500), "udp").group(2)).isEqualTo(Lab.CLIENT_IP);
        assertThat(download(VIP17, 4 << 20)).isEqualTo(PodServer.expectedHash(4 << 20));
        assertThat(download(VIP18, 1 << 20)).isEqualTo(PodServer.expectedHash(1 << 20));
        assertFragNeeded();
        assertThat(programmers.get(Lab.LB).dropCounters()).doesNotContainKeys("rewriteFailed", "malformed", "resizeFailed");
    }

    @Test
    @Order(13)
    void driftIsDetectedAndRepaired() throws Exception {
        DsrProgrammer lb = programmers.get(Lab.LB);
        Netns lbNs = ns.get(Lab.LB); // tc queries go to the calling thread's network namespace
        assertThat(lbNs.call(lb::drifted)).isFalse();
        // someone removes our ingress filter and a service entry
        int ingressProg = dp(Lab.LB).attached().orElseThrow().ingressProgId();
        assertThat(dp(Lab.LB).loadedObject()).as("the programmer the restart above left opened the pins").isFalse();
        exec(Lab.LB, "tc", "filter", "del", "dev", "eth0", "ingress");
        exec(Lab.LB, "bpftool", "map", "delete", "pinned", DsrDatapath.pinDir(lab.bpffs(Lab.LB)).resolve(DsrDatapath.SERVICES).toString(),
                "key", "hex", "ac", "10", "14", "11", "23", "28", "06", "00"); // 172.16.20.17:9000/tcp
        assertThat(lbNs.call(lb::drifted)).isTrue();
        lbNs.run(lb::repair);
        assertThat(lbNs.call(lb::drifted)).isFalse();
        assertThat(who(who(VIP17), "after repair").group(2)).isEqualTo(Lab.CLIENT_IP);
        assertThat(dp(Lab.LB).attached().orElseThrow().ingressProgId()).as("the pinned program attached again").isEqualTo(ingressProg);
        // someone removes the source range that lets the client reach 172.16.20.19:9000/tcp
        exec(Lab.LB, "bpftool", "map", "delete", "pinned", DsrDatapath.pinDir(lab.bpffs(Lab.LB)).resolve(DsrDatapath.SOURCE_RANGES).toString(),
                "key", "hex", "58", "00", "00", "00", "ac", "10", "14", "13", "23", "28", "06", "00", "0a", "00", "01", "00");
        assertThat(lbNs.call(lb::drifted)).as("a source range missing").isTrue();
        lbNs.run(lb::repair);
        assertThat(lbNs.call(lb::drifted)).isFalse();
        assertThat(who(who(VIP19), "source range repaired").group(2)).isEqualTo(Lab.CLIENT_IP);
    }

    /** MARK_REDIRECTED of dsr.h. */
    static final int MARK_REDIRECTED = 0x6c62_0d5a;

    /**
     * dsr_egress passes what dsr_ingress redirects out of the same interface without looking at it: the LB node's real
     * programs, maps and routes, run once each on one packet (BPF_PROG_TEST_RUN in the LB node's namespace). The SYN
     * the client sends to 172.16.20.16:80 leaves dsr_ingress redirected (TC_ACT_REDIRECT) to w1p1 with the mark; the
     * same bytes and context through dsr_egress come out unchanged with the mark cleared.
     */
    @Test
    @Order(14)
    void aPacketDsrIngressRedirectsOutOfEth0PassesDsrEgressUntouchedWithItsMarkCleared() throws Exception {
        int eth0 = Integer.parseInt(exec(Lab.LB, "cat", "/sys/class/net/eth0/ifindex").trim());
        byte[] lbMac = HexFormat.ofDelimiter(":").parseHex(exec(Lab.LB, "cat", "/sys/class/net/eth0/address").trim());
        Path dir = Files.createTempDirectory("lbtest-redirect");
        try {
            java.nio.ByteBuffer syn = java.nio.ByteBuffer.allocate(14 + 20 + 20);
            syn.put(lbMac).put(new byte[]{2, 0, 0, 0, 1, 2}).putShort((short) 0x0800);
            syn.put((byte) 0x45).put((byte) 0).putShort((short) 40).putInt(0x0000_4000).put((byte) 64).put((byte) 6)
                    .putShort((short) 0).put(Addresses.ipv4(Lab.CLIENT_IP).getAddress()).put(Addresses.ipv4(VIP16).getAddress());
            syn.putShort(14 + 10, ipChecksum(syn.array(), 14, 20));
            syn.putShort((short) 40000).putShort((short) 80).putInt(1).putInt(0).putShort((short) 0x5002)
                    .putShort((short) 0xffff).putInt(0);
            Files.write(dir.resolve("syn"), syn.array());
            // struct __sk_buff up to ifindex, host order: mark 0, ingress_ifindex and ifindex eth0 (it arrived there)
            java.nio.ByteBuffer ctx = java.nio.ByteBuffer.allocate(44).order(java.nio.ByteOrder.nativeOrder());
            ctx.putInt(36, eth0).putInt(40, eth0);
            Files.write(dir.resolve("ctx"), ctx.array());
            Path pins = DsrDatapath.pinDir(lab.bpffs(Lab.LB));

            String in = exec(Lab.LB, "bpftool", "prog", "run", "pinned", pins.resolve(DsrDatapath.INGRESS).toString(),
                    "data_in", dir.resolve("syn").toString(), "data_out", dir.resolve("redirected").toString(),
                    "ctx_in", dir.resolve("ctx").toString(), "ctx_out", dir.resolve("ctx-redirected").toString());
            assertThat(in).as("TC_ACT_REDIRECT").contains("Return value: 7");
            byte[] redirected = Files.readAllBytes(dir.resolve("redirected"));
            assertThat(HexFormat.of().formatHex(redirected, 14 + 16, 14 + 20)).as("DNAT to w1p1").isEqualTo("0af40102");
            byte[] redirectedCtx = Files.readAllBytes(dir.resolve("ctx-redirected"));
            assertThat(skbMark(redirectedCtx)).isEqualTo(MARK_REDIRECTED);
            // what the skb carries to eth0's egress: mark, ingress_ifindex, ifindex (the run's other fields, such as
            // wire_len of the packet before the option, are no input for a test run of the longer packet)
            Files.write(dir.resolve("ctx-egress"), java.util.Arrays.copyOf(redirectedCtx, 44));

            String out = exec(Lab.LB, "bpftool", "prog", "run", "pinned", pins.resolve(DsrDatapath.EGRESS).toString(),
                    "data_in", dir.resolve("redirected").toString(), "data_out", dir.resolve("out").toString(),
                    "ctx_in", dir.resolve("ctx-egress").toString(), "ctx_out", dir.resolve("ctx-out").toString());
            assertThat(out).as("TC_ACT_OK").contains("Return value: 0");
            assertThat(Files.readAllBytes(dir.resolve("out"))).isEqualTo(redirected);
            assertThat(skbMark(Files.readAllBytes(dir.resolve("ctx-out")))).as("mark cleared on the way out").isZero();
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    /** {@code struct __sk_buff}'s mark (offset 8, host order). */
    static int skbMark(byte[] skb) {
        return java.nio.ByteBuffer.wrap(skb).order(java.nio.ByteOrder.nativeOrder()).getInt(8);
    }

    /** The IPv4 header checksum of {@code len} bytes at {@code off} (its checksum field zero). */
    static short ipChecksum(byte[] b, int off, int len) {
        int sum = 0;
        for (int i = off; i < off + len; i += 2) {
            sum += (b[i] & 0xff) << 8 | (b[i + 1] & 0xff);
        }
        while (sum >> 16 != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (short) ~sum;
    }

    /** Connects from the client within {@code timeoutMs}; false when nothing answered (the SYN was dropped). */
    boolean connects(String vip, int port, int timeoutMs) throws Exception {
        return ns.get(Lab.CLIENT).call(() -> {
            try (Socket c = new Socket()) {
                c.connect(new InetSocketAddress(vip, port), timeoutMs);
                return true;
            } catch (java.net.SocketTimeoutException e) {
                return false;
            }
        });
    }

    long drops(String node, DropReason reason) {
        return dp(node).drops().get(reason);
    }

    @Test
    @Order(16)
    void sourceRangesAdmitClientsInsideAndDropOthersWithTheirOwnReason() throws Exception {
        long refused = drops(Lab.LB, DropReason.NOT_IN_SOURCE_RANGES);
        // 10.0.1.0/24 holds the client
        assertThat(who(who(VIP19), "client inside the range").group(2)).isEqualTo(Lab.CLIENT_IP);
        assertThat(who(udp(VIP19, PORT, 0, 8), "udp inside the range").group(2)).isEqualTo(Lab.CLIENT_IP);
        assertThat(drops(Lab.LB, DropReason.NOT_IN_SOURCE_RANGES)).isEqualTo(refused);

        ranges19 = List.of(cidr("203.0.113.0/24"));
        applyAll();
        assertThat(connects(VIP19, PORT, 1000)).as("TCP from outside the range").isFalse();
        assertThatThrownBy(() -> udp(VIP19, PORT, 0, 8)).as("UDP from outside the range").isInstanceOf(java.net.SocketTimeoutException.class);
        assertThat(drops(Lab.LB, DropReason.NOT_IN_SOURCE_RANGES)).as("refused packets counted").isGreaterThanOrEqualTo(refused + 2);
        assertThat(programmers.get(Lab.LB).dropCounters()).containsKey("notInSourceRanges");
        assertThat(who(who(VIP17), "a service without ranges").group(2)).isEqualTo(Lab.CLIENT_IP);

        // a longer prefix inside another range list: the client's own /32
        ranges19 = List.of(cidr("203.0.113.0/24"), cidr(Lab.CLIENT_IP + "/32"));
        applyAll();
        assertThat(who(who(VIP19), "client's /32 allowed").group(2)).isEqualTo(Lab.CLIENT_IP);
        ranges19 = List.of(cidr("10.0.1.0/24"));
        applyAll();
        assertThat(who(who(VIP19), "back to the client's /24").group(2)).isEqualTo(Lab.CLIENT_IP);
    }

    @Test
    @Order(17)
    void clientIpAffinitySendsEveryConnectionOfAClientToOnePodThroughAnyLbNode() throws Exception {
        Set<String> sticky = new TreeSet<>();
        Set<String> spread = new TreeSet<>();
        for (int i = 0; i < 20; i++) {
            sticky.add(who(who(VIP20), "affinity").group(1));
            spread.add(who(who(VIP17), "no affinity").group(1));
        }
        System.out.printf("20 connections from one client: with ClientIP affinity %s, without %s%n", sticky, spread);
        assertThat(sticky).as("pods that served the affinity service").hasSize(1);
        assertThat(spread).as("pods that served the service without affinity").hasSizeGreaterThan(1);
        exec(Lab.ROUTER, "ip", "route", "replace", "172.16.20.0/24", "via", Lab.NODE_IPS.get(Lab.W2));
        try {
            for (int i = 0; i < 10; i++) {
                assertThat(who(who(VIP20), "affinity through w2").group(1)).as("pod through another LB node").isEqualTo(sticky.iterator().next());
            }
        } finally {
            exec(Lab.ROUTER, "ip", "route", "replace", "172.16.20.0/24", "via", Lab.NODE_IPS.get(Lab.LB));
        }
    }

    /** Pods serving 30 new connections to VIP21; every connection must work. */
    Set<String> newConnections21() throws Exception {
        Set<String> pods = new TreeSet<>();
        for (int i = 0; i < 30; i++) {
            Matcher m = who(who(VIP21), "new connection " + i);
            assertThat(m.group(2)).isEqualTo(Lab.CLIENT_IP);
            pods.add(m.group(1));
        }
        return pods;
    }

    long handoffs() {
        return Lab.NODES.stream().mapToLong(n -> dp(n).event(DsrEvent.HANDOFF)).sum();
    }

    /**
     * Reads a body of {@link PodServer#BLOCK} repetitions until {@code stop}; returns "bytes sha256" of what arrived
     * (throws when the connection breaks).
     */
    static CompletableFuture<String> readUntil(InputStream in, AtomicLong received, AtomicBoolean stop) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                MessageDigest d = MessageDigest.getInstance("SHA-256");
                byte[] buf = new byte[1 << 16];
                while (!stop.get()) {
                    int r = in.read(buf);
                    if (r < 0) {
                        throw new IOException("the download ended early, after " + received.get() + " bytes");
                    }
                    d.update(buf, 0, r);
                    received.addAndGet(r);
                }
                return received.get() + " " + HexFormat.of().formatHex(d.digest());
            } catch (Exception e) {
                throw new RuntimeException("download broke after " + received.get() + " bytes: " + e, e);
            }
        }, r -> Thread.ofPlatform().daemon().name("download").start(r)); // not the common pool: Lab.exec needs it
    }

    @Test
    @Order(18)
    void aTerminatingPodKeepsItsConnectionsGetsNoNewOnesAndEveryLbNodeAgrees() throws Exception {
        Socket s = ns.get(Lab.CLIENT).call(() -> {
            Socket c = new Socket();
            c.connect(new InetSocketAddress(VIP21, PORT), 3000);
            c.setSoTimeout(15_000);
            return c;
        });
        try (s) {
            // a download far longer than this test (64 KiB every 20 ms)
            s.getOutputStream().write(("whoslow " + (64L << 30) + "\n").getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            StringBuilder line = new StringBuilder();
            for (int c = in.read(); c != '\n'; c = in.read()) {
                line.append((char) c);
            }
            String pod = who(line.toString(), "the download's pod").group(1);
            AtomicLong received = new AtomicLong();
            AtomicBoolean stop = new AtomicBoolean();
            CompletableFuture<String> download = readUntil(in, received, stop);
            Await.until("the first MiB of the download", () -> received.get() >= 1 << 20);

            // the pod starts terminating: serving, but not ready
            pool21 = POOL.stream().filter(p -> !p.equals(pod)).toList();
            draining21 = List.of(pod);
            Applied drainStart = applyAll().get(Lab.LB);
            // more than the client's largest receive window (tcp_rmem 6 MiB): the pod must be getting its ACKs
            long before = received.get();
            Await.until("the download goes on", () -> received.get() >= before + (8 << 20));
            long handoffs = handoffs();
            Set<String> viaLb = newConnections21();
            System.out.printf("draining %s: the LB node wrote %d entries/slots in %d ms; new connections went to %s; "
                    + "%d packets handed off by workers%n", pod, drainStart.changes(), drainStart.took().toMillis(), viaLb,
                    handoffs() - handoffs);
            assertThat(viaLb).as("new connections avoid the terminating pod").doesNotContain(pod).isNotEmpty();
            assertThat(handoffs()).as("new connections whose slot the terminating pod held in the established table")
                    .isGreaterThan(handoffs);

            // another LB node (after a failover) decides the same for the running download and for new connections:
            // one where the terminating pod runs (it checks its own reverse entries) and one where it does not
            for (String lbNode : List.of(Lab.W1, Lab.W2)) {
                exec(Lab.ROUTER, "ip", "route", "replace", "172.16.20.0/24", "via", Lab.NODE_IPS.get(lbNode));
                try {
                    long balanced = dp(lbNode).event(DsrEvent.LB_FORWARDED) + dp(lbNode).event(DsrEvent.LB_LOCAL);
                    assertThat(newConnections21()).as("new connections through %s", lbNode).doesNotContain(pod);
                    long atFailover = received.get();
                    Await.until("the download goes on through " + lbNode, () -> received.get() >= atFailover + (1 << 20));
                    assertThat(dp(lbNode).event(DsrEvent.LB_FORWARDED) + dp(lbNode).event(DsrEvent.LB_LOCAL))
                            .as("%s did the load balancing", lbNode).isGreaterThan(balanced + 30);
                } finally {
                    exec(Lab.ROUTER, "ip", "route", "replace", "172.16.20.0/24", "via", Lab.NODE_IPS.get(Lab.LB));
                }
            }

            // a restarted programmer (a new agent on the LB node) finds exactly these tables
            programmers.get(Lab.LB).close();
            programmers.put(Lab.LB, new DsrProgrammer("eth0", lab.bpffs(Lab.LB), 16381));
            Applied again = ns.get(Lab.LB).call(() -> programmers.get(Lab.LB).apply(state(Lab.LB)));
            assertThat(again.changes()).as("entries a fresh programmer rewrote while a pod drains").isZero();
            long atRestart = received.get();
            Await.until("the download goes on after the restart", () -> received.get() >= atRestart + (1 << 20));

            stop.set(true);
            String[] got = download.get(30, TimeUnit.SECONDS).split(" ");
            assertThat(got[1]).as("the %s bytes from the terminating pod", got[0]).isEqualTo(PodServer.expectedHash(Long.parseLong(got[0])));
        } finally {
            // the pod is gone
            draining21 = List.of();
            applyAll();
        }
        assertThat(newConnections21()).hasSize(2);
        pool21 = POOL;
        applyAll();
    }

    @Test
    @Order(19)
    void icmpErrorsFromPodsReachTheClientAsErrorsAboutTheVip() throws Exception {
        // nothing listens on w1p1:9100: the pod's port unreachable must reach the client's connected socket
        assertThatThrownBy(() -> udp(VIP22, 9100, 0, 8)).as("connected UDP socket to VIP:9100")
                .isInstanceOf(java.net.PortUnreachableException.class);

        // a smaller MTU between w1 and its pod: w1 answers fragmentation-needed about the packet to the pod; the client
        // must learn the path MTU of the VIP
        exec(Lab.CLIENT, "ip", "route", "flush", "cache");
        exec(Lab.W1, "ip", "link", "set", "p-w1p1", "mtu", "1400");
        exec("w1p1", "ip", "link", "set", "eth0", "mtu", "1400");
        try {
            assertThat(who(udp(VIP22, PORT, 0, 1300), "fits").group(1)).isEqualTo("w1p1");
            assertThatThrownBy(() -> udp(VIP22, PORT, 0, 1450)).as("1478 bytes over a 1400-byte link").isInstanceOf(IOException.class);
            assertThat(exec(Lab.CLIENT, "ip", "route", "get", VIP22)).as("client's path MTU to the VIP").contains("mtu 1400");
        } finally {
            exec("w1p1", "ip", "link", "set", "eth0", "mtu", "1500");
            exec(Lab.W1, "ip", "link", "set", "p-w1p1", "mtu", "1500");
            exec(Lab.CLIENT, "ip", "route", "flush", "cache");
        }
    }

    @Test
    @Order(20)
    void cleanupLeavesNoDsrStateBehind() throws Exception {
        for (String node : Lab.NODES) {
            ns.get(node).run(() -> programmers.get(node).cleanup());
            assertThat(exec(node, "tc", "filter", "show", "dev", "eth0", "ingress")).as("%s ingress filters", node).isBlank();
            assertThat(exec(node, "tc", "filter", "show", "dev", "eth0", "egress")).as("%s egress filters", node).isBlank();
            assertThat(DsrDatapath.pinDir(lab.bpffs(node))).doesNotExist();
        }
        assertThatThrownBy(() -> tcp(VIP17, PORT, "who")).isInstanceOf(IOException.class);
        // cleaning again is harmless
        ns.get(Lab.LB).run(() -> programmers.get(Lab.LB).cleanup());
    }
}
