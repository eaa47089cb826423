package io.lbmode.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.lbmode.crds.cluster.v1.ForwardMode;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The lab on a real control plane, with nothing standing in for Kubernetes or MetalLB: the lab's nodes are Node
 * objects; its pods are endpoints of an EndpointSlice written through the API (no kubelet runs, so there are no Pod
 * objects for them: the slice names the lab's echo servers as the EndpointSlice controller would name Pods); Service
 * {@code web} (type LoadBalancer, annotation {@code metallb.io/loadBalancerIPs}) gets {@value #VIP} from MetalLB's
 * controller; MetalLB's speaker (layer 2) in an LB node's namespace answers the router's ARP for it; and
 * {@code ./lbmode datapath} runs in cluster mode on every node as the chart's datapath ServiceAccount. The router
 * has no route for the VIP ({@link Lab#announceVipsByArp()}).
 *
 * <p>One LB node ({@code lb}): the speaker runs with memberlist off (no {@code --ml-bindaddr}), so it considers every
 * Node the advertisement selects. Two LB nodes ({@code lb}, {@value #LB2}): each speaker runs with memberlist on its
 * node address, as MetalLB's DaemonSet does, so when one stops the other learns it and takes the VIP over.
 *
 * <p>Used by {@code ./lbmode demo --kube} ({@link KubeDemo}) and the kube tier's lab tests, so there is one way to
 * put the lab on the control plane. Needs root, a control plane with lbmode installed ({@code kube/kube.sh up}) and
 * MetalLB's binaries and CRDs ({@code kube/build-metallb.sh}).
 */
public final class KubeLab implements AutoCloseable {
    /** The seed's VIP. */
    public static final String VIP = "172.16.20.16";
    /** MetalLB's pool {@code lab}: IPv4 addresses, and IPv6 ones for dual-stack Services ({@link #applyDualStackService}). */
    public static final List<String> POOL = List.of("172.16.20.16/28", "fd00:172:16:20::10/124");
    public static final String SERVICE = "web";
    public static final String METALLB_NS = "metallb-system";
    /** Where the chart installs lbmode and the operator writes the datapath ConfigMap. */
    public static final String SYSTEM_NS = "lbmode-system";
    /** The second LB node of {@link #withSecondLbNode}: on the node network beside the others. */
    public static final String LB2 = "lb2";
    public static final String LB2_IP = "10.0.0.13";
    /** Label of the Nodes MetalLB's L2Advertisement selects: the LB nodes. */
    static final String LB_NODE_LABEL = "lab.lbmode.io/lb-node";
    /** Host side of each node's link to this machine (the API server's address): 10.213.N.0/30, N = 1 + node index. */
    static final String HOST_NET = "10.213.";
    /** MetalLB controller's metrics port on this machine (its default 7472 may be taken). */
    static final int CONTROLLER_METRICS_PORT = 17472;
    private static final String SPEAKER_LABELS = "app=metallb,component=speaker";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final YAMLMapper YAML = new YAMLMapper();

    /**
     * A running control plane: the repository (for {@code ./lbmode} and {@code examples/}), the directory holding
     * kubectl, the admin kubeconfig, and where the processes started here log.
     */
    public record ControlPlane(Path root, Path bin, Path kubeconfig, Path logDir) {

        /**
         * The control plane {@code ./lbmode kube up} started, from the two lines it ends with
         * ({@code export KUBECONFIG=...}, {@code export PATH=...:$PATH}); logs beside the kubeconfig.
         */
        public static ControlPlane fromKubeUp(Path root, String stdout) throws IOException {
            Path kubeconfig = null;
            Path bin = null;
            for (String line : stdout.lines().toList()) {
                if (line.startsWith("export KUBECONFIG=")) {
                    kubeconfig = Path.of(line.substring("export KUBECONFIG=".length()));
                } else if (line.startsWith("export PATH=")) {
                    bin = Path.of(line.substring("export PATH=".length()).replace(":$PATH", ""));
                }
            }
            if (kubeconfig == null || bin == null) {
                throw new IOException("./lbmode kube up did not end with its export lines: " + stdout);
            }
            return new ControlPlane(root, bin, kubeconfig, kubeconfig.getParent().resolve("logs"));
        }
    }

    private final Lab lab;
    private final ControlPlane plane;
    private final Path metallb;
    private final List<String> lbNodes;
    private final Map<String, String> nodeIps = new LinkedHashMap<>();
    private final List<Process> hostProcesses = new ArrayList<>();
    private final Map<String, Process> agents = new ConcurrentHashMap<>();
    private final Map<String, Process> speakers = new ConcurrentHashMap<>();
    private final Map<String, Integer> speakerStarts = new ConcurrentHashMap<>();
    private final Map<String, String> speakerLogs = new ConcurrentHashMap<>();
    private final List<String[]> clusters = new ArrayList<>();
    private Path agentKubeconfig;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private KubeLab(Lab lab, ControlPlane plane, Path metallb, List<String> lbNodes) {
        this.lab = lab;
        this.plane = plane;
        this.metallb = metallb;
        this.lbNodes = lbNodes;
        nodeIps.putAll(new java.util.TreeMap<>(Lab.NODE_IPS));
        if (lbNodes.contains(LB2)) {
            nodeIps.put(LB2, LB2_IP);
        }
    }

    /** The lab with one LB node ({@code lb}) on the control plane; MetalLB's controller running, no speaker yet. */
    public static KubeLab start(Lab lab, ControlPlane plane, Path metallb) throws Exception {
        return start(lab, plane, metallb, List.of(Lab.LB));
    }

    /** The lab with two LB nodes, {@code lb} and {@value #LB2} (added to the lab here), for failover. */
    public static KubeLab withSecondLbNode(Lab lab, ControlPlane plane, Path metallb) throws Exception {
        lab.addNode(LB2, LB2_IP);
        return start(lab, plane, metallb, List.of(Lab.LB, LB2));
    }

    private static KubeLab start(Lab lab, ControlPlane plane, Path metallb, List<String> lbNodes) throws Exception {
        KubeLab kube = new KubeLab(lab, plane, metallb, lbNodes);
        try {
            kube.build();
            return kube;
        } catch (Exception | Error e) {
            kube.close();
            throw e;
        }
    }

    public Lab lab() {
        return lab;
    }

    /** Every node of the lab, LB nodes and workers. */
    public List<String> nodes() {
        return List.copyOf(nodeIps.keySet());
    }

    public String nodeIp(String node) {
        return nodeIps.get(node);
    }

    private void build() throws Exception {
        String apiServer = URI.create(kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
                .ok("kubectl config view").stdout().strip()).getHost();
        lab.announceVipsByArp();
        List<String> nodes = nodes();
        for (int i = 0; i < nodes.size(); i++) {
            lab.linkToHost(nodes.get(i), HOST_NET + (i + 1) + ".1", HOST_NET + (i + 1) + ".2", apiServer);
        }
        StringBuilder objects = new StringBuilder();
        for (String node : nodes) {
            objects.append("""
                    ---
                    apiVersion: v1
                    kind: Node
                    metadata:
                      name: %s
                      labels: {kubernetes.io/hostname: %s%s}
                    status:
                      addresses:
                      - {type: InternalIP, address: %s}
                      - {type: Hostname, address: %s}
                    """.formatted(node, node, lbNodes.contains(node) ? ", " + LB_NODE_LABEL + ": \"true\"" : "",
                    nodeIps.get(node), node));
        }
        apply(objects.toString());

        // MetalLB: its CRDs from its module, its controller on this machine, its pool and a layer-2 advertisement
        // from the LB nodes' eth0 only (not from their link to this machine).
        createNamespace(METALLB_NS);
        kubectl("apply", "--server-side", "-f", metallb.resolve("crds").toString()).ok("kubectl apply MetalLB CRDs");
        awaitEstablished("crd/ipaddresspools.metallb.io", "crd/l2advertisements.metallb.io", "crd/servicel2statuses.metallb.io");
        hostProcesses.add(startOnHost("lab-" + lab.prefix() + "-metallb-controller", metallb.resolve("bin/controller").toString(),
                "--namespace", METALLB_NS, "--port", Integer.toString(CONTROLLER_METRICS_PORT), "--webhook-mode", "disabled",
                "--disable-cert-rotation"));
        apply("""
                apiVersion: metallb.io/v1beta1
                kind: IPAddressPool
                metadata: {name: lab, namespace: %s}
                spec:
                  addresses: [%s]
                ---
                apiVersion: metallb.io/v1beta1
                kind: L2Advertisement
                metadata: {name: lab, namespace: %s}
                spec:
                  ipAddressPools: [lab]
                  interfaces: [eth0]
                  nodeSelectors:
                  - matchLabels: {%s: "true"}
                """.formatted(METALLB_NS, String.join(", ", POOL), METALLB_NS, LB_NODE_LABEL));
        agentKubeconfig = datapathKubeconfig();
    }

    // ---- the Cluster: applied with kubectl, written into the datapath ConfigMap by the operator ----

    /**
     * Applies a Cluster document with kubectl (creating its namespace), after deleting the Cluster this lab applied
     * before: forwardMode is immutable, so another mode is another Cluster. Waits until the operator wrote
     * {@code mode} into the datapath ConfigMap.
     */
    public void applyCluster(String yaml, ForwardMode mode) throws Exception {
        ObjectNode cluster = null;
        try (var parser = new YAMLFactory().createParser(yaml)) {
            var documents = YAML.readValues(parser, ObjectNode.class);
            while (documents.hasNext()) {
                ObjectNode document = documents.next();
                if ("Cluster".equals(document.path("kind").asText())) {
                    cluster = document;
                }
            }
        }
        if (cluster == null) {
            throw new IllegalArgumentException("no Cluster (kind: Cluster) in the document to apply");
        }
        String namespace = cluster.at("/metadata/namespace").asText();
        String name = cluster.at("/metadata/name").asText();
        deleteClusters();
        createNamespace(namespace);
        kubectlWithInput(yaml, "apply", "-f", "-").ok("kubectl apply Cluster " + namespace + "/" + name);
        clusters.add(new String[]{namespace, name});
        lab.await("the operator writes forwardMode " + mode.wireName() + " into the datapath ConfigMap", Duration.ofSeconds(60),
                () -> mode.wireName().equals(kubectl("get", "configmap", "lbmode-datapath", "-n", SYSTEM_NS,
                        "-o", "jsonpath={.data.forwardMode}").stdout()));
    }

    private void deleteClusters() {
        for (String[] c : clusters) {
            Lab.ExecResult deleted = kubectl("delete", "clusters.baremetal.cluster.gke.io", c[1], "-n", c[0],
                    "--ignore-not-found", "--wait=true", "--timeout=60s");
            if (!deleted.ok()) {
                System.err.println("kubectl delete Cluster " + c[0] + "/" + c[1] + ": " + deleted.stderr().strip());
            }
        }
        clusters.clear();
    }

    // ---- agents: ./lbmode datapath in cluster mode ----

    /** {@code ./lbmode datapath} in cluster mode in the node's namespace, as the chart's datapath ServiceAccount. */
    public void startAgent(String node) throws IOException {
        agents.put(node, lab.spawn(node, "agent-" + node, List.of("env", "KUBECONFIG=" + agentKubeconfig,
                plane.root().resolve("lbmode").toString(), "datapath", "--node", node,
                "--config-namespace", SYSTEM_NS, "--health-port", "0",
                "--interface", "eth0", "--bpffs", lab.bpffs(node).toString())));
    }

    public void startAgents() throws IOException {
        for (String node : nodes()) {
            startAgent(node);
        }
    }

    /** Stops a node's agent (SIGTERM) and waits for it to exit. */
    public void stopAgent(String node) throws InterruptedException {
        Process p = agents.remove(node);
        if (p != null) {
            stop(p);
        }
    }

    /** The NodeDataplane of a node as JSON, or empty before the agent wrote it. */
    public Optional<JsonNode> nodeDataplane(String node) {
        return json(kubectl("get", "nodedataplanes.lbmode.io", node, "-o", "json"));
    }

    /** Waits until every node's NodeDataplane reports {@code mode} with these counts and no error; returns the LB node's. */
    public JsonNode awaitProgrammed(ForwardMode mode, int services, int endpoints) throws Exception {
        for (String node : nodes()) {
            lab.await("NodeDataplane " + node + ": mode " + mode.wireName() + ", " + services + " service(s), " + endpoints
                    + " endpoint(s), no error", Duration.ofSeconds(60), () -> nodeDataplane(node)
                    .filter(n -> mode.wireName().equals(n.at("/status/mode").asText())
                            && n.at("/status/services").asInt(-1) == services && n.at("/status/endpoints").asInt(-1) == endpoints
                            && n.at("/status/lastError").asText("").isEmpty()).isPresent());
        }
        return nodeDataplane(Lab.LB).orElseThrow();
    }

    // ---- the Service ----

    /** Service {@code web} without a selector (no controller writes its slices) and its one EndpointSlice naming lab pods. */
    public void applyService(List<String> pods) throws IOException {
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
        apply("""
                apiVersion: v1
                kind: Service
                metadata:
                  name: %s
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
                  name: %s-1
                  namespace: default
                  labels: {kubernetes.io/service-name: %s, endpointslice.kubernetes.io/managed-by: lbmode-lab}
                addressType: IPv4
                ports:
                - {name: http, protocol: TCP, port: %d}
                endpoints:
                """.formatted(SERVICE, VIP, Lab.POD_PORT, SERVICE, SERVICE, Lab.POD_PORT) + endpoints);
    }

    /** The name of the IPv6 EndpointSlice of {@link #applyDualStackService}. */
    static final String IPV6_SLICE = SERVICE + "-v6";

    /**
     * Service {@code web} dual-stack ({@code ipFamilyPolicy: RequireDualStack}, IPv4 first), created through the API
     * without a VIP annotation: MetalLB's controller picks one address of each family from {@link #POOL}. Two
     * EndpointSlices, one per family, name the same lab pods by their IPv4 and IPv6 addresses (what the EndpointSlice
     * controller writes for dual-stack Pods). {@code sourceRanges}: {@code spec.loadBalancerSourceRanges}, none if empty.
     */
    public void applyDualStackService(List<String> pods, List<String> sourceRanges) throws IOException {
        StringBuilder v4 = new StringBuilder();
        StringBuilder v6 = new StringBuilder();
        for (String pod : pods) {
            String endpoint = """
                    - addresses: [%s]
                      nodeName: %s
                      targetRef: {kind: Pod, namespace: default, name: %s}
                      conditions: {ready: true, serving: true, terminating: false}
                    """;
            v4.append(endpoint.formatted(Lab.PODS.get(pod).get(1), Lab.PODS.get(pod).get(0), pod));
            v6.append(endpoint.formatted("\"" + Lab.PODS6.get(pod) + "\"", Lab.PODS.get(pod).get(0), pod));
        }
        String slice = """
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata:
                  name: %s
                  namespace: default
                  labels: {kubernetes.io/service-name: %s, endpointslice.kubernetes.io/managed-by: lbmode-lab}
                addressType: %s
                ports:
                - {name: http, protocol: TCP, port: %d}
                endpoints:
                """;
        apply("""
                apiVersion: v1
                kind: Service
                metadata:
                  name: %s
                  namespace: default
                spec:
                  type: LoadBalancer
                  ipFamilyPolicy: RequireDualStack
                  ipFamilies: [IPv4, IPv6]
                  externalTrafficPolicy: Cluster
                  loadBalancerSourceRanges: [%s]
                  ports:
                  - {name: http, protocol: TCP, port: 80, targetPort: %d}
                """.formatted(SERVICE, sourceRanges.stream().map(r -> "\"" + r + "\"").collect(java.util.stream.Collectors.joining(", ")),
                Lab.POD_PORT)
                + slice.formatted(SERVICE + "-1", SERVICE, "IPv4", Lab.POD_PORT) + v4
                + slice.formatted(IPV6_SLICE, SERVICE, "IPv6", Lab.POD_PORT) + v6);
    }

    /** Waits until MetalLB's controller wrote {@code count} addresses into the Service's status; returns them in order. */
    public List<String> awaitIngress(int count) throws Exception {
        lab.await("MetalLB's controller assigns " + count + " address(es) to Service " + SERVICE, Duration.ofSeconds(60),
                () -> ingress().size() == count);
        return ingress();
    }

    private List<String> ingress() {
        String ips = kubectl("get", "service", SERVICE, "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}").stdout().strip();
        return ips.isEmpty() ? List.of() : List.of(ips.split("\\s+"));
    }

    /** Waits until MetalLB's controller wrote the VIP into the Service's status. */
    public void awaitAssigned() throws Exception {
        lab.await("MetalLB's controller assigns " + VIP + " to Service " + SERVICE, Duration.ofSeconds(60),
                () -> VIP.equals(kubectl("get", "service", SERVICE, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout()));
    }

    // ---- MetalLB's speaker ----

    /**
     * Starts MetalLB's speaker in an LB node's namespace. The speaker reads its own Pod at start (it owns the
     * ServiceL2Status objects): the Pod object a DaemonSet would make is created first, bound to the node; no kubelet
     * runs it, the process is that pod. With two LB nodes the Pod also gets the status a kubelet would write (its IP:
     * the node's, as for MetalLB's host-network DaemonSet), because the speakers find each other's memberlist through
     * the IPs of the Pods labelled {@value #SPEAKER_LABELS}; start both speakers' Pods before either process
     * ({@link #startSpeakers}).
     */
    public void startSpeaker(String node) throws Exception {
        createSpeakerPod(node);
        speakers.put(node, spawnSpeaker(node));
        nudgeServiceOnceNodesSeen(List.of(node));
    }

    /** Every LB node's speaker: first every Pod object (memberlist discovery), then the processes. */
    public void startSpeakers() throws Exception {
        for (String node : lbNodes) {
            createSpeakerPod(node);
        }
        for (String node : lbNodes) {
            speakers.put(node, spawnSpeaker(node));
        }
        nudgeServiceOnceNodesSeen(lbNodes);
    }

    /**
     * Works around a start-up race of MetalLB v0.15.2's speaker: it decides whether to announce a Service from the
     * Nodes it has read so far, and reading a Node for the first time triggers no new decision ({@code SetNode}
     * reprocesses Services only when a known Node's availability changes). When its Service reconciler runs before
     * its Node reconciler, no node is eligible, and the announcement waits for the Service's next change, which in
     * the lab may never come. So once each speaker's log shows its Node reconciler has read every LB node, the lab
     * makes that change: an annotation on the Service. (A real cluster's speakers run long before most Services.)
     */
    private void nudgeServiceOnceNodesSeen(List<String> started) throws Exception {
        for (String speaker : started) {
            for (String node : lbNodes) {
                String seen = "\"controller\":\"NodeReconciler\",\"end reconcile\":\"/" + node + "\"";
                lab.await("MetalLB's speaker on " + speaker + " has read Node " + node, Duration.ofSeconds(60),
                        () -> lab.log(speakerLogs.get(speaker)).stream().anyMatch(l -> l.contains(seen)));
            }
        }
        if (kubectl("get", "service", SERVICE).ok()) {
            kubectl("annotate", "service", SERVICE, "--overwrite", "lab.lbmode.io/speakers-started=" + String.join(".", started)
                    + "-" + System.nanoTime()).ok("kubectl annotate service " + SERVICE);
        }
    }

    /** Stops an LB node's speaker (SIGTERM: with memberlist it leaves the member list, as on a node drain). */
    public void stopSpeaker(String node) throws InterruptedException {
        Process p = speakers.remove(node);
        if (p != null) {
            stop(p);
        }
    }

    private void createSpeakerPod(String node) throws Exception {
        String pod = speakerPod(node);
        lab.await("the speaker's Pod object " + pod + " created (its namespace's default ServiceAccount exists)",
                Duration.ofSeconds(60), () -> kubectlWithInput("""
                        apiVersion: v1
                        kind: Pod
                        metadata: {name: %s, namespace: %s, labels: {app: metallb, component: speaker}}
                        spec:
                          nodeName: %s
                          hostNetwork: true
                          automountServiceAccountToken: false
                          containers: [{name: speaker, image: quay.io/metallb/speaker:v0.15.2}]
                        """.formatted(pod, METALLB_NS, node), "apply", "-f", "-").ok());
        if (memberlist()) {
            String ip = nodeIps.get(node);
            kubectl("patch", "pod", pod, "-n", METALLB_NS, "--subresource=status", "--type=merge", "-p",
                    "{\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"podIPs\":[{\"ip\":\"%s\"}],\"hostIP\":\"%s\"}}"
                            .formatted(ip, ip, ip)).ok("kubectl patch the status of Pod " + pod);
        }
    }

    private Process spawnSpeaker(String node) throws IOException {
        List<String> command = new ArrayList<>(List.of("env", "KUBECONFIG=" + plane.kubeconfig(),
                metallb.resolve("bin/speaker").toString(), "--namespace", METALLB_NS, "--node-name", node,
                "--pod-name", speakerPod(node), "--host", "127.0.0.1"));
        if (memberlist()) {
            command.addAll(List.of("--ml-bindaddr", nodeIps.get(node), "--ml-labels", SPEAKER_LABELS));
        }
        // One log per start: a restarted speaker's log shows only what that process read.
        int start = speakerStarts.merge(node, 1, Integer::sum);
        String log = "metallb-speaker-" + node + (start > 1 ? "-" + start : "");
        speakerLogs.put(node, log);
        return lab.spawn(node, log, command);
    }

    private boolean memberlist() {
        return lbNodes.size() > 1;
    }

    private static String speakerPod(String node) {
        return "speaker-" + node;
    }

    /** The node MetalLB's ServiceL2Status names as announcing the Service, if any. */
    public Optional<String> announcingNode() {
        return json(kubectl("get", "servicel2statuses.metallb.io", "-n", METALLB_NS, "-o", "json"))
                .flatMap(j -> {
                    for (JsonNode item : j.path("items")) {
                        if (SERVICE.equals(item.at("/status/serviceName").asText()) && !item.at("/status/node").asText().isEmpty()) {
                            return Optional.of(item.at("/status/node").asText());
                        }
                    }
                    return Optional.empty();
                });
    }

    // ---- who answered ARP for the VIP ----

    /** The router's neighbour entry for the VIP on the node network ({@code ip neigh show}), empty when none. */
    public String routerNeighbour() throws IOException, InterruptedException {
        return routerNeighbour(VIP);
    }

    /** The router's neighbour entry (ARP or NDP) for {@code ip} on the node network, empty when none. */
    public String routerNeighbour(String ip) throws IOException, InterruptedException {
        return lab.exec(Lab.ROUTER, "ip", "neigh", "show", ip, "dev", "br0").stdout().strip();
    }

    private static final Pattern LLADDR = Pattern.compile("lladdr ([0-9a-f:]{17})");
    private static final Pattern ETHER = Pattern.compile("link/ether ([0-9a-f:]{17})");

    /**
     * Which node answered ARP for the VIP: the MAC in the neighbour table of the client's first hop (the router; the
     * client itself is routed and never ARPs for the VIP) matched against every node's {@code eth0}.
     */
    public Optional<ArpAnswer> vipArpAnswer() throws IOException, InterruptedException {
        return neighbourAnswer(VIP);
    }

    /** Which node answered ARP (IPv4) or NDP (IPv6) for {@code ip}, by the router's neighbour entry. */
    public Optional<ArpAnswer> neighbourAnswer(String ip) throws IOException, InterruptedException {
        Matcher m = LLADDR.matcher(routerNeighbour(ip));
        if (!m.find()) {
            return Optional.empty();
        }
        String mac = m.group(1);
        for (String node : nodes()) {
            if (mac.equals(mac(node, "eth0"))) {
                return Optional.of(new ArpAnswer(node, mac));
            }
        }
        return Optional.of(new ArpAnswer("?", mac));
    }

    /** A node (or "?" when no node's eth0 has the MAC) and the MAC the router holds for the VIP. */
    public record ArpAnswer(String node, String mac) {
    }

    /** The MAC of an interface in a lab namespace. */
    public String mac(String member, String ifname) throws IOException, InterruptedException {
        Matcher m = ETHER.matcher(lab.exec(member, "ip", "link", "show", ifname).stdout());
        if (!m.find()) {
            throw new IOException("no MAC for " + ifname + " in " + member);
        }
        return m.group(1);
    }

    // ---- kubectl ----

    /** kubectl of the control plane with its admin kubeconfig. */
    /**
     * Waits (60 s at most) until the CRDs are Established. {@code kubectl wait} gives up at once with ".status.conditions
     * accessor error: <nil>" when it reads a CRD the API server has not yet given a condition (seen right after a
     * server-side apply), so that answer means "not yet" here and the wait is asked again.
     */
    private void awaitEstablished(String... crds) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("wait", "--for=condition=Established", "--timeout=10s"));
        args.addAll(List.of(crds));
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        Lab.ExecResult r = kubectl(args.toArray(String[]::new));
        while (!r.ok() && r.stderr().contains("accessor error") && System.nanoTime() < deadline) {
            Thread.sleep(200);
            r = kubectl(args.toArray(String[]::new));
        }
        r.ok("kubectl wait for " + String.join(", ", crds) + " Established");
    }

    public Lab.ExecResult kubectl(String... args) {
        return kubectlWithInput(null, args);
    }

    public Lab.ExecResult kubectlWithInput(String stdin, String... args) {
        return kubectl(plane, stdin, args);
    }

    private static Lab.ExecResult kubectl(ControlPlane plane, String stdin, String... args) {
        List<String> command = new ArrayList<>();
        command.add(plane.bin().resolve("kubectl").toString());
        command.add("--kubeconfig=" + plane.kubeconfig());
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).start();
            var out = java.util.concurrent.CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
            var err = java.util.concurrent.CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
            try (var in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Lab.ExecResult(-1, "", "kubectl " + String.join(" ", args) + ": no answer in 120 s");
            }
            return new Lab.ExecResult(p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            return new Lab.ExecResult(-1, "", "could not run kubectl: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Lab.ExecResult(-1, "", "interrupted");
        }
    }

    /** Applies YAML with kubectl; fails naming kubectl's error. */
    public void apply(String yaml) throws IOException {
        kubectlWithInput(yaml, "apply", "-f", "-").ok("kubectl apply");
    }

    private void createNamespace(String namespace) throws IOException {
        if (kubectl("get", "namespace", namespace).exitCode() != 0) {
            kubectl("create", "namespace", namespace).ok("kubectl create namespace " + namespace);
        }
    }

    private static Optional<JsonNode> json(Lab.ExecResult result) {
        try {
            return result.exitCode() == 0 ? Optional.of(JSON.readTree(result.stdout())) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static String readAll(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private Path datapathKubeconfig() throws IOException {
        return writeDatapathKubeconfig(plane, lab.logDir().getParent().resolve("datapath.kubeconfig"));
    }

    /**
     * Writes a kubeconfig {@code file} that acts as the chart's datapath ServiceAccount (a token from the TokenRequest
     * API, valid 2 h) on the control plane: what agents started outside a pod use, so the RBAC authorizer judges the
     * chart's roles.
     */
    public static Path writeDatapathKubeconfig(ControlPlane plane, Path file) throws IOException {
        String server = kubectl(plane, null, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
                .ok("kubectl config view").stdout().strip();
        String ca = kubectl(plane, null, "config", "view", "--minify", "--raw", "-o",
                "jsonpath={.clusters[0].cluster.certificate-authority}").ok("kubectl config view").stdout().strip();
        String token = kubectl(plane, null, "create", "token", "lbmode-datapath", "-n", SYSTEM_NS, "--duration", "2h")
                .ok("kubectl create token lbmode-datapath (is lbmode installed? ./lbmode kube up installs it)").stdout().strip();
        Files.writeString(file, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: lbmode-kube
                  cluster: {server: "%s", certificate-authority: "%s"}
                users:
                - name: lbmode-datapath
                  user: {token: "%s"}
                contexts:
                - name: agent
                  context: {cluster: lbmode-kube, user: lbmode-datapath, namespace: %s}
                current-context: agent
                """.formatted(server, ca, token, SYSTEM_NS));
        return file;
    }

    /** A process in this machine's namespace with the admin kubeconfig (MetalLB's controller), output in the log dir. */
    private Process startOnHost(String name, String... command) throws IOException {
        Files.createDirectories(plane.logDir());
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(plane.logDir().resolve(name + ".log").toFile());
        builder.environment().put("KUBECONFIG", plane.kubeconfig().toString());
        return builder.start();
    }

    private static void stop(Process p) throws InterruptedException {
        p.destroy();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
        }
    }

    /**
     * Stops what this lab started (agents, speakers, MetalLB's controller), keeps the lab's logs beside the control
     * plane's ({@code lab-PREFIX-*.log}), removes the lab, and deletes what it wrote through the API (the Service, its slice,
     * the speaker Pods, MetalLB's pool and advertisement, the Clusters, Nodes and NodeDataplanes). MetalLB's namespace
     * and CRDs stay: the next lab on the same control plane reuses them.
     */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        try {
            for (String node : List.copyOf(speakers.keySet())) {
                stopSpeaker(node);
            }
            for (String node : List.copyOf(agents.keySet())) {
                stopAgent(node);
            }
            for (Process p : hostProcesses) {
                stop(p);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (var logs = Files.list(lab.logDir())) {
            Files.createDirectories(plane.logDir());
            for (Path log : logs.toList()) {
                Files.copy(log, plane.logDir().resolve("lab-" + lab.prefix() + "-" + log.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            System.err.println("could not keep the lab's logs: " + e.getMessage());
        }
        lab.close();
        kubectl("delete", "service", SERVICE, "--ignore-not-found");
        kubectl("delete", "endpointslice", SERVICE + "-1", IPV6_SLICE, "--ignore-not-found");
        for (String node : lbNodes) {
            // No kubelet confirms the speaker Pod's end: without --force it would stay Terminating.
            kubectl("delete", "pod", speakerPod(node), "-n", METALLB_NS, "--ignore-not-found", "--force", "--grace-period=0");
        }
        kubectl("delete", "l2advertisements.metallb.io,ipaddresspools.metallb.io", "lab", "-n", METALLB_NS, "--ignore-not-found");
        kubectl("delete", "servicel2statuses.metallb.io", "--all", "-n", METALLB_NS, "--ignore-not-found");
        deleteClusters();
        for (String node : nodes()) {
            kubectl("delete", "node", node, "--ignore-not-found");
            kubectl("delete", "nodedataplanes.lbmode.io", node, "--ignore-not-found");
        }
    }
}
