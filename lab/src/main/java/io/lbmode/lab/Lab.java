package io.lbmode.lab;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.datapath.fixtures.LabObjects;
import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A small bare-metal cluster in network namespaces (root needed), for tests, the demo and people trying lbmode:
 *
 * <pre>
 *  client 10.0.1.2 ── router 10.0.1.1 / br0 10.0.0.1 ──┬── lb  10.0.0.10 (eth0)        VIPs 172.16.20.0/24 routed here
 *                                                      ├── w1  10.0.0.11 ── cbr0 10.244.1.1 ── pod w1p1 10.244.1.2
 *                                                      └── w2  10.0.0.12 ── cbr0 10.244.2.1 ── pods w2p1 10.244.2.2, w2p2 10.244.2.3
 * </pre>
 * IPv6 (ULA, inside the lab's namespaces only) beside it: client fd00:1::2, router fd00:1::1 / fd00::1, nodes
 * fd00::10-12, pods fd00:10:244:N::2.., VIPs fd00:172:16:20::/64 routed to the LB node; see {@link #buildIpv6()}.
 * The router stands in for the MetalLB speaker's announcement (VIP route to the LB node) and is also the workers'
 * default gateway: the direct return path to the client that bypasses the LB node (DSR). Each node has a state dir
 * for a standalone agent, a bpffs directory and a log directory under {@code /run/lbmode-lab/PREFIX/}.
 * {@link #close()} removes everything, and {@link #start} first removes labs of dead processes.
 */
public final class Lab implements AutoCloseable {
    public static final String CLIENT = "client";
    public static final String ROUTER = "router";
    public static final String LB = LabObjects.LB;
    public static final String W1 = LabObjects.W1;
    public static final String W2 = LabObjects.W2;
    public static final List<String> NODES = LabObjects.NODES;
    public static final String CLIENT_IP = "10.0.1.2";
    /**
     * A second client address whose packets to pods the router sends through the LB node, which forwards them as plain
     * Linux IP forwarding; replies come back directly, as in DSR. The like-for-like baseline for DSR: the same hops
     * (client, router, LB node, worker, pod, and back without the LB node) with no lbmode in the path.
     */
    public static final String CLIENT_VIA_LB_IP = "10.0.1.3";
    public static final String ROUTER_NODE_IP = "10.0.0.1";
    public static final Map<String, String> NODE_IPS = LabObjects.NODE_IPS;
    public static final Map<String, String> POD_CIDRS = Map.of(W1, "10.244.1.0/24", W2, "10.244.2.0/24");
    /** Pod name -> (node, address). */
    public static final Map<String, List<String>> PODS = LabObjects.PODS;
    public static final String VIP_RANGE = "172.16.20.0/24";
    public static final String CLIENT_IP6 = "fd00:1::2";
    public static final String ROUTER_NODE_IP6 = "fd00::1";
    public static final Map<String, String> NODE_IPS6 = LabObjects.NODE_IPS6;
    public static final Map<String, String> POD_CIDRS6 = Map.of(W1, "fd00:10:244:1::/64", W2, "fd00:10:244:2::/64");
    /** Pod name -> IPv6 address. */
    public static final Map<String, String> PODS6 = LabObjects.PODS6;
    public static final String VIP_RANGE6 = "fd00:172:16:20::/64";
    public static final int POD_PORT = LabObjects.POD_PORT;
    public static final Path RUN = Path.of("/run/lbmode-lab");

    private final LabSpec spec;
    private final Path dir;
    private final List<Process> processes = new ArrayList<>();
    private final Map<String, Netns> threads = new ConcurrentHashMap<>();
    private final Map<String, Process> agents = new ConcurrentHashMap<>();
    private final List<String> hostLinks = new java.util.concurrent.CopyOnWriteArrayList<>();

    private Lab(LabSpec spec) {
        this.spec = spec;
        this.dir = RUN.resolve(spec.prefix());
    }

    /** Builds the lab (removing stale labs and an older lab with the same prefix first). */
    public static Lab start(LabSpec spec) throws IOException, InterruptedException {
        removeStale();
        teardown(spec.prefix());
        Lab lab = new Lab(spec);
        try {
            lab.build();
            if (spec.pods()) {
                lab.startPods();
            }
            return lab;
        } catch (IOException | InterruptedException | RuntimeException e) {
            lab.close();
            throw e;
        }
    }

    public String prefix() {
        return spec.prefix();
    }

    /** Full namespace name of a lab member ({@code client}, {@code lb}, {@code w1p1}, ...). */
    public String ns(String member) {
        return spec.prefix() + "-" + member;
    }

    public Path stateDir(String node) {
        return dir.resolve("state").resolve(node);
    }

    public Path bpffs(String node) {
        return dir.resolve("bpffs").resolve(node);
    }

    public Path logDir() {
        return dir.resolve("logs");
    }

    private void build() throws IOException, InterruptedException {
        Files.createDirectories(logDir());
        for (String m : Stream.concat(Stream.of(CLIENT, ROUTER), Stream.concat(NODES.stream(), PODS.keySet().stream())).toList()) {
            sh("ip", "netns", "add", ns(m));
            sh("ip", "-n", ns(m), "link", "set", "lo", "up");
        }
        // client <-> router
        veth(CLIENT, "eth0", ROUTER, "to-client");
        sh("ip", "-n", ns(CLIENT), "addr", "add", CLIENT_IP + "/24", "dev", "eth0");
        sh("ip", "-n", ns(CLIENT), "route", "add", "default", "via", "10.0.1.1");
        sh("ip", "-n", ns(ROUTER), "addr", "add", "10.0.1.1/24", "dev", "to-client");
        // node network: a bridge in the router
        sh("ip", "-n", ns(ROUTER), "link", "add", "br0", "type", "bridge");
        sh("ip", "-n", ns(ROUTER), "addr", "add", ROUTER_NODE_IP + "/24", "dev", "br0");
        sh("ip", "-n", ns(ROUTER), "link", "set", "br0", "up");
        for (String node : NODES) {
            veth(node, "eth0", ROUTER, "to-" + node);
            sh("ip", "-n", ns(ROUTER), "link", "set", "to-" + node, "master", "br0");
            sh("ip", "-n", ns(node), "addr", "add", NODE_IPS.get(node) + "/24", "dev", "eth0");
            sh("ip", "-n", ns(node), "route", "add", "default", "via", ROUTER_NODE_IP);
            sysctls(node);
            Files.createDirectories(stateDir(node));
            Files.createDirectories(bpffs(node));
            // Each node gets its own bpffs (DSR pins maps there); ip netns exec gives processes a fresh /sys, not /run.
            sh("mount", "-t", "bpf", "bpf", bpffs(node).toString());
        }
        sysctls(ROUTER);
        sh("ip", "-n", ns(ROUTER), "route", "add", VIP_RANGE, "via", NODE_IPS.get(LB));
        // CLIENT_VIA_LB_IP reaches the pods through the LB node; the LB node forwards back out of the interface the
        // packet came in by, which would make it send the router an ICMP redirect per burst: not what a routed hop costs.
        sh("ip", "-n", ns(CLIENT), "addr", "add", CLIENT_VIA_LB_IP + "/24", "dev", "eth0");
        sh("ip", "-n", ns(ROUTER), "rule", "add", "from", CLIENT_VIA_LB_IP, "to", "10.244.0.0/16", "table", "100", "pref", "100");
        sh("ip", "-n", ns(ROUTER), "route", "add", "10.244.0.0/16", "via", NODE_IPS.get(LB), "table", "100");
        sh("ip", "netns", "exec", ns(LB), "sysctl", "-q", "-w", "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.eth0.send_redirects=0");
        // pods behind their worker's bridge; pod routes on every node and the router (what a CNI does)
        for (String worker : List.of(W1, W2)) {
            String gw = POD_CIDRS.get(worker).replace(".0/24", ".1");
            sh("ip", "-n", ns(worker), "link", "add", "cbr0", "type", "bridge");
            sh("ip", "-n", ns(worker), "addr", "add", gw + "/24", "dev", "cbr0");
            sh("ip", "-n", ns(worker), "link", "set", "cbr0", "up");
            for (var pod : PODS.entrySet().stream().filter(p -> p.getValue().get(0).equals(worker)).sorted(Map.Entry.comparingByKey()).toList()) {
                veth(pod.getKey(), "eth0", worker, "p-" + pod.getKey());
                sh("ip", "-n", ns(worker), "link", "set", "p-" + pod.getKey(), "master", "cbr0");
                sh("ip", "-n", ns(pod.getKey()), "addr", "add", pod.getValue().get(1) + "/24", "dev", "eth0");
                sh("ip", "-n", ns(pod.getKey()), "route", "add", "default", "via", gw);
            }
            for (String other : Stream.concat(NODES.stream(), Stream.of(ROUTER)).filter(n -> !n.equals(worker)).toList()) {
                sh("ip", "-n", ns(other), "route", "add", POD_CIDRS.get(worker), "via", NODE_IPS.get(worker));
            }
        }
        buildIpv6();
    }

    /**
     * The same topology in IPv6 (ULA addresses, every one inside the lab's namespaces): the links exist already, this
     * adds addresses and routes. {@code nodad}: the addresses are usable at once (no duplicate address detection
     * wait); forwarding on the router and the nodes, as {@link #sysctls} does for IPv4.
     */
    private void buildIpv6() throws IOException, InterruptedException {
        sh("ip", "-n", ns(CLIENT), "-6", "addr", "add", CLIENT_IP6 + "/64", "dev", "eth0", "nodad");
        sh("ip", "-n", ns(CLIENT), "-6", "route", "add", "default", "via", "fd00:1::1");
        sh("ip", "-n", ns(ROUTER), "-6", "addr", "add", "fd00:1::1/64", "dev", "to-client", "nodad");
        sh("ip", "-n", ns(ROUTER), "-6", "addr", "add", ROUTER_NODE_IP6 + "/64", "dev", "br0", "nodad");
        for (String member : Stream.concat(Stream.of(ROUTER), NODES.stream()).toList()) {
            sh("ip", "netns", "exec", ns(member), "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1");
        }
        for (String node : NODES) {
            sh("ip", "-n", ns(node), "-6", "addr", "add", NODE_IPS6.get(node) + "/64", "dev", "eth0", "nodad");
            sh("ip", "-n", ns(node), "-6", "route", "add", "default", "via", ROUTER_NODE_IP6);
        }
        sh("ip", "-n", ns(ROUTER), "-6", "route", "add", VIP_RANGE6, "via", NODE_IPS6.get(LB));
        for (String worker : List.of(W1, W2)) {
            String gw = POD_CIDRS6.get(worker).replace("::/64", "::1");
            sh("ip", "-n", ns(worker), "-6", "addr", "add", gw + "/64", "dev", "cbr0", "nodad");
            for (var pod : PODS.entrySet().stream().filter(p -> p.getValue().get(0).equals(worker)).sorted(Map.Entry.comparingByKey()).toList()) {
                sh("ip", "-n", ns(pod.getKey()), "-6", "addr", "add", PODS6.get(pod.getKey()) + "/64", "dev", "eth0", "nodad");
                sh("ip", "-n", ns(pod.getKey()), "-6", "route", "add", "default", "via", gw);
            }
            for (String other : Stream.concat(NODES.stream(), Stream.of(ROUTER)).filter(n -> !n.equals(worker)).toList()) {
                sh("ip", "-n", ns(other), "-6", "route", "add", POD_CIDRS6.get(worker), "via", NODE_IPS6.get(worker));
            }
        }
    }

    private void sysctls(String member) throws IOException, InterruptedException {
        sh("ip", "netns", "exec", ns(member), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
    }

    private void veth(String a, String ifA, String b, String ifB) throws IOException, InterruptedException {
        sh("ip", "-n", ns(a), "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", ns(b));
        sh("ip", "-n", ns(a), "link", "set", ifA, "up");
        sh("ip", "-n", ns(b), "link", "set", ifB, "up");
    }

    /**
     * Adds a node to the running lab, built like the others: {@code eth0} on the router's node-network bridge with
     * {@code ip}/24, the router as default gateway, routes to the workers' pod ranges, its own state dir and bpffs (a
     * second LB node for failover). {@link #close()} removes it with the rest.
     */
    public void addNode(String node, String ip) throws IOException, InterruptedException {
        sh("ip", "netns", "add", ns(node));
        sh("ip", "-n", ns(node), "link", "set", "lo", "up");
        veth(node, "eth0", ROUTER, "to-" + node);
        sh("ip", "-n", ns(ROUTER), "link", "set", "to-" + node, "master", "br0");
        sh("ip", "-n", ns(node), "addr", "add", ip + "/24", "dev", "eth0");
        sh("ip", "-n", ns(node), "route", "add", "default", "via", ROUTER_NODE_IP);
        sysctls(node);
        Files.createDirectories(stateDir(node));
        Files.createDirectories(bpffs(node));
        sh("mount", "-t", "bpf", "bpf", bpffs(node).toString());
        for (String worker : List.of(W1, W2)) {
            sh("ip", "-n", ns(node), "route", "add", POD_CIDRS.get(worker), "via", NODE_IPS.get(worker));
        }
    }

    /** Routes a VIP to another node than the LB node (e.g. the node with the local endpoint, for externalTrafficPolicy Local). */
    public void routeVip(String vip, String node) throws IOException, InterruptedException {
        sh("ip", "-n", ns(ROUTER), "route", "replace", vip + "/32", "via", NODE_IPS.get(node));
    }

    /**
     * Puts the VIP ranges on the node network's link instead of routing them to the LB node: the router gets
     * {@code 172.16.20.1/24} and {@code fd00:172:16:20::1/64} on its bridge, so it asks by ARP (IPv4) and NDP neighbour
     * solicitation (IPv6) who holds a VIP, and only a node that answers (a MetalLB speaker in layer-2 mode) receives
     * the VIP's traffic. Nothing answers until a speaker announces.
     */
    public void announceVipsByArp() throws IOException, InterruptedException {
        sh("ip", "-n", ns(ROUTER), "route", "del", VIP_RANGE);
        sh("ip", "-n", ns(ROUTER), "addr", "add", VIP_RANGE.replace(".0/24", ".1/24"), "dev", "br0");
        sh("ip", "-n", ns(ROUTER), "-6", "route", "del", VIP_RANGE6);
        sh("ip", "-n", ns(ROUTER), "-6", "addr", "add", VIP_RANGE6.replace("::/64", "::1/64"), "dev", "br0", "nodad");
    }

    /**
     * A second link from a node to this machine's own namespace (interface {@code PREFIX-NODE} here, {@code mgmt} in the
     * node), addressed {@code hostSide}/30 and {@code nodeSide}/30, with a route in the node to {@code destination}
     * (e.g. an API server address of this machine) through it. The node network and the VIPs stay on {@code eth0}.
     */
    public void linkToHost(String node, String hostSide, String nodeSide, String destination) throws IOException, InterruptedException {
        String hostIf = hostLink(node);
        sh("ip", "link", "add", hostIf, "type", "veth", "peer", "name", "mgmt", "netns", ns(node));
        sh("ip", "addr", "add", hostSide + "/30", "dev", hostIf);
        sh("ip", "link", "set", hostIf, "up");
        sh("ip", "-n", ns(node), "addr", "add", nodeSide + "/30", "dev", "mgmt");
        sh("ip", "-n", ns(node), "link", "set", "mgmt", "up");
        sh("ip", "-n", ns(node), "route", "add", destination + "/32", "via", hostSide);
        hostLinks.add(hostIf);
    }

    private String hostLink(String node) {
        return spec.prefix() + "-" + node;
    }

    private void startPods() throws IOException {
        for (String pod : PODS.keySet().stream().sorted().toList()) {
            spawn(pod, "pod-" + pod, javaCommand("io.lbmode.lab.EchoServer", pod, Integer.toString(POD_PORT)));
        }
    }

    /** Blocks until every pod answers on its port (or fails after 30 s). */
    public void awaitPods() throws Exception {
        for (var pod : PODS.entrySet()) {
            String node = pod.getValue().get(0);
            await("pod " + pod.getKey() + " answering", Duration.ofSeconds(30), () -> {
                try {
                    return httpGet(node, pod.getValue().get(1), POD_PORT, "/").contains("pod=" + pod.getKey());
                } catch (Exception e) {
                    return false;
                }
            });
        }
    }

    /** {@code java} with this JVM's class path and small-footprint flags, for agents and pods. */
    public static List<String> javaCommand(String mainClass, String... args) {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
                "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Starts a process inside a namespace, output to {@code logs/NAME.log}; stopped by {@link #close()}. */
    public Process spawn(String member, String logName, List<String> cmd) throws IOException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", ns(member)));
        full.addAll(cmd);
        Path log = logDir().resolve(logName + ".log");
        Process p = new ProcessBuilder(full).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        synchronized (processes) {
            processes.add(p);
        }
        return p;
    }

    /**
     * Starts the datapath agent of a node: {@code Main --node N --state-dir DIR --bpffs DIR --interface eth0
     * --health-address NODE_IP} (/healthz and /metrics on the node's address, as the DaemonSet runs it) plus
     * {@code extraArgs}. Replaces a running agent of that node only after {@link #stopAgent}.
     */
    public Process startAgent(String node, String... extraArgs) throws IOException {
        List<String> args = new ArrayList<>(List.of("--node", node, "--state-dir", stateDir(node).toString(),
                "--bpffs", bpffs(node).toString(), "--interface", "eth0", "--health-address", NODE_IPS.get(node)));
        args.addAll(List.of(extraArgs));
        Process p = spawn(node, "agent-" + node, javaCommand("io.lbmode.datapath.Main", args.toArray(String[]::new)));
        agents.put(node, p);
        return p;
    }

    /** Stops a node's agent (SIGTERM; the kernel state it programmed stays, as after a crash or rollout). */
    public void stopAgent(String node) throws InterruptedException {
        Process p = agents.remove(node);
        if (p != null) {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
            }
        }
    }

    /** Writes (atomically) the same YAML file into every node's state dir: all agents see the same objects. */
    public void writeObjects(String fileName, String yaml) throws IOException {
        for (String node : NODES) {
            Path target = stateDir(node).resolve(fileName);
            Path tmp = stateDir(node).resolve("." + fileName + ".tmp");
            Files.writeString(tmp, yaml, StandardCharsets.UTF_8);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    public void deleteObjects(String fileName) throws IOException {
        for (String node : NODES) {
            Files.deleteIfExists(stateDir(node).resolve(fileName));
        }
    }

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** The status the node's standalone agent wrote ({@code .status/nodedataplane-NODE.yaml}). */
    public Optional<NodeDataplane> status(String node) {
        Path f = stateDir(node).resolve(".status").resolve("nodedataplane-" + node + ".yaml");
        try {
            return Files.exists(f) ? Optional.of(YAML.readValue(f.toFile(), NodeDataplane.class)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Waits until the node's status satisfies {@code condition}. */
    public NodeDataplane awaitStatus(String node, Duration timeout, Predicate<NodeDataplane> condition) throws Exception {
        await("status of " + node, timeout, () -> status(node).filter(condition).isPresent());
        return status(node).orElseThrow();
    }

    /** Polls {@code condition} every 100 ms; fails naming {@code what} and showing the agent logs. */
    public void await(String what, Duration timeout, java.util.concurrent.Callable<Boolean> condition) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (Boolean.TRUE.equals(condition.call())) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what + "\n" + agentLogs());
    }

    /** Tail of every agent log, for failure messages. */
    public String agentLogs() {
        StringBuilder s = new StringBuilder();
        for (String node : NODES) {
            Path log = logDir().resolve("agent-" + node + ".log");
            try {
                if (Files.exists(log)) {
                    List<String> lines = Files.readAllLines(log);
                    s.append("--- agent-").append(node).append(".log (last 15 lines)\n");
                    lines.subList(Math.max(0, lines.size() - 15), lines.size()).forEach(l -> s.append(l).append('\n'));
                }
            } catch (IOException e) {
                s.append("(").append(e.getMessage()).append(")\n");
            }
        }
        return s.toString();
    }

    /** Result of a command. */
    public record ExecResult(int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** This result when the command succeeded, else an error naming {@code what} and the command's stderr. */
        public ExecResult ok(String what) throws IOException {
            if (exitCode != 0) {
                throw new IOException(what + " failed (exit " + exitCode + "): " + (stderr.isBlank() ? stdout : stderr).strip());
            }
            return this;
        }
    }

    /** Runs a command inside a namespace and waits (60 s at most). */
    public ExecResult exec(String member, String... cmd) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", ns(member)));
        full.addAll(List.of(cmd));
        return run(full);
    }

    private static ExecResult run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).start();
        var out = java.util.concurrent.CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()), OUTPUT_READERS);
        var err = java.util.concurrent.CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()), OUTPUT_READERS);
        p.getOutputStream().close();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("timed out: " + String.join(" ", cmd));
        }
        return new ExecResult(p.exitValue(), out.join(), err.join());
    }

    /**
     * Threads of their own for reading command output: the common pool has one worker on a 2-core machine, so a caller
     * that blocks it (a test reading a stream) would leave every exec waiting for its output forever.
     */
    private static final java.util.concurrent.ExecutorService OUTPUT_READERS = java.util.concurrent.Executors.newCachedThreadPool(
            Thread.ofPlatform().daemon().name("lab-exec-output-", 0).factory());

    private static String readAll(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private static void sh(String... cmd) throws IOException, InterruptedException {
        ExecResult r = run(List.of(cmd));
        if (!r.ok()) {
            throw new IOException("lab: '" + String.join(" ", cmd) + "' failed: " + r.stderr().strip());
        }
    }

    // ---- traffic from inside a namespace (sockets opened on a thread that entered it) ----

    private Netns thread(String member) {
        return threads.computeIfAbsent(member, m -> new Netns(ns(m)));
    }

    /** Opens a TCP connection from a namespace (kept open by the caller: established-connection tests). */
    public Socket connect(String member, String ip, int port, Duration timeout) throws Exception {
        return connect(member, "", ip, port, timeout);
    }

    /** {@link #connect(String, String, int, Duration)} from the source address {@code from} ("" for the default). */
    public Socket connect(String member, String from, String ip, int port, Duration timeout) throws Exception {
        return thread(member).call(() -> {
            Socket s = new Socket();
            if (!from.isEmpty()) {
                s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
            }
            s.connect(new InetSocketAddress(InetAddress.getByName(ip), port), (int) timeout.toMillis());
            s.setSoTimeout(5000);
            return s;
        });
    }

    /** One HTTP/1.1 GET on a fresh connection; returns the body. */
    public String httpGet(String member, String ip, int port, String path) throws Exception {
        try (Socket s = connect(member, ip, port, Duration.ofSeconds(3))) {
            return request(s, path, true);
        }
    }

    /** One HTTP/1.1 GET on an open connection (keep-alive unless {@code close}); returns the body. */
    public static String request(Socket s, String path, boolean close) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(("GET " + path + " HTTP/1.1\r\nHost: lab\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.flush();
        var in = s.getInputStream();
        String status = line(in);
        if (!status.startsWith("HTTP/1.1 200")) {
            throw new IOException("unexpected response: " + status);
        }
        long length = -1;
        for (String h = line(in); !h.isEmpty(); h = line(in)) {
            if (h.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Long.parseLong(h.substring(15).strip());
            }
        }
        if (length < 0) {
            throw new IOException("response without Content-Length");
        }
        if (length > 1 << 20) {
            long skipped = 0;
            byte[] buf = new byte[64 * 1024];
            while (skipped < length) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, length - skipped));
                if (n < 0) {
                    throw new IOException("connection closed after " + skipped + " of " + length + " bytes");
                }
                skipped += n;
            }
            return "(" + length + " bytes)";
        }
        return new String(in.readNBytes((int) length), StandardCharsets.UTF_8);
    }

    private static String line(java.io.InputStream in) throws IOException {
        StringBuilder s = new StringBuilder();
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c < 0) {
                throw new IOException("connection closed");
            }
            if (c != '\r') {
                s.append((char) c);
            }
        }
        return s.toString();
    }

    /** One UDP request/reply from a namespace; a connected socket so an ICMP unreachable surfaces as an exception. */
    public String udp(String member, String ip, int port, String payload, Duration timeout) throws Exception {
        return thread(member).call(() -> {
            try (DatagramSocket s = new DatagramSocket()) {
                s.connect(new InetSocketAddress(InetAddress.getByName(ip), port));
                s.setSoTimeout((int) timeout.toMillis());
                byte[] data = payload.getBytes(StandardCharsets.UTF_8);
                s.send(new DatagramPacket(data, data.length));
                DatagramPacket reply = new DatagramPacket(new byte[2048], 2048);
                s.receive(reply);
                return new String(reply.getData(), 0, reply.getLength(), StandardCharsets.UTF_8);
            }
        });
    }

    /** A UDP socket opened in a namespace and connected to {@code ip:port}: one flow (same source port) for many datagrams. */
    public DatagramSocket udpSocket(String member, String ip, int port) throws Exception {
        return thread(member).call(() -> {
            DatagramSocket s = new DatagramSocket();
            s.connect(new InetSocketAddress(InetAddress.getByName(ip), port));
            s.setSoTimeout(3000);
            return s;
        });
    }

    /** Sends one datagram on a connected socket and returns the reply. */
    public static String udpExchange(DatagramSocket s, String payload) throws IOException {
        byte[] data = payload.getBytes(StandardCharsets.UTF_8);
        s.send(new DatagramPacket(data, data.length));
        DatagramPacket reply = new DatagramPacket(new byte[2048], 2048);
        s.receive(reply);
        return new String(reply.getData(), 0, reply.getLength(), StandardCharsets.UTF_8);
    }

    private static final Pattern BYTES = Pattern.compile("RX:.*?\\n\\s*(\\d+).*?TX:.*?\\n\\s*(\\d+)", Pattern.DOTALL);

    /** Received and transmitted bytes of an interface in a namespace ({@code ip -s link}). */
    public long[] interfaceBytes(String member, String ifname) throws IOException, InterruptedException {
        ExecResult r = exec(member, "ip", "-s", "link", "show", ifname);
        Matcher m = BYTES.matcher(r.stdout());
        if (!m.find()) {
            throw new IOException("no byte counters for " + ifname + " in " + member + ": " + r.stdout());
        }
        return new long[]{Long.parseLong(m.group(1)), Long.parseLong(m.group(2))};
    }

    @Override
    public void close() {
        threads.values().forEach(Netns::close);
        threads.clear();
        synchronized (processes) {
            for (Process p : processes) {
                p.destroy();
            }
            for (Process p : processes) {
                try {
                    if (!p.waitFor(5, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            processes.clear();
        }
        for (String link : hostLinks) {
            try {
                run(List.of("ip", "link", "del", link));
            } catch (IOException | InterruptedException e) {
                System.err.println("lab " + spec.prefix() + ": could not remove link " + link + ": " + e.getMessage());
            }
        }
        try {
            teardown(spec.prefix());
        } catch (IOException | InterruptedException e) {
            System.err.println("lab " + spec.prefix() + ": cleanup incomplete: " + e.getMessage());
        }
    }

    /**
     * Removes a lab by prefix, also one left by another process ({@code lab down}): stops the processes running in
     * its namespaces (only those: {@code ip netns pids}), deletes the namespaces, unmounts its bpffs dirs.
     */
    public static void teardown(String prefix) throws IOException, InterruptedException {
        for (String ns : namespaces()) {
            if (!ns.startsWith(prefix + "-")) {
                continue;
            }
            ExecResult pids = run(List.of("ip", "netns", "pids", ns));
            for (String pid : pids.stdout().split("\\s+")) {
                if (!pid.isBlank()) {
                    ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            run(List.of("ip", "netns", "del", ns));
        }
        Path labDir = RUN.resolve(prefix);
        Path bpf = labDir.resolve("bpffs");
        if (Files.isDirectory(bpf)) {
            try (Stream<Path> s = Files.list(bpf)) {
                for (Path p : s.toList()) {
                    run(List.of("umount", "-l", p.toString()));
                }
            }
        }
        if (Files.exists(labDir)) {
            try (Stream<Path> s = Files.walk(labDir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static List<String> namespaces() throws IOException, InterruptedException {
        ExecResult r = run(List.of("ip", "netns", "list"));
        return r.stdout().lines().map(l -> l.split("\\s+")[0]).filter(s -> !s.isEmpty()).toList();
    }

    private static final Pattern TEST_LAB = Pattern.compile("^(" + LabSpec.TEST_PREFIX + "([0-9a-z]+)x\\d+)-.*");

    /** Removes test labs whose process has died (a killed test run must not break the next one). */
    static void removeStale() throws IOException, InterruptedException {
        for (String ns : namespaces()) {
            Matcher m = TEST_LAB.matcher(ns);
            if (m.matches()) {
                long pid = Long.parseLong(m.group(2), 36);
                if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                    continue;
                }
                teardown(m.group(1));
            }
        }
    }

    /** Reads lines of a log, for tests that look for what an agent did. */
    public List<String> log(String name) throws IOException {
        Path log = logDir().resolve(name + ".log");
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

}
