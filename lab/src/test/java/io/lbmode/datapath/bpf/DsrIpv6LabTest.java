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
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.lab.LabSupport;
import io.lbmode.lab.Netns;
import java.io.IOException;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
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
import java.util.concurrent.TimeUnit;
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
 * DSR over IPv6 end to end, with real packets in the lab's namespaces (ULA addresses only): {@link DsrProgrammer} on
 * every node, the client in its own namespace, {@link PodServer}s in the pods. The VIP travels from the LB node to the
 * worker in Cilium's Destination Options header (datapath/src/main/bpf/README.md).
 *
 * <p>Services:
 * <ul>
 *   <li>fd00:172:16:20::10 TCP 80 -> w1p1:8080 (the lab's HTTP echo pod; the header example of the README)</li>
 *   <li>fd00:172:16:20::17 TCP/UDP 9000 -> w1p1, w2p1, w2p2 :9000</li>
 *   <li>dual stack: 172.16.20.16 and fd00:172:16:20::16 TCP 9000 -> the same pods, each VIP by its own family</li>
 *   <li>fd00:172:16:20::19 TCP 9000 -> the pool, {@code loadBalancerSourceRanges} [10.0.1.0/24] (IPv4 only)</li>
 *   <li>fd00:172:16:20::18 TCP 9000 -> the pool, {@code loadBalancerSourceRanges} {@link #ranges18} (IPv6 prefixes)</li>
 *   <li>fd00:172:16:20::21 TCP 9000 -> {@link #pool21} ready, {@link #draining21} serving but terminating</li>
 *   <li>fd00:172:16:20::23 TCP/UDP 9000 -> lbp1:9000, a pod on the LB node itself (fd00:10:244:ff::2)</li>
 *   <li>fd00:172:16:20::22 UDP 9000 -> w1p1:9000 (oversized datagrams: Packet Too Big), UDP 9100 -> w1p1:9100 (nothing
 *       listens: ICMPv6 port unreachable)</li>
 * </ul>
 */
@Tag("lab")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DsrIpv6LabTest {
    static final String V6_WEB = "fd00:172:16:20::10";
    static final String V6_POOL = "fd00:172:16:20::17";
    static final String DUAL4 = "172.16.20.16";
    static final String DUAL6 = "fd00:172:16:20::16";
    static final String V6_RANGED = "fd00:172:16:20::19";
    static final String V6_RANGED6 = "fd00:172:16:20::18";
    static final String V6_MTU = "fd00:172:16:20::22";
    static final String V6_DRAIN = "fd00:172:16:20::21";
    static final String V6_LOCAL = "fd00:172:16:20::23";
    static final String LB_POD = "lbp1";
    static final String LB_POD_IP6 = "fd00:10:244:ff::2";
    static final List<String> POOL = List.of("w1p1", "w2p1", "w2p2");
    static final int PORT = 9000;
    static final long SEED = 0x1b5d_2026L;
    static final Map<String, String> POD_NODE = Map.of("w1p1", Lab.W1, "w2p1", Lab.W2, "w2p2", Lab.W2, LB_POD, Lab.LB);

    Lab lab;
    final Map<String, Netns> ns = new HashMap<>();
    final Map<String, DsrProgrammer> programmers = new LinkedHashMap<>();
    final List<PodServer> servers = new ArrayList<>();
    List<String> pool21 = POOL;
    List<String> draining21 = List.of();
    List<Cidr> ranges18 = List.of(Cidr.parse("fd00:1::/64").orElseThrow(), Cidr.parse("10.0.1.0/24").orElseThrow());

    @BeforeAll
    void setUp() throws Exception {
        LabSupport.requireRoot();
        lab = Lab.start(LabSpec.unique());
        try {
            // A pod on the LB node (the shared lab has none), IPv6 only: namespace, veth, addresses, route.
            sh("ip", "netns", "add", lab.ns(LB_POD));
            sh("ip", "link", "add", "eth0", "netns", lab.ns(LB_POD), "type", "veth", "peer", "p-lbp1", "netns", lab.ns(Lab.LB));
            sh("ip", "-n", lab.ns(LB_POD), "link", "set", "lo", "up");
            sh("ip", "-n", lab.ns(LB_POD), "link", "set", "eth0", "up");
            sh("ip", "-n", lab.ns(LB_POD), "-6", "addr", "add", LB_POD_IP6 + "/64", "dev", "eth0", "nodad");
            sh("ip", "-n", lab.ns(Lab.LB), "-6", "addr", "add", "fd00:10:244:ff::1/64", "dev", "p-lbp1", "nodad");
            sh("ip", "-n", lab.ns(Lab.LB), "link", "set", "p-lbp1", "up");
            sh("ip", "-n", lab.ns(LB_POD), "-6", "route", "add", "default", "via", "fd00:10:244:ff::1");
            for (String m : List.of(Lab.CLIENT, Lab.ROUTER, Lab.LB, Lab.W1, Lab.W2, "w1p1", "w2p1", "w2p2", LB_POD)) {
                ns.put(m, new Netns(lab.ns(m)));
            }
            servers.add(new PodServer(ns.get(LB_POD), LB_POD, PORT));
            for (String pod : POOL) {
                servers.add(new PodServer(ns.get(pod), pod, PORT));
            }
            // Conntrack on in the LB node (a rule that uses it), and counters for anything coming from pods or VIPs into
            // the LB node's interface: replies that DSR must keep away from it.
            nft(Lab.LB, """
                    table inet lbtest {
                      chain pre {
                        type filter hook prerouting priority -150;
                        ct state new counter
                      }
                    }
                    table netdev lbtest {
                      chain in {
                        type filter hook ingress device "eth0" priority 0;
                        ip6 saddr fd00:10:244::/48 counter comment "from-pods"
                        ip6 saddr fd00:172:16:20::/64 counter comment "from-vips"
                      }
                    }
                    """);
            for (String node : Lab.NODES) {
                programmers.put(node, new DsrProgrammer("eth0", lab.bpffs(node), 16381));
            }
            applyAll();
            lab.awaitPods();
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

    static void sh(String... cmd) throws Exception {
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

    static Backend backend(String pod, int port, String node, boolean ipv6) {
        String ip = pod.equals(LB_POD) ? LB_POD_IP6 : ipv6 ? Lab.PODS6.get(pod) : Lab.PODS.get(pod).get(1);
        return new Backend(Addresses.ip(ip), port, POD_NODE.get(pod), POD_NODE.get(pod).equals(node));
    }

    static ServicePort svc(String name, Protocol proto, String vip, int port, List<String> pods, int podPort, String node,
                           ServicePort.Policy policy) {
        boolean v6 = vip.contains(":");
        return new ServicePort("default", name, "", proto, Addresses.ip(vip), port, false,
                pods.stream().map(p -> backend(p, podPort, node, v6)).toList(), List.of(), policy);
    }

    static ServicePort svc(String name, Protocol proto, String vip, int port, List<String> pods, int podPort, String node) {
        return svc(name, proto, vip, port, pods, podPort, node, ServicePort.Policy.OPEN);
    }

    NodeState state(String node) {
        List<ServicePort> s = List.of(
                svc("web", Protocol.TCP, V6_WEB, 80, List.of("w1p1"), Lab.POD_PORT, node),
                svc("pool", Protocol.TCP, V6_POOL, PORT, POOL, PORT, node),
                svc("pool-udp", Protocol.UDP, V6_POOL, PORT, POOL, PORT, node),
                svc("dual", Protocol.TCP, DUAL4, PORT, POOL, PORT, node),
                svc("dual", Protocol.TCP, DUAL6, PORT, POOL, PORT, node),
                svc("ranged", Protocol.TCP, V6_RANGED, PORT, POOL, PORT, node,
                        new ServicePort.Policy(List.of(Cidr.parse("10.0.1.0/24").orElseThrow()), 0)),
                svc("ranged6", Protocol.TCP, V6_RANGED6, PORT, POOL, PORT, node, new ServicePort.Policy(ranges18, 0)),
                new ServicePort("default", "drain", "", Protocol.TCP, Addresses.ip(V6_DRAIN), PORT, false,
                        pool21.stream().map(p -> backend(p, PORT, node, true)).toList(),
                        draining21.stream().map(p -> backend(p, PORT, node, true)).toList(), ServicePort.Policy.OPEN),
                svc("local", Protocol.TCP, V6_LOCAL, PORT, List.of(LB_POD), PORT, node),
                svc("local-udp", Protocol.UDP, V6_LOCAL, PORT, List.of(LB_POD), PORT, node),
                svc("mtu", Protocol.UDP, V6_MTU, PORT, List.of("w1p1"), PORT, node),
                svc("closed-udp", Protocol.UDP, V6_MTU, 9100, List.of("w1p1"), 9100, node));
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

    long events(DsrEvent e, String... nodes) {
        long n = 0;
        for (String node : nodes) {
            n += dp(node).event(e);
        }
        return n;
    }

    Socket connect(String vip, int port, int readTimeoutMs) throws Exception {
        return ns.get(Lab.CLIENT).call(() -> {
            Socket c = new Socket();
            c.connect(new InetSocketAddress(vip, port), 3000);
            c.setSoTimeout(readTimeoutMs);
            return c;
        });
    }

    String who(String vip, int port) throws Exception {
        try (Socket s = connect(vip, port, 10_000)) {
            s.getOutputStream().write("who\n".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
        }
    }

    String udp(String vip, int port, int size) throws Exception {
        return ns.get(Lab.CLIENT).call(() -> {
            try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(0))) {
                s.connect(new InetSocketAddress(vip, port));
                s.setSoTimeout(2000);
                s.send(new DatagramPacket(new byte[size], size));
                DatagramPacket reply = new DatagramPacket(new byte[2048], 2048);
                s.receive(reply);
                return new String(reply.getData(), 0, reply.getLength(), StandardCharsets.US_ASCII).trim();
            }
        });
    }

    static final Pattern WHO = Pattern.compile("pod=(\\S+) client=(\\S+):(\\d+)");

    /** {pod, client address} of a {@code who} answer. */
    static Object[] who(String answer) throws Exception {
        Matcher m = WHO.matcher(answer);
        assertThat(m.find()).as("who answer: " + answer).isTrue();
        return new Object[]{m.group(1), InetAddress.getByName(m.group(2))};
    }

    static final InetAddress CLIENT6 = Addresses.ip(Lab.CLIENT_IP6);

    long nftCounter(String comment) throws Exception {
        String out = exec(Lab.LB, "nft", "list", "table", "netdev", "lbtest");
        Matcher m = Pattern.compile("counter packets (\\d+) bytes \\d+ comment \"" + comment + "\"").matcher(out);
        assertThat(m.find()).as("counter " + comment + " in\n" + out).isTrue();
        return Long.parseLong(m.group(1));
    }

    void awaitListening(String log) throws Exception {
        lab.await(log + " listening", Duration.ofSeconds(10), () -> lab.log(log).stream().anyMatch(l -> l.contains("listening on")));
    }

    /** The TCP/UDP checksum over an IPv6 pseudo header and the segment at {@code l4} (0 when right). */
    static int l4Checksum6(byte[] f, int ip, int l4, int proto) {
        int len = f.length - l4;
        byte[] p = new byte[40 + len];
        System.arraycopy(f, ip + 8, p, 0, 32);
        p[32] = (byte) (len >>> 24);
        p[33] = (byte) (len >>> 16);
        p[34] = (byte) (len >>> 8);
        p[35] = (byte) len;
        p[39] = (byte) proto;
        System.arraycopy(f, l4, p, 40, len);
        return Pcap.checksum(p, 0, p.length);
    }

    // ---------------------------------------------------------------------------------------------------------------

    @Test
    @Order(1)
    void tcpOverIpv6ReachesEveryWorkerAndThePodsSeeTheRealIpv6Client() throws Exception {
        Set<String> pods = new TreeSet<>();
        for (int i = 0; i < 40; i++) {
            Object[] w = who(who(V6_POOL, PORT));
            assertThat(w[1]).as("address the pod saw").isEqualTo(CLIENT6);
            pods.add((String) w[0]);
        }
        assertThat(pods).contains("w1p1").containsAnyOf("w2p1", "w2p2");
        assertThat(dp(Lab.LB).event(DsrEvent.LB_OPTION)).as("Destination Options headers inserted").isPositive();
        assertThat(events(DsrEvent.OPTION_STRIPPED, Lab.W1, Lab.W2)).isPositive();
        assertThat(events(DsrEvent.REPLY_REWRITTEN, Lab.W1, Lab.W2)).isPositive();
        // the lab's HTTP pod as well
        Object[] http = who(lab.httpGet(Lab.CLIENT, V6_WEB, 80, "/"));
        assertThat(http).containsExactly("w1p1", CLIENT6);
    }

    @Test
    @Order(2)
    void udpOverIpv6AnswersFromTheVip() throws Exception {
        // a connected socket accepts datagrams from VIP:port only: an answer proves the source was rewritten
        Set<String> pods = new TreeSet<>();
        for (int i = 0; i < 30; i++) {
            Object[] w = who(udp(V6_POOL, PORT, 100));
            assertThat(w[1]).isEqualTo(CLIENT6);
            pods.add((String) w[0]);
        }
        assertThat(pods).contains("w1p1").containsAnyOf("w2p1", "w2p2");
    }

    @Test
    @Order(3)
    void theSynCarriesCiliumsDestinationOptionsHeaderByteForByte() throws Exception {
        // The client computes its TCP checksums in software from here on (no CHECKSUM_PARTIAL left for a NIC that a
        // veth does not have), so the captured checksum is a complete one this test can verify after the DNAT.
        ns.get(Lab.CLIENT).run(() -> Ethtool.checksumOffloadOff("eth0"));
        Path pcap = lab.logDir().resolve("w1-syn6.pcap");
        // next header 60: only packets that still carry the header (tcpdump sees them before tc strips it)
        Process dump = lab.spawn(Lab.W1, "tcpdump-w1-6", List.of("tcpdump", "-i", "eth0", "-n", "-U", "-c", "1", "-w",
                pcap.toString(), "ip6 and ip6[6] = 60"));
        awaitListening("tcpdump-w1-6");
        lab.httpGet(Lab.CLIENT, V6_WEB, 80, "/");
        assertThat(dump.waitFor(10, TimeUnit.SECONDS)).as("tcpdump saw the SYN").isTrue();
        byte[] f = Pcap.frames(pcap).getFirst();
        int ip = 14;
        assertThat(HexFormat.of().formatHex(f, 12, 14)).as("EtherType IPv6").isEqualTo("86dd");
        assertThat(f[ip + 6] & 0xff).as("IPv6 next header: Destination Options").isEqualTo(60);
        int ext = ip + 40;
        // datapath/src/main/bpf/README.md, from Cilium's dsr_set_ext6: next header TCP, length 2, option 0x1b, 20 bytes
        // of data: the VIP fd00:172:16:20::10, port 80 in network order, 2 bytes of pad
        assertThat(HexFormat.ofDelimiter(" ").formatHex(f, ext, ext + 24))
                .isEqualTo("06 02 1b 14 fd 00 01 72 00 16 00 20 00 00 00 00 00 00 00 10 00 50 00 00");
        int tcp = ext + 24;
        int tcpLen = f.length - tcp;
        assertThat(((f[ip + 4] & 0xff) << 8) | (f[ip + 5] & 0xff)).as("payload length = header + TCP").isEqualTo(24 + tcpLen);
        assertThat(f[tcp + 13] & 0x12).as("TCP flags: SYN without ACK").isEqualTo(0x02);
        // source still the client, destination already the pod (fd00:10:244:1::2), port 8080
        assertThat(HexFormat.of().formatHex(f, ip + 8, ip + 24)).isEqualTo("fd000001000000000000000000000002");
        assertThat(HexFormat.of().formatHex(f, ip + 24, ip + 40)).isEqualTo("fd000010024400010000000000000002");
        assertThat(HexFormat.of().formatHex(f, tcp + 2, tcp + 4)).isEqualTo("1f90");
        assertThat(l4Checksum6(f, ip, tcp, 6)).as("TCP checksum after the DNAT").isZero();
    }

    @Test
    @Order(4)
    void aDownloadPassesTheLbNodeOnlyAsRequestsAndAcksAndItKeepsNoConntrack() throws Exception {
        long n = 8L << 20;
        long[] before = lab.interfaceBytes(Lab.LB, "eth0");
        long fromPods = nftCounter("from-pods");
        long fromVips = nftCounter("from-vips");
        try (Socket s = connect(V6_POOL, PORT, 15_000)) {
            s.getOutputStream().write(("bytes " + n + "\n").getBytes(StandardCharsets.US_ASCII));
            assertThat(sha256(s.getInputStream(), n)).isEqualTo(PodServer.expectedHash(n));
        }
        long[] after = lab.interfaceBytes(Lab.LB, "eth0");
        long lbBytes = (after[0] - before[0]) + (after[1] - before[1]);
        System.out.printf("DSR IPv6 8 MiB download: LB node eth0 moved %d bytes = %.3f%% of the 2 x 8 MiB SNAT must move%n",
                lbBytes, lbBytes * 100.0 / (2 * n));
        assertThat(lbBytes).isLessThan(2 * n / 100);
        assertThat(nftCounter("from-pods")).as("packets from pods into the LB node").isEqualTo(fromPods);
        assertThat(nftCounter("from-vips")).as("packets from VIPs into the LB node").isEqualTo(fromVips);

        // positive control: a datagram to the LB node's own IPv6 address is tracked
        assertThatThrownBy(() -> udp(Lab.NODE_IPS6.get(Lab.LB), 9, 4)).isInstanceOf(IOException.class);
        who(V6_POOL, PORT);
        udp(V6_POOL, PORT, 10);
        String table = exec(Lab.LB, "conntrack", "-L", "-f", "ipv6");
        assertThat(table).as("conntrack works in the LB node (control)").contains("dst=" + Lab.NODE_IPS6.get(Lab.LB));
        List<String> dsr = table.lines().filter(l -> l.contains("src=" + Lab.CLIENT_IP6))
                .filter(l -> l.contains("dst=" + V6_POOL) || l.contains("dst=fd00:10:244:")).toList();
        assertThat(dsr).as("LB node conntrack entries for IPv6 DSR flows").isEmpty();
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

    @Test
    @Order(5)
    void aDualStackServiceAnswersOnBothVipsEachInItsOwnFamily() throws Exception {
        long options = dp(Lab.LB).event(DsrEvent.LB_OPTION);
        Object[] over4 = who(who(DUAL4, PORT));
        Object[] over6 = who(who(DUAL6, PORT));
        assertThat(over4[1]).as("the pod sees the IPv4 client").isEqualTo(Addresses.ip(Lab.CLIENT_IP));
        assertThat(over6[1]).as("the pod sees the IPv6 client").isEqualTo(CLIENT6);
        assertThat(List.of(over4[0], over6[0])).allMatch(POOL::contains);
        assertThat(dp(Lab.LB).event(DsrEvent.LB_OPTION)).as("an option for each SYN").isGreaterThanOrEqualTo(options + 2);
    }

    @Test
    @Order(6)
    void anOversizedDatagramGetsPacketTooBigWithTheMtuLessTheHeader() throws Exception {
        exec(Lab.CLIENT, "ip", "-6", "route", "flush", "cache");
        long before = dp(Lab.LB).drops().get(DropReason.FRAG_NEEDED);
        Path pcap = lab.logDir().resolve("client-ptb.pcap");
        Process dump = lab.spawn(Lab.CLIENT, "tcpdump-client-6", List.of("tcpdump", "-i", "eth0", "-n", "-U", "-c", "1", "-w",
                pcap.toString(), "icmp6 and ip6[40] = 2"));
        awaitListening("tcpdump-client-6");
        // 1452 bytes of payload: a 1500-byte IPv6 packet, the MTU everywhere; 24 more bytes of header would not fit
        assertThatThrownBy(() -> udp(V6_MTU, PORT, 1452)).isInstanceOf(Exception.class);
        assertThat(dump.waitFor(10, TimeUnit.SECONDS)).as("Packet Too Big reached the client").isTrue();
        byte[] f = Pcap.frames(pcap).getFirst();
        int ip = 14;
        int icmp = ip + 40;
        assertThat(f[ip + 6] & 0xff).as("next header ICMPv6").isEqualTo(58);
        assertThat(f[icmp] & 0xff).as("ICMPv6 type Packet Too Big").isEqualTo(2);
        assertThat(f[icmp + 1] & 0xff).as("code").isZero();
        assertThat(((f[icmp + 4] & 0xff) << 24) | ((f[icmp + 5] & 0xff) << 16) | ((f[icmp + 6] & 0xff) << 8) | (f[icmp + 7] & 0xff))
                .as("MTU: 1500 less the 24-byte header").isEqualTo(1476);
        assertThat(HexFormat.of().formatHex(f, ip + 8, ip + 24)).as("from the VIP").isEqualTo("fd000172001600200000000000000022");
        assertThat(HexFormat.of().formatHex(f, icmp + 8 + 24, icmp + 8 + 40)).as("quoted packet went to the VIP")
                .isEqualTo("fd000172001600200000000000000022");
        assertThat(l4Checksum6(f, ip, icmp, 58)).as("ICMPv6 checksum").isZero();
        assertThat(dp(Lab.LB).drops().get(DropReason.FRAG_NEEDED)).isGreaterThan(before);
        assertThat(exec(Lab.CLIENT, "ip", "-6", "route", "get", V6_MTU)).as("client's path MTU to the VIP").contains("mtu 1476");
        assertThat(who(udp(V6_MTU, PORT, 1400))[0]).as("a datagram that fits").isEqualTo("w1p1");
        exec(Lab.CLIENT, "ip", "-6", "route", "flush", "cache");
    }

    @Test
    @Order(7)
    void anIpv6VipWhoseSourceRangesAreAllIpv4AdmitsNoClient() throws Exception {
        long refused = dp(Lab.LB).drops().get(DropReason.NOT_IN_SOURCE_RANGES);
        boolean connected = ns.get(Lab.CLIENT).call(() -> {
            try (Socket c = new Socket()) {
                c.connect(new InetSocketAddress(V6_RANGED, PORT), 1000);
                return true;
            } catch (java.net.SocketTimeoutException e) {
                return false;
            }
        });
        assertThat(connected).as("no IPv6 prefix listed: the SYN is dropped, never forwarded").isFalse();
        assertThat(dp(Lab.LB).drops().get(DropReason.NOT_IN_SOURCE_RANGES)).isGreaterThan(refused);
    }

    boolean connects(String vip) throws Exception {
        return ns.get(Lab.CLIENT).call(() -> {
            try (Socket c = new Socket()) {
                c.connect(new InetSocketAddress(vip, PORT), 1000);
                return true;
            } catch (java.net.SocketTimeoutException e) {
                return false;
            }
        });
    }

    @Test
    @Order(7)
    void ipv6SourceRangesAdmitClientsInsideAndDropOthers() throws Exception {
        assertThat(who(who(V6_RANGED6, PORT))[1]).as("the client is in fd00:1::/64").isEqualTo(CLIENT6);
        long refused = dp(Lab.LB).drops().get(DropReason.NOT_IN_SOURCE_RANGES);
        ranges18 = List.of(Cidr.parse("2001:db8::/32").orElseThrow(), Cidr.parse("10.0.1.0/24").orElseThrow());
        applyAll();
        assertThat(connects(V6_RANGED6)).as("the client is outside 2001:db8::/32 (the IPv4 prefix is not for IPv6)").isFalse();
        assertThat(dp(Lab.LB).drops().get(DropReason.NOT_IN_SOURCE_RANGES)).isGreaterThan(refused);
        // the client's own /128 beside the other prefix: the longest match admits it
        ranges18 = List.of(Cidr.parse("2001:db8::/32").orElseThrow(), Cidr.parse(Lab.CLIENT_IP6 + "/128").orElseThrow());
        applyAll();
        assertThat(who(who(V6_RANGED6, PORT))[1]).isEqualTo(CLIENT6);
        ranges18 = List.of(Cidr.parse("fd00:1::/64").orElseThrow(), Cidr.parse("10.0.1.0/24").orElseThrow());
        applyAll();
        assertThat(who(who(V6_RANGED6, PORT))[1]).isEqualTo(CLIENT6);
    }

    @Test
    @Order(8)
    void driftInTheIpv6MapsIsSeenAndRepairedAndARestartAdoptsThem() throws Exception {
        DsrProgrammer lb = programmers.get(Lab.LB);
        Netns lbNs = ns.get(Lab.LB);
        assertThat(lbNs.call(lb::drifted)).isFalse();
        // fd00:172:16:20::17 port 9000 tcp
        List<String> key = new ArrayList<>(List.of("bpftool", "map", "delete", "pinned",
                DsrDatapath.pinDir(lab.bpffs(Lab.LB)).resolve(DsrDatapath.SERVICES6).toString(), "key", "hex"));
        for (String b : "fd 00 01 72 00 16 00 20 00 00 00 00 00 00 00 17 23 28 06 00".split(" ")) {
            key.add(b);
        }
        exec(Lab.LB, key.toArray(String[]::new));
        assertThat(lbNs.call(lb::drifted)).as("an IPv6 service entry missing").isTrue();
        lbNs.run(lb::repair);
        assertThat(lbNs.call(lb::drifted)).isFalse();
        assertThat(who(who(V6_POOL, PORT))[1]).isEqualTo(CLIENT6);
        // someone removes the IPv6 source range that lets the client reach fd00:172:16:20::18:9000/tcp
        List<String> range = new ArrayList<>(List.of("bpftool", "map", "delete", "pinned",
                DsrDatapath.pinDir(lab.bpffs(Lab.LB)).resolve(DsrDatapath.SOURCE_RANGES6).toString(), "key", "hex",
                "e0", "00", "00", "00"));
        for (String b : ("fd 00 01 72 00 16 00 20 00 00 00 00 00 00 00 18 23 28 06 00 "
                + "fd 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00").split(" ")) {
            range.add(b);
        }
        exec(Lab.LB, range.toArray(String[]::new));
        assertThat(lbNs.call(lb::drifted)).as("an IPv6 source range missing").isTrue();
        lbNs.run(lb::repair);
        assertThat(lbNs.call(lb::drifted)).isFalse();
        assertThat(who(who(V6_RANGED6, PORT))[1]).as("source range repaired").isEqualTo(CLIENT6);

        // a restarted agent finds exactly these IPv6 entries and tables in the pinned maps
        lb.close();
        programmers.put(Lab.LB, new DsrProgrammer("eth0", lab.bpffs(Lab.LB), 16381));
        Applied again = lbNs.call(() -> programmers.get(Lab.LB).apply(state(Lab.LB)));
        assertThat(again.full()).isTrue();
        assertThat(again.changes()).as("entries a fresh programmer rewrote").isZero();
        assertThat(who(who(V6_POOL, PORT))[1]).isEqualTo(CLIENT6);

        // someone leaves IPv4-mapped entries ([::ffff:172.16.20.99]:9000/tcp, and backend 999 [::ffff:10.244.1.99]:8080),
        // bytes InetAddress reads back as IPv4 addresses: a restarted agent removes them as stale, never crashes
        Path pins = DsrDatapath.pinDir(lab.bpffs(Lab.LB));
        String mappedService = "00 00 00 00 00 00 00 00 00 00 ff ff ac 10 14 63 23 28 06 00";
        String mappedBackendId = "e7 03 00 00";
        bpftoolMap(Lab.LB, "update", pins.resolve(DsrDatapath.SERVICES6), mappedService,
                "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
        bpftoolMap(Lab.LB, "update", pins.resolve(DsrDatapath.BACKENDS6), mappedBackendId,
                "00 00 00 00 00 00 00 00 00 00 ff ff 0a f4 01 63 1f 90 00 00");
        programmers.get(Lab.LB).close();
        programmers.put(Lab.LB, new DsrProgrammer("eth0", lab.bpffs(Lab.LB), 16381));
        Applied adopted = lbNs.call(() -> programmers.get(Lab.LB).apply(state(Lab.LB)));
        assertThat(adopted.full()).isTrue();
        assertThat(lab.exec(Lab.LB, bpftoolLookup(pins.resolve(DsrDatapath.SERVICES6), mappedService)).ok())
                .as("the IPv4-mapped service entry removed").isFalse();
        assertThat(lab.exec(Lab.LB, bpftoolLookup(pins.resolve(DsrDatapath.BACKENDS6), mappedBackendId)).ok())
                .as("the IPv4-mapped backend removed").isFalse();
        assertThat(lbNs.call(programmers.get(Lab.LB)::drifted)).isFalse();
        assertThat(who(who(V6_POOL, PORT))[1]).isEqualTo(CLIENT6);

        // someone leaves a source range whose prefix (40 bits) stops inside the service part of the key (64 bits):
        // no agent writes one, it would admit clients to every service it covers; drift, and a repair removes it
        String shortRange = "28 00 00 00 ac 10 14 00 00 00 00 00 00 00 00 00";
        bpftoolMap(Lab.LB, "update", pins.resolve(DsrDatapath.SOURCE_RANGES), shortRange, "01 00 00 00");
        assertThat(lbNs.call(programmers.get(Lab.LB)::drifted)).as("a malformed source range").isTrue();
        lbNs.run(programmers.get(Lab.LB)::repair);
        assertThat(lab.exec(Lab.LB, bpftoolLookup(pins.resolve(DsrDatapath.SOURCE_RANGES), shortRange)).ok())
                .as("the malformed source range removed").isFalse();
        assertThat(lbNs.call(programmers.get(Lab.LB)::drifted)).isFalse();
        assertThat(who(who(V6_POOL, PORT))[1]).isEqualTo(CLIENT6);
    }

    /** {@code bpftool map update pinned MAP key hex KEY value hex VALUE} (bytes space-separated) in {@code member}. */
    void bpftoolMap(String member, String op, Path map, String key, String value) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("bpftool", "map", op, "pinned", map.toString(), "key", "hex"));
        cmd.addAll(List.of(key.split(" ")));
        cmd.addAll(List.of("value", "hex"));
        cmd.addAll(List.of(value.split(" ")));
        exec(member, cmd.toArray(String[]::new));
    }

    static String[] bpftoolLookup(Path map, String key) {
        List<String> cmd = new ArrayList<>(List.of("bpftool", "map", "lookup", "pinned", map.toString(), "key", "hex"));
        cmd.addAll(List.of(key.split(" ")));
        return cmd.toArray(String[]::new);
    }

    @Test
    @Order(9)
    void icmpv6ErrorsAboutAPodReachTheClientAsErrorsAboutTheVip() throws Exception {
        // nothing listens on w1p1:9100: the pod's port unreachable must reach the client's connected socket
        assertThatThrownBy(() -> udp(V6_MTU, 9100, 8)).as("connected UDP socket to [VIP]:9100")
                .isInstanceOf(java.net.PortUnreachableException.class);

        // a smaller MTU between w1 and its pod: w1 sends Packet Too Big about the packet to the pod (IPv6 routers do not
        // fragment); the client must learn the path MTU of the VIP
        exec(Lab.CLIENT, "ip", "-6", "route", "flush", "cache");
        exec(Lab.W1, "ip", "link", "set", "p-w1p1", "mtu", "1400");
        exec("w1p1", "ip", "link", "set", "eth0", "mtu", "1400");
        try {
            assertThat(who(udp(V6_MTU, PORT, 1300))[0]).as("fits").isEqualTo("w1p1");
            assertThatThrownBy(() -> udp(V6_MTU, PORT, 1420)).as("1468 bytes over a 1400-byte link").isInstanceOf(IOException.class);
            assertThat(exec(Lab.CLIENT, "ip", "-6", "route", "get", V6_MTU)).as("client's path MTU to the VIP").contains("mtu 1400");
        } finally {
            exec("w1p1", "ip", "link", "set", "eth0", "mtu", "1500");
            exec(Lab.W1, "ip", "link", "set", "p-w1p1", "mtu", "1500");
            exec(Lab.CLIENT, "ip", "-6", "route", "flush", "cache");
        }
    }

    @Test
    @Order(10)
    void aTerminatingIpv6PodKeepsItsConnectionAndGetsNoNewOnes() throws Exception {
        try (Socket s = connect(V6_DRAIN, PORT, 15_000)) {
            // a download far longer than this test (64 KiB every 20 ms)
            s.getOutputStream().write(("whoslow " + (64L << 30) + "\n").getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            StringBuilder line = new StringBuilder();
            for (int c = in.read(); c != '\n'; c = in.read()) {
                line.append((char) c);
            }
            String pod = (String) who(line.toString())[0];
            byte[] buf = new byte[1 << 16];
            long received = 0;
            while (received < 1 << 20) {
                received += in.read(buf);
            }
            pool21 = POOL.stream().filter(p -> !p.equals(pod)).toList();
            draining21 = List.of(pod);
            applyAll();
            long handoffs = events(DsrEvent.HANDOFF, Lab.NODES.toArray(String[]::new));
            // more than the client's receive window: the terminating pod keeps getting the client's ACKs
            for (long more = 0; more < 8 << 20; ) {
                int r = in.read(buf);
                assertThat(r).as("the download from the terminating pod goes on").isPositive();
                more += r;
            }
            Set<String> fresh = new TreeSet<>();
            for (int i = 0; i < 30; i++) {
                Object[] w = who(who(V6_DRAIN, PORT));
                assertThat(w[1]).isEqualTo(CLIENT6);
                fresh.add((String) w[0]);
            }
            System.out.printf("IPv6 drain of %s: new connections went to %s, %d packets handed off%n", pod, fresh,
                    events(DsrEvent.HANDOFF, Lab.NODES.toArray(String[]::new)) - handoffs);
            assertThat(fresh).as("new connections avoid the terminating pod").doesNotContain(pod).isNotEmpty();
            assertThat(events(DsrEvent.HANDOFF, Lab.NODES.toArray(String[]::new)))
                    .as("new connections whose established slot is the terminating pod's, handed on by its node").isGreaterThan(handoffs);
        } finally {
            draining21 = List.of();
            pool21 = POOL;
            applyAll();
        }
    }

    @Test
    @Order(11)
    void aPodOnTheLbNodeItselfIsReachedWithoutTheHeaderAndAnswersFromTheVip() throws Exception {
        long local = dp(Lab.LB).event(DsrEvent.LB_LOCAL);
        long options = dp(Lab.LB).event(DsrEvent.LB_OPTION);
        assertThat(who(who(V6_LOCAL, PORT))).containsExactly(LB_POD, CLIENT6);
        assertThat(who(udp(V6_LOCAL, PORT, 20))).containsExactly(LB_POD, CLIENT6);
        try (Socket s = connect(V6_LOCAL, PORT, 15_000)) {
            s.getOutputStream().write(("bytes " + (2 << 20) + "\n").getBytes(StandardCharsets.US_ASCII));
            assertThat(sha256(s.getInputStream(), 2 << 20)).isEqualTo(PodServer.expectedHash(2 << 20));
        }
        assertThat(dp(Lab.LB).event(DsrEvent.LB_LOCAL)).as("delivered to the local pod").isGreaterThan(local);
        assertThat(dp(Lab.LB).event(DsrEvent.LB_OPTION)).as("no header for a pod of this node").isEqualTo(options);
    }
}
