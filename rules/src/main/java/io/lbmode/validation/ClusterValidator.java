package io.lbmode.validation;

import io.lbmode.crds.cluster.v1.AddressPool;
import io.lbmode.crds.cluster.v1.CidrBlocks;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.crds.cluster.v1.ClusterNetwork;
import io.lbmode.crds.cluster.v1.ClusterSpec;
import io.lbmode.crds.cluster.v1.ClusterType;
import io.lbmode.crds.cluster.v1.LoadBalancer;
import io.lbmode.crds.cluster.v1.LoadBalancerMode;
import io.lbmode.crds.cluster.v1.LoadBalancerType;
import io.lbmode.crds.cluster.v1.NodeAddress;
import io.lbmode.crds.cluster.v1.NodeConfig;
import io.lbmode.crds.cluster.v1.NodePoolSpec;
import io.lbmode.forwardmode.ForwardModes;
import io.lbmode.forwardmode.Migration;
import io.lbmode.version.BareMetalVersion;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.schema.StructuralSchema;
import io.lbmode.yaml.KubeYaml;
import io.lbmode.yaml.KubeYamlException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * The one validation engine (webhook, operator, CLI) for the fields of the cluster configuration that lbmode
 * models. It never stops at the first problem: every problem is
 * reported with its field path.
 */
public final class ClusterValidator {
    static final int DEFAULT_MAX_PODS = 110;
    /** What the API server requires of an object name (k8s.io/apimachinery IsDNS1123Subdomain). */
    private static final java.util.regex.Pattern DNS_SUBDOMAIN =
            java.util.regex.Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
    /** What the API server requires of a namespace name (IsDNS1123Label). */
    private static final java.util.regex.Pattern DNS_LABEL = java.util.regex.Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    /** GDC "IPv4/IPv6 dual-stack networking": the source of every dual-stack rule below. */
    static final String GDC_DUAL_STACK =
            "https://cloud.google.com/kubernetes-engine/distributed-cloud/bare-metal/docs/how-to/dual-stack-networking";
    /** kube-apiserver's checks of --service-cluster-ip-range (one range per family, IPv6 at most 20 host bits). */
    static final String KUBE_APISERVER_RANGES =
            "https://github.com/kubernetes/kubernetes/blob/master/cmd/kube-apiserver/app/options/validation.go";
    /** kube-apiserver: a service range has at most 20 host bits, so an IPv6 one is /108 or smaller. */
    static final int IPV6_SERVICE_LARGEST = 108;

    private ClusterValidator() {
    }

    /** The decision on creating {@code cluster}. */
    public static Verdict validateCreate(Cluster cluster) {
        List<Problem> problems = new ArrayList<>(structure(cluster));
        List<String> warnings = new ArrayList<>();
        problems.addAll(ForwardModes.checkCreate(cluster));
        warnings.addAll(ForwardModes.warnCreate(cluster));
        warnings.addAll(dualStackWarnings(cluster.getSpec()));
        return new Verdict(problems, warnings, ForwardModes.migrationFor(cluster));
    }

    /**
     * The decision on replacing {@code old} with {@code updated}, ratcheted as the API server ratchets CRD schema
     * validation: an update is judged by the problems it adds, not by those the stored object already had (it may
     * have been stored before lbmode was installed, or before a rule got stricter). So an update that leaves
     * {@code spec} unchanged (a label, an annotation, a finalizer) is not held to today's rules on {@code spec}, and
     * an update of an object being deleted that only removes finalizers is always allowed, so deletion never hangs.
     * The forward mode and the other immutable fields are refused whatever the stored object was.
     */
    public static Verdict validateUpdate(Cluster old, Cluster updated) {
        Optional<Migration> migration = ForwardModes.migrationOnUpgrade(old, updated).or(() -> ForwardModes.migrationFor(updated));
        if (onlyRemovesFinalizersWhileDeleting(old, updated)) {
            return new Verdict(List.of(), List.of(), Optional.empty());
        }
        List<Problem> problems = new ArrayList<>(Objects.equals(KubeYaml.toNode(old).path("spec"), KubeYaml.toNode(updated).path("spec"))
                ? List.of() : added(structure(old), structure(updated)));
        problems.addAll(ForwardModes.checkUpdate(old, updated));
        problems.addAll(immutability(old, updated));
        return new Verdict(problems, List.of(), migration);
    }

    /** The problems of {@code now} that {@code before} did not have (same field, same message). */
    private static List<Problem> added(List<Problem> before, List<Problem> now) {
        Set<Problem> had = new HashSet<>(before);
        return now.stream().filter(p -> !had.contains(p)).toList();
    }

    /**
     * The object is being deleted and the update removes finalizers and changes nothing else that lbmode judges
     * (spec and annotations): refusing it would only make the deletion hang.
     */
    static boolean onlyRemovesFinalizersWhileDeleting(Cluster old, Cluster updated) {
        var before = old.getMetadata();
        var after = updated.getMetadata();
        if (before == null || after == null || blank(before.getDeletionTimestamp())) {
            return false;
        }
        List<String> was = before.getFinalizers() == null ? List.of() : before.getFinalizers();
        List<String> is = after.getFinalizers() == null ? List.of() : after.getFinalizers();
        return was.containsAll(is) && is.size() < was.size()
                && Objects.equals(KubeYaml.toNode(old).path("spec"), KubeYaml.toNode(updated).path("spec"))
                && Objects.equals(annotations(before), annotations(after));
    }

    private static Map<String, String> annotations(io.fabric8.kubernetes.api.model.ObjectMeta metadata) {
        return metadata.getAnnotations() == null ? Map.of() : metadata.getAnnotations();
    }

    /**
     * Validates a document as it arrives (YAML or an admission request): values of the wrong type or outside an
     * enum are reported by the CRD schema, with their path, and the rest is still checked by every rule, so that
     * one run reports every problem.
     */
    public static Verdict validateCreate(JsonNode document) {
        Checked checked = check(document);
        if (checked.cluster().isEmpty()) {
            return new Verdict(checked.problems(), List.of(), Optional.empty());
        }
        Verdict verdict = validateCreate(checked.cluster().get());
        List<Problem> problems = merge(checked.problems(), verdict.problems());
        return new Verdict(problems, warnings(problems, verdict.warnings()), verdict.migration());
    }

    /**
     * {@link #validateUpdate(Cluster, Cluster)} for an updated document that may carry values of the wrong type;
     * type problems are ratcheted too (only those the old object did not have count).
     */
    public static Verdict validateUpdate(Cluster old, JsonNode updated) {
        Checked checked = check(updated);
        List<Problem> typeProblems = added(check(KubeYaml.toNode(old)).problems(), checked.problems());
        if (checked.cluster().isEmpty()) {
            return new Verdict(checked.problems(), List.of(), Optional.empty());
        }
        Verdict verdict = validateUpdate(old, checked.cluster().get());
        return new Verdict(merge(typeProblems, verdict.problems()), verdict.warnings(), verdict.migration());
    }

    private record Checked(List<Problem> problems, Optional<Cluster> cluster) {
    }

    private static Checked check(JsonNode document) {
        if (!(document instanceof ObjectNode object)) {
            return new Checked(List.of(new Problem("(document)", "a Cluster must be a mapping")), Optional.empty());
        }
        ObjectNode copy = object.deepCopy();
        List<Problem> problems = new ArrayList<>(StructuralSchema.cluster().checkTypes(copy));
        try {
            return new Checked(problems, Optional.of(KubeYaml.toCluster(copy)));
        } catch (KubeYamlException e) {
            // Fields the schema does not type (metadata) can still be wrong; the message starts with their path.
            String message = e.getMessage();
            int colon = message.indexOf(": ");
            problems.add(colon > 0 ? new Problem(message.substring(0, colon), message.substring(colon + 2))
                    : new Problem("(document)", message));
            return new Checked(problems, Optional.empty());
        }
    }

    /** A warning about a field that is already a problem, or inside one (e.g. "not set"), would only confuse. */
    private static List<String> warnings(List<Problem> problems, List<String> warnings) {
        return warnings.stream().filter(w -> problems.stream().noneMatch(p -> w.startsWith(p.field() + ":")
                || w.startsWith(p.field() + "."))).toList();
    }

    /** Schema problems first; a rule's "is required" for a value the schema already rejected is left out. */
    private static List<Problem> merge(List<Problem> schema, List<Problem> rules) {
        Set<String> reported = new HashSet<>();
        schema.forEach(p -> reported.add(p.field()));
        List<Problem> all = new ArrayList<>(schema);
        rules.stream().filter(p -> reported.stream().noneMatch(r -> p.field().equals(r) || p.field().startsWith(r + ".")))
                .forEach(all::add);
        return all;
    }

    // ---------------------------------------------------------------- rules on one object

    private static List<Problem> structure(Cluster cluster) {
        Problems p = new Problems();
        p.list.addAll(StructuralSchema.cluster().misspelledKeys(KubeYaml.toNode(cluster)));
        if (cluster.getMetadata() == null || blank(cluster.getMetadata().getName())) {
            p.add("metadata.name", "is required");
        } else {
            String name = cluster.getMetadata().getName();
            if (name.length() > 253 || !DNS_SUBDOMAIN.matcher(name).matches()) {
                p.add("metadata.name", "'" + name + "' is not a valid name: the API server requires a DNS-1123 subdomain "
                        + "(at most 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)");
            }
        }
        String namespace = cluster.getMetadata() == null ? null : cluster.getMetadata().getNamespace();
        if (namespace != null && (namespace.length() > 63 || !DNS_LABEL.matcher(namespace).matches())) {
            p.add("metadata.namespace", "'" + namespace + "' is not a valid namespace: the API server requires a DNS-1123 "
                    + "label (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)");
        }
        ClusterSpec spec = cluster.getSpec();
        if (spec == null) {
            p.add("spec", "is required");
            return p.list;
        }
        if (spec.type == null) {
            p.add("spec.type", "is required; one of admin, user, hybrid, standalone");
        }
        if (blank(spec.anthosBareMetalVersion)) {
            p.add("spec.anthosBareMetalVersion", "is required, e.g. 1.28.300-gke.131");
        } else if (BareMetalVersion.parse(spec.anthosBareMetalVersion).isEmpty()) {
            p.add("spec.anthosBareMetalVersion", "'" + spec.anthosBareMetalVersion
                    + "' is not a version; write MAJOR.MINOR.PATCH with an optional build suffix, e.g. 1.28.300-gke.131");
        }
        int controlPlaneNodes = controlPlane(spec, p);
        boolean dualStack = clusterNetwork(spec.clusterNetwork, p);
        List<Ipv4.Range> poolRanges = loadBalancer(spec, dualStack, p);
        nodeConfig(spec, controlPlaneNodes, p);
        p.list.addAll(vips(spec, poolRanges));
        return p.list;
    }

    private static int controlPlane(ClusterSpec spec, Problems p) {
        String field = "spec.controlPlane.nodePoolSpec.nodes";
        if (spec.controlPlane == null) {
            p.add("spec.controlPlane", "is required: list the control-plane node machines under nodePoolSpec.nodes");
            return 0;
        }
        List<NodeAddress> nodes = spec.controlPlane.nodePoolSpec == null ? null : spec.controlPlane.nodePoolSpec.nodes;
        if (nodes == null || nodes.isEmpty()) {
            p.add(field, "is required: list 1 control-plane node, or 3 for high availability");
            return 0;
        }
        if (nodes.size() != 1 && nodes.size() != 3) {
            p.add(field, "has " + nodes.size() + " nodes; a control plane has 1 node, or 3 for high availability");
        }
        nodeAddresses(field, nodes, p);
        return nodes.size();
    }

    private static void nodeAddresses(String field, List<NodeAddress> nodes, Problems p) {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < nodes.size(); i++) {
            NodeAddress node = nodes.get(i);
            String at = field + "[" + i + "]";
            if (node == null || blank(node.address)) {
                p.add(at + ".address", "is required: the node machine's IPv4 address");
                continue;
            }
            if (Ipv4.address(node.address).isEmpty()) {
                p.add(at + ".address", "'" + node.address + "' is not an IPv4 address");
            } else if (!seen.add(node.address)) {
                p.add(at + ".address", node.address + " is listed twice; each node machine once");
            }
            if (node.k8sIP != null && Ipv4.address(node.k8sIP).isEmpty()) {
                p.add(at + ".k8sIP", "'" + node.k8sIP + "' is not an IPv4 address");
            }
        }
    }

    /** Checks the pod and service ranges; returns whether the cluster is dual-stack (it has an IPv6 service block). */
    private static boolean clusterNetwork(ClusterNetwork network, Problems p) {
        if (network == null) {
            p.add("spec.clusterNetwork", "is required: set pods.cidrBlocks and services.cidrBlocks");
            return false;
        }
        List<Ipv4.Range> pods = cidrs("spec.clusterNetwork.pods.cidrBlocks", network.pods, 8, 18, Ipv6Blocks.POD, p);
        List<Ipv4.Range> services = cidrs("spec.clusterNetwork.services.cidrBlocks", network.services, 12, 24,
                Ipv6Blocks.SERVICE, p);
        for (int s = 0; s < services.size(); s++) {
            for (Ipv4.Range pod : pods) {
                if (services.get(s).overlaps(pod)) {
                    p.add("spec.clusterNetwork.services.cidrBlocks[" + s + "]", services.get(s).text()
                            + " overlaps the pod range " + pod.text() + "; choose non-overlapping ranges");
                }
            }
        }
        return dualStack(network);
    }

    /**
     * GDC: "if you provide Service CIDR ranges for both IPv4 and IPv6, your cluster will have a dual-stack network"
     * (the enabling criterion, {@link #GDC_DUAL_STACK}).
     */
    static boolean dualStack(ClusterNetwork network) {
        return network != null && blocks(network.services).stream().anyMatch(Ipv6::looksLike);
    }

    /** What an IPv6 block may be in a CIDR list: pods take none (GDC), services one of at most /108. */
    private enum Ipv6Blocks { POD, SERVICE }

    /**
     * One IPv6 entry of pods.cidrBlocks or services.cidrBlocks. GDC ({@link #GDC_DUAL_STACK}): under
     * clusterNetwork.pods.cidrBlocks "specify an IPv4 CIDR range, but don't specify an IPv6 CIDR range" (the IPv6
     * pod ranges are in ClusterCIDRConfig resources); under services.cidrBlocks "specify both an IPv4 CIDR range
     * and an IPv6 CIDR range". kube-apiserver ({@link #KUBE_APISERVER_RANGES}) limits a service range to 20 host
     * bits ("for 128-bit addresses, the mask must be >= 108"). Returns whether the entry is a good IPv6 block.
     */
    private static boolean ipv6Block(String at, String text, Ipv6Blocks kind, Problems p) {
        switch (Ipv6.cidr(text)) {
            case Ipv6.Result.Bad(String message) -> {
                p.add(at, message);
                return false;
            }
            case Ipv6.Result.Ok(Ipv6.Range range) -> {
                if (kind == Ipv6Blocks.POD) {
                    p.add(at, range.text() + " is an IPv6 block; list only the IPv4 pod range here: a dual-stack cluster's "
                            + "IPv6 pod ranges go in ClusterCIDRConfig resources (" + GDC_DUAL_STACK + ")");
                    return false;
                }
                if (range.prefix() < IPV6_SERVICE_LARGEST) {
                    p.add(at, range.text() + " is a /" + range.prefix() + "; an IPv6 service block is /"
                            + IPV6_SERVICE_LARGEST + " or smaller (kube-apiserver allows 20 host bits: " + KUBE_APISERVER_RANGES + ")");
                }
                return true;
            }
        }
    }

    /**
     * Parses and size-checks CIDR blocks; returns the good IPv4 ones, with their list index lost only for bad
     * entries. At most one block per family: kube-apiserver takes one service range per family
     * ("--service-cluster-ip-range[0] and --service-cluster-ip-range[1] must be of different IP family",
     * {@link #KUBE_APISERVER_RANGES}), and GDC asks for "an IPv4 CIDR range" of pods and of services
     * ({@link #GDC_DUAL_STACK}).
     */
    private static List<Ipv4.Range> cidrs(String field, CidrBlocks blocks, int largest, int smallest, Ipv6Blocks ipv6,
                                          Problems p) {
        List<Ipv4.Range> ranges = new ArrayList<>();
        if (blocks == null || blocks.cidrBlocks == null || blocks.cidrBlocks.isEmpty()) {
            p.add(field, "is required: one IPv4 CIDR block between /" + largest + " and /" + smallest);
            return ranges;
        }
        int ipv4Blocks = 0;
        int ipv6Blocks = 0;
        for (int i = 0; i < blocks.cidrBlocks.size(); i++) {
            String at = field + "[" + i + "]";
            String text = blocks.cidrBlocks.get(i);
            if (Ipv6.looksLike(text)) {
                if (ipv6Block(at, text, ipv6, p) && ++ipv6Blocks == 2) {
                    p.add(at, "is a second IPv6 block; list at most one block per family (" + KUBE_APISERVER_RANGES + ")");
                }
                continue;
            }
            if (Ipv4.cidr(text) instanceof Ipv4.Result.Ok && ++ipv4Blocks == 2) {
                p.add(at, "is a second IPv4 block; list at most one block per family (" + KUBE_APISERVER_RANGES + ")");
            }
            switch (Ipv4.cidr(text)) {
                case Ipv4.Result.Bad(String message) -> p.add(at, message);
                case Ipv4.Result.Ok(Ipv4.Range range) -> {
                    if (range.prefix() < largest || range.prefix() > smallest) {
                        p.add(at, range.text() + " is a /" + range.prefix() + "; use a block between /" + largest
                                + " (largest) and /" + smallest + " (smallest)");
                    }
                    ranges.add(range);
                }
            }
        }
        if (ipv4Blocks == 0 && ipv6Blocks > 0) {
            p.add(field, "has no IPv4 block; a cluster is IPv4 or dual-stack: list one IPv4 block between /" + largest
                    + " and /" + smallest + " beside the IPv6 one (" + GDC_DUAL_STACK + ")");
        }
        return ranges;
    }

    /** Checks the load balancer; returns every good address-pool range, for the VIP rules. */
    private static List<Ipv4.Range> loadBalancer(ClusterSpec spec, boolean dualStack, Problems p) {
        List<Ipv4.Range> all = new ArrayList<>();
        LoadBalancer lb = spec.loadBalancer;
        if (lb == null) {
            p.add("spec.loadBalancer", "is required: set mode, ports.controlPlaneLBPort and vips.controlPlaneVIP");
            return all;
        }
        if (lb.mode == null) {
            p.add("spec.loadBalancer.mode", "is required; one of bundled, manual");
        }
        if (lb.ports == null || lb.ports.controlPlaneLBPort == null) {
            p.add("spec.loadBalancer.ports.controlPlaneLBPort", "is required: the port the control-plane VIP serves, e.g. 443");
        } else if (lb.ports.controlPlaneLBPort < 1 || lb.ports.controlPlaneLBPort > 65535) {
            p.add("spec.loadBalancer.ports.controlPlaneLBPort", lb.ports.controlPlaneLBPort + " is not a port; use 1 to 65535");
        }
        if (lb.nodePoolSpec != null && lb.nodePoolSpec.nodes != null) {
            nodeAddresses("spec.loadBalancer.nodePoolSpec.nodes", lb.nodePoolSpec.nodes, p);
        }
        if (lb.addressPools == null || lb.addressPools.isEmpty()) {
            return all;
        }
        if (lb.mode == LoadBalancerMode.MANUAL) {
            p.add("spec.loadBalancer.addressPools", "are only allowed with mode: bundled; remove them or use mode: bundled");
        }
        if (spec.type == ClusterType.ADMIN) {
            p.add("spec.loadBalancer.addressPools", "are not allowed on admin clusters (they run no workload Services); remove them");
        }
        Set<String> names = new HashSet<>();
        List<String> owners = new ArrayList<>();
        List<Ipv6.Range> all6 = new ArrayList<>();
        List<String> owners6 = new ArrayList<>();
        for (int i = 0; i < lb.addressPools.size(); i++) {
            AddressPool pool = lb.addressPools.get(i);
            String at = "spec.loadBalancer.addressPools[" + i + "]";
            if (pool == null) {
                p.add(at, "is empty; give the pool a name and addresses");
                continue;
            }
            if (blank(pool.name)) {
                p.add(at + ".name", "is required");
            } else if (!names.add(pool.name)) {
                p.add(at + ".name", "'" + pool.name + "' is used by another pool; pool names must be unique");
            }
            if (pool.addresses == null || pool.addresses.isEmpty()) {
                p.add(at + ".addresses", "is required: list ranges as a.b.c.d/n or a.b.c.d-e.f.g.h");
                continue;
            }
            for (int j = 0; j < pool.addresses.size(); j++) {
                String entry = at + ".addresses[" + j + "]";
                String owner = "pool '" + (pool.name == null ? "#" + i : pool.name) + "'";
                if (Ipv6.looksLike(pool.addresses.get(j))) {
                    ipv6PoolRange(entry, pool.addresses.get(j), owner, dualStack, all6, owners6, p);
                    continue;
                }
                switch (Ipv4.poolRange(pool.addresses.get(j))) {
                    case Ipv4.Result.Bad(String message) -> p.add(entry, message);
                    case Ipv4.Result.Ok(Ipv4.Range range) -> {
                        for (int k = 0; k < all.size(); k++) {
                            if (all.get(k).overlaps(range)) {
                                p.add(entry, range.text() + " overlaps " + all.get(k).text() + " of " + owners.get(k)
                                        + "; address ranges must not overlap, within or across pools");
                            }
                        }
                        all.add(range);
                        owners.add("pool '" + (pool.name == null ? "#" + i : pool.name) + "'");
                    }
                }
            }
        }
        return all;
    }

    /**
     * One IPv6 entry of an address pool. GDC ({@link #GDC_DUAL_STACK}): with bundled load balancing a dual-stack
     * cluster lists "both IPv4 and IPv6 addresses" in loadBalancer.addressPools; a cluster is dual-stack only when
     * its services.cidrBlocks has an IPv6 block, so an IPv6 VIP of a single-stack cluster could never be served.
     * Ranges must not overlap, within or across pools, as for IPv4.
     */
    private static void ipv6PoolRange(String entry, String text, String owner, boolean dualStack, List<Ipv6.Range> all,
                                      List<String> owners, Problems p) {
        switch (Ipv6.poolRange(text)) {
            case Ipv6.Result.Bad(String message) -> p.add(entry, message);
            case Ipv6.Result.Ok(Ipv6.Range range) -> {
                if (!dualStack) {
                    p.add(entry, range.text() + " is IPv6 but the cluster is not dual-stack: only a cluster created with an "
                            + "IPv6 block in clusterNetwork.services.cidrBlocks serves IPv6 VIPs (" + GDC_DUAL_STACK + ")");
                }
                for (int k = 0; k < all.size(); k++) {
                    if (all.get(k).overlaps(range)) {
                        p.add(entry, range.text() + " overlaps " + all.get(k).text() + " of " + owners.get(k)
                                + "; address ranges must not overlap, within or across pools");
                    }
                }
                all.add(range);
                owners.add(owner);
            }
        }
    }

    /**
     * GDC ({@link #GDC_DUAL_STACK}): "If you are using bundled load balancing, specify both IPv4 and IPv6 addresses
     * in the loadBalancer.addressPools section". A warning, not a problem: without IPv6 pool addresses the cluster
     * still works, its IPv6 LoadBalancer Services just get no VIP.
     */
    static List<String> dualStackWarnings(ClusterSpec spec) {
        if (spec == null || !dualStack(spec.clusterNetwork) || spec.loadBalancer == null
                || spec.loadBalancer.mode != LoadBalancerMode.BUNDLED || spec.loadBalancer.addressPools == null
                || spec.loadBalancer.addressPools.isEmpty()) {
            return List.of();
        }
        boolean anyIpv6 = spec.loadBalancer.addressPools.stream()
                .filter(pool -> pool != null && pool.addresses != null)
                .anyMatch(pool -> pool.addresses.stream().anyMatch(Ipv6::looksLike));
        return anyIpv6 ? List.of() : List.of("spec.loadBalancer.addressPools: the cluster is dual-stack but no pool has "
                + "IPv6 addresses, so IPv6 LoadBalancer Services get no VIP; list IPv6 addresses too (" + GDC_DUAL_STACK + ")");
    }

    private static List<Problem> vips(ClusterSpec spec, List<Ipv4.Range> pools) {
        Problems p = new Problems();
        LoadBalancer lb = spec.loadBalancer;
        if (lb == null) {
            return p.list;
        }
        String cp = lb.vips == null ? null : lb.vips.controlPlaneVIP;
        if (blank(cp)) {
            p.add("spec.loadBalancer.vips.controlPlaneVIP", "is required: the IPv4 address of the Kubernetes API server");
        } else {
            Optional<Long> address = Ipv4.address(cp);
            if (address.isEmpty()) {
                p.add("spec.loadBalancer.vips.controlPlaneVIP", "'" + cp + "' is not an IPv4 address");
            } else {
                pools.stream().filter(r -> r.contains(address.get())).findFirst().ifPresent(r ->
                        p.add("spec.loadBalancer.vips.controlPlaneVIP", cp + " lies inside the address pool range " + r.text()
                                + "; take the control-plane VIP from outside every pool"));
            }
        }
        String ingress = lb.vips == null ? null : lb.vips.ingressVIP;
        if (ingress != null) {
            Optional<Long> address = Ipv4.address(ingress);
            if (address.isEmpty()) {
                p.add("spec.loadBalancer.vips.ingressVIP", "'" + ingress + "' is not an IPv4 address");
            } else if (spec.type == ClusterType.ADMIN) {
                p.add("spec.loadBalancer.vips.ingressVIP", "is not allowed on admin clusters; remove it");
            } else if (lb.mode == LoadBalancerMode.BUNDLED && pools.stream().noneMatch(r -> r.contains(address.get()))) {
                p.add("spec.loadBalancer.vips.ingressVIP", ingress + " lies outside every address pool; in bundled mode "
                        + "it must come from an address pool");
            }
        }
        return p.list;
    }

    private static void nodeConfig(ClusterSpec spec, int controlPlaneNodes, Problems p) {
        Integer max = spec.nodeConfig == null || spec.nodeConfig.podDensity == null ? null : spec.nodeConfig.podDensity.maxPodsPerNode;
        if (max == null || spec.type == null) {
            return;
        }
        // Self-managed clusters run the control plane on their own nodes; a single control-plane node needs headroom.
        int low = spec.type == ClusterType.USER || controlPlaneNodes >= 3 ? 32 : 64;
        if (max < low || max > 250) {
            String why = spec.type == ClusterType.USER ? "user clusters" : controlPlaneNodes >= 3
                    ? spec.type.name().toLowerCase(java.util.Locale.ROOT) + " clusters with an HA control plane"
                    : spec.type.name().toLowerCase(java.util.Locale.ROOT) + " clusters without an HA control plane";
            p.add("spec.nodeConfig.podDensity.maxPodsPerNode", max + " is out of range; " + why + " allow " + low + " to 250");
        }
    }

    // ---------------------------------------------------------------- rules on an update

    private static List<Problem> immutability(Cluster old, Cluster updated) {
        Problems p = new Problems();
        ClusterSpec o = old.getSpec();
        ClusterSpec n = updated.getSpec();
        if (o == null || n == null) {
            return p.list;
        }
        same(p, "spec.type", o.type, n.type, t -> t);
        version(p, o.anthosBareMetalVersion, n.anthosBareMetalVersion);

        ClusterNetwork on = o.clusterNetwork == null ? new ClusterNetwork() : o.clusterNetwork;
        ClusterNetwork nn = n.clusterNetwork == null ? new ClusterNetwork() : n.clusterNetwork;
        same(p, "spec.clusterNetwork.advancedNetworking", orFalse(on.advancedNetworking), orFalse(nn.advancedNetworking), b -> b);
        same(p, "spec.clusterNetwork.flatIPv4", orFalse(on.flatIPv4), orFalse(nn.flatIPv4), b -> b);
        same(p, "spec.clusterNetwork.multipleNetworkInterfaces", orFalse(on.multipleNetworkInterfaces),
                orFalse(nn.multipleNetworkInterfaces), b -> b);
        same(p, "spec.clusterNetwork.pods.cidrBlocks", blocks(on.pods), blocks(nn.pods), b -> b);
        if (dualStack(on) != dualStack(nn)) {
            // GDC: "you can't enable dual-stack networking for an existing cluster" (GDC_DUAL_STACK); nor undo it.
            p.add("spec.clusterNetwork.services.cidrBlocks", (dualStack(on) ? "can't drop the IPv6 block" : "can't add an IPv6 block")
                    + ": dual-stack networking is chosen when the cluster is created (" + GDC_DUAL_STACK + ")");
        } else {
            servicesGrowOnly(p, blocks(on.services), blocks(nn.services));
        }

        if (o.controlPlane != null && n.controlPlane != null) {
            k8sIPs(p, "spec.controlPlane.nodePoolSpec.nodes", o.controlPlane.nodePoolSpec, n.controlPlane.nodePoolSpec);
        }
        LoadBalancer ol = o.loadBalancer;
        LoadBalancer nl = n.loadBalancer;
        if (ol != null && nl != null) {
            same(p, "spec.loadBalancer.mode", ol.mode, nl.mode, m -> m);
            same(p, "spec.loadBalancer.type", ol.type == null ? LoadBalancerType.LAYER2 : ol.type,
                    nl.type == null ? LoadBalancerType.LAYER2 : nl.type, t -> t);
            same(p, "spec.loadBalancer.ports.controlPlaneLBPort", ol.ports == null ? null : ol.ports.controlPlaneLBPort,
                    nl.ports == null ? null : nl.ports.controlPlaneLBPort, x -> x);
            same(p, "spec.loadBalancer.vips.controlPlaneVIP", ol.vips == null ? null : ol.vips.controlPlaneVIP,
                    nl.vips == null ? null : nl.vips.controlPlaneVIP, x -> x);
            same(p, "spec.loadBalancer.vips.ingressVIP", ol.vips == null ? null : ol.vips.ingressVIP,
                    nl.vips == null ? null : nl.vips.ingressVIP, x -> x);
            addressPools(p, ol.addressPools, nl.addressPools);
            if (ol.nodePoolSpec == null && nl.nodePoolSpec != null) {
                p.add("spec.loadBalancer.nodePoolSpec", "can't be added to a cluster created without it; "
                        + "load balancing stays on the control-plane nodes");
            } else if (ol.nodePoolSpec != null && nl.nodePoolSpec != null) {
                k8sIPs(p, "spec.loadBalancer.nodePoolSpec.nodes", ol.nodePoolSpec, nl.nodePoolSpec);
            }
        }
        same(p, "spec.nodeConfig.podDensity.maxPodsPerNode", maxPods(o.nodeConfig), maxPods(n.nodeConfig), x -> x);
        return p.list;
    }

    private static void version(Problems p, String old, String updated) {
        Optional<BareMetalVersion> from = BareMetalVersion.parse(old);
        Optional<BareMetalVersion> to = BareMetalVersion.parse(updated);
        if (from.isPresent() && to.isPresent() && to.get().isBefore(from.get())) {
            p.add("spec.anthosBareMetalVersion", "can't go down from " + from.get() + " to " + to.get()
                    + "; versions only change by upgrade");
        }
    }

    private static void servicesGrowOnly(Problems p, List<String> old, List<String> updated) {
        String field = "spec.clusterNetwork.services.cidrBlocks";
        if (old.equals(updated)) {
            return;
        }
        if (old.size() != updated.size()) {
            p.add(field, "can't change from " + old + " to " + updated + "; a service range may only grow in place");
            return;
        }
        for (int i = 0; i < old.size(); i++) {
            if (Ipv4.cidr(old.get(i)) instanceof Ipv4.Result.Ok(Ipv4.Range was)
                    && Ipv4.cidr(updated.get(i)) instanceof Ipv4.Result.Ok(Ipv4.Range now)
                    && !now.contains(was)) {
                p.add(field + "[" + i + "]", "can't change from " + was.text() + " to " + now.text()
                        + "; the service range may only grow (a shorter mask that contains " + was.text() + ")");
            }
            // The IPv6 block of a dual-stack cluster grows only, as the IPv4 one does.
            if (Ipv6.cidr(old.get(i)) instanceof Ipv6.Result.Ok(Ipv6.Range was)
                    && Ipv6.cidr(updated.get(i)) instanceof Ipv6.Result.Ok(Ipv6.Range now)
                    && !now.contains(was)) {
                p.add(field + "[" + i + "]", "can't change from " + was.text() + " to " + now.text()
                        + "; the service range may only grow (a shorter mask that contains " + was.text() + ")");
            }
        }
    }

    private static void addressPools(Problems p, List<AddressPool> old, List<AddressPool> updated) {
        List<AddressPool> before = old == null ? List.of() : old;
        Map<String, Integer> index = new HashMap<>();
        List<AddressPool> after = updated == null ? List.of() : updated;
        for (int i = 0; i < after.size(); i++) {
            if (after.get(i) != null && after.get(i).name != null) {
                index.putIfAbsent(after.get(i).name, i);
            }
        }
        for (AddressPool pool : before) {
            if (pool == null || pool.name == null) {
                continue;
            }
            Integer at = index.get(pool.name);
            if (at == null) {
                p.add("spec.loadBalancer.addressPools", "pool '" + pool.name + "' can't be removed; pools may only be added");
                continue;
            }
            AddressPool now = after.get(at);
            if (!Objects.equals(pool.addresses, now.addresses)) {
                p.add("spec.loadBalancer.addressPools[" + at + "].addresses", "of existing pool '" + pool.name
                        + "' can't change from " + pool.addresses + " to " + now.addresses
                        + "; add a new pool instead (only avoidBuggyIPs and manualAssign may change)");
            }
            // Both sides were read by the same mapper, so equal documents give equal maps, lists and numbers.
            if (!Objects.equals(pool.unmodelled(), now.unmodelled())) {
                p.add("spec.loadBalancer.addressPools[" + at + "]", "existing pool '" + pool.name
                        + "' may only change avoidBuggyIPs and manualAssign");
            }
        }
    }

    private static void k8sIPs(Problems p, String field, NodePoolSpec old, NodePoolSpec updated) {
        if (old == null || old.nodes == null || updated == null || updated.nodes == null) {
            return;
        }
        Map<String, String> before = new HashMap<>();
        for (NodeAddress node : old.nodes) {
            if (node != null && node.address != null) {
                before.put(node.address, node.k8sIP);
            }
        }
        for (int i = 0; i < updated.nodes.size(); i++) {
            NodeAddress node = updated.nodes.get(i);
            if (node != null && node.address != null && before.containsKey(node.address)
                    && !Objects.equals(before.get(node.address), node.k8sIP)) {
                p.add(field + "[" + i + "].k8sIP", "of node " + node.address + " can't change from "
                        + display(before.get(node.address)) + " to " + display(node.k8sIP) + "; it is fixed when the node joins");
            }
        }
    }

    private static <T> void same(Problems p, String field, T old, T updated, Function<T, Object> show) {
        if (!Objects.equals(old, updated)) {
            p.add(field, "can't change from " + display(old == null ? null : show.apply(old)) + " to "
                    + display(updated == null ? null : show.apply(updated)) + "; it is immutable after cluster creation");
        }
    }

    private static String display(Object value) {
        if (value == null) {
            return "(unset)";
        }
        // Enums are shown in their YAML spelling (layer2, admin), not as Java constants.
        return value instanceof Enum<?> e ? e.name().toLowerCase(java.util.Locale.ROOT) : value.toString();
    }

    private static List<String> blocks(CidrBlocks blocks) {
        return blocks == null || blocks.cidrBlocks == null ? List.of() : blocks.cidrBlocks;
    }

    private static Integer maxPods(NodeConfig config) {
        return config == null || config.podDensity == null || config.podDensity.maxPodsPerNode == null
                ? DEFAULT_MAX_PODS : config.podDensity.maxPodsPerNode;
    }

    private static Boolean orFalse(Boolean b) {
        return b != null && b;
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    /** Collects problems in the order the rules find them. */
    private static final class Problems {
        final List<Problem> list = new ArrayList<>();

        void add(String field, String message) {
            list.add(new Problem(field, message));
        }
    }
}
