package io.lbmode.datapathconfig;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.net.AsciiDigits;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What the datapath agents need to know about their cluster: the contract between the operator (which writes it
 * into the ConfigMap {@value #CONFIG_MAP_NAME}) and the agent (which reads it from there, or, standalone, derives it
 * from a Cluster document).
 *
 * @param forwardMode     the cluster's effective forward mode
 * @param podCidrs        {@code spec.clusterNetwork.pods.cidrBlocks}
 * @param serviceCidrs    {@code spec.clusterNetwork.services.cidrBlocks}
 * @param clusterNamespace namespace of the Cluster object
 * @param clusterName     name of the Cluster object
 * @param hashSeed        Maglev hash seed; equal on every node so every LB node picks the same backend for a flow
 * @param vipRanges       the addresses a Service VIP may have: every {@code spec.loadBalancer.addressPools[].addresses[]}
 *                        entry ({@code a.b.c.d/n} or {@code a.b.c.d-e.f.g.h}), {@code vips.controlPlaneVIP} and
 *                        {@code vips.ingressVIP}; the agent refuses any other {@code status.loadBalancer.ingress} IP.
 *                        Empty means no Service may be programmed
 */
public record DatapathConfig(ForwardMode forwardMode, List<String> podCidrs, List<String> serviceCidrs,
                             String clusterNamespace, String clusterName, long hashSeed, List<String> vipRanges) {

    public static final String CONFIG_MAP_NAME = "lbmode-datapath";
    /**
     * The DaemonSet that runs the agents, in the same namespace: an agent stopped while it is gone (or being deleted)
     * removes its kernel state, because lbmode is being uninstalled (or its cluster deleted), not rolled.
     */
    public static final String DAEMON_SET_NAME = "lbmode-datapath";

    static final String FORWARD_MODE = "forwardMode";
    static final String POD_CIDRS = "podCIDRs";
    static final String SERVICE_CIDRS = "serviceCIDRs";
    static final String CLUSTER_NAMESPACE = "clusterNamespace";
    static final String CLUSTER_NAME = "clusterName";
    static final String HASH_SEED = "hashSeed";
    static final String VIP_RANGES = "vipRanges";

    public DatapathConfig {
        Objects.requireNonNull(forwardMode, "forwardMode");
        podCidrs = List.copyOf(podCidrs);
        serviceCidrs = List.copyOf(serviceCidrs);
        Objects.requireNonNull(clusterNamespace, "clusterNamespace");
        Objects.requireNonNull(clusterName, "clusterName");
        vipRanges = List.copyOf(vipRanges);
    }

    /** The seed every node derives from the cluster's identity when none is configured. */
    public static long seedFor(String clusterNamespace, String clusterName) {
        // FNV-1a over "namespace/name": stable across JVMs and nodes, unlike String.hashCode's narrow range.
        long hash = 0xcbf29ce484222325L;
        for (byte b : (clusterNamespace + "/" + clusterName).getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
            hash ^= b & 0xff;
            hash *= 0x100000001b3L;
        }
        return hash;
    }

    /**
     * The configuration for a cluster: its effective forward mode ({@link ForwardMode#effective}),
     * its pod and service ranges, and the hash seed derived from its identity.
     */
    public static DatapathConfig fromCluster(io.lbmode.crds.cluster.v1.Cluster cluster) {
        var metadata = cluster.getMetadata();
        String namespace = metadata == null || metadata.getNamespace() == null ? "" : metadata.getNamespace();
        String name = metadata == null || metadata.getName() == null ? "" : metadata.getName();
        var network = cluster.getSpec() == null ? null : cluster.getSpec().clusterNetwork;
        List<String> pods = network == null || network.pods == null || network.pods.cidrBlocks == null
                ? List.of() : network.pods.cidrBlocks;
        List<String> services = network == null || network.services == null || network.services.cidrBlocks == null
                ? List.of() : network.services.cidrBlocks;
        return new DatapathConfig(ForwardMode.effective(cluster), pods, services,
                namespace, name, seedFor(namespace, name), vipRanges(cluster));
    }

    /** Address pools' ranges, then the control plane and ingress VIPs, as the Cluster spells them. */
    static List<String> vipRanges(io.lbmode.crds.cluster.v1.Cluster cluster) {
        var lb = cluster.getSpec() == null ? null : cluster.getSpec().loadBalancer;
        if (lb == null) {
            return List.of();
        }
        List<String> ranges = new java.util.ArrayList<>();
        if (lb.addressPools != null) {
            lb.addressPools.stream().filter(Objects::nonNull).filter(p -> p.addresses != null)
                    .forEach(p -> p.addresses.stream().filter(Objects::nonNull).map(String::trim).forEach(ranges::add));
        }
        if (lb.vips != null) {
            java.util.stream.Stream.of(lb.vips.controlPlaneVIP, lb.vips.ingressVIP).filter(Objects::nonNull)
                    .map(String::trim).filter(v -> !v.isEmpty()).forEach(ranges::add);
        }
        return ranges.stream().distinct().toList();
    }

    /** The ConfigMap {@code data} the operator writes. */
    public Map<String, String> toConfigMapData() {
        Map<String, String> data = new LinkedHashMap<>();
        data.put(FORWARD_MODE, forwardMode.wireName());
        data.put(POD_CIDRS, String.join(",", podCidrs));
        data.put(SERVICE_CIDRS, String.join(",", serviceCidrs));
        data.put(CLUSTER_NAMESPACE, clusterNamespace);
        data.put(CLUSTER_NAME, clusterName);
        data.put(HASH_SEED, Long.toUnsignedString(hashSeed));
        data.put(VIP_RANGES, String.join(",", vipRanges));
        return data;
    }

    /**
     * Reads the ConfigMap {@code data} back.
     *
     * @throws IllegalArgumentException naming the key when a value is missing or malformed. {@value #VIP_RANGES} may be
     *                                  empty but must be present: a ConfigMap without it was written by an operator
     *                                  older than the agent, and an agent that took its absence for "any address" would
     *                                  program whatever VIP a Service claims
     */
    public static DatapathConfig fromConfigMapData(Map<String, String> data) {
        String mode = required(data, FORWARD_MODE);
        ForwardMode forwardMode = ForwardMode.fromWireName(mode).orElseThrow(() -> new IllegalArgumentException(
                "ConfigMap " + CONFIG_MAP_NAME + ": " + FORWARD_MODE + " must be dsr or snat, not '" + mode + "'"));
        String seed = required(data, HASH_SEED);
        IllegalArgumentException badSeed = new IllegalArgumentException(
                "ConfigMap " + CONFIG_MAP_NAME + ": " + HASH_SEED + " must be an unsigned 64-bit number, not '" + seed + "'");
        if (!AsciiDigits.only(seed)) { // Long.parseUnsignedLong would also read other scripts' digits (١٢ as 12)
            throw badSeed;
        }
        long hashSeed;
        try {
            hashSeed = Long.parseUnsignedLong(seed);
        } catch (NumberFormatException e) {
            throw badSeed;
        }
        if (!data.containsKey(VIP_RANGES)) {
            throw new IllegalArgumentException("ConfigMap " + CONFIG_MAP_NAME + ": key " + VIP_RANGES
                    + " is missing (the ConfigMap was written by an lbmode operator older than this agent); the agent"
                    + " programs no change until the operator of the same chart version rewrites it");
        }
        return new DatapathConfig(forwardMode, split(data.get(POD_CIDRS)), split(data.get(SERVICE_CIDRS)),
                required(data, CLUSTER_NAMESPACE), required(data, CLUSTER_NAME), hashSeed, split(data.get(VIP_RANGES)));
    }

    private static String required(Map<String, String> data, String key) {
        String value = data == null ? null : data.get(key);
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("ConfigMap " + CONFIG_MAP_NAME + ": key " + key + " is missing");
        }
        return value.trim();
    }

    private static List<String> split(String value) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        return java.util.Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }
}
