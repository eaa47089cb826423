package io.lbmode.datapath.model;

import io.lbmode.crds.cluster.v1.ForwardMode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * Everything one node must program: the single input of a {@code ModeProgrammer}.
 *
 * <p>Services are sorted and distinct by {@link ServicePort.Key} so two nodes given the same objects build equal
 * states with equal {@link #hash()}es.
 *
 * @param mode     the cluster's effective forward mode
 * @param node     this node
 * @param hashSeed Maglev seed shared by every node (DSR); part of the state because changing it changes backend choice,
 *                 and the only way it reaches a programmer (which reprograms what depends on it when it changes)
 * @param services every LoadBalancer Service port with a VIP
 */
public record NodeState(ForwardMode mode, NodeInfo node, long hashSeed, List<ServicePort> services) {

    public NodeState {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(node, "node");
        services = services.stream().sorted().toList();
        for (int i = 1; i < services.size(); i++) {
            if (services.get(i - 1).key().equals(services.get(i).key())) {
                throw new IllegalArgumentException("two service ports claim " + services.get(i).key() + ": "
                        + services.get(i - 1).displayName() + " and " + services.get(i).displayName());
            }
        }
    }

    public static NodeState empty(ForwardMode mode, NodeInfo node, long hashSeed) {
        return new NodeState(mode, node, hashSeed, List.of());
    }

    /** Number of backends over all service ports (the NodeDataplane status {@code endpoints}). */
    public int backendCount() {
        return services.stream().mapToInt(s -> s.backends().size()).sum();
    }

    /**
     * Stable hash of the desired state (NodeDataplane {@code status.rulesetHash}): the first 16 hex digits of a
     * SHA-256 over a canonical text, independent of JVM, object order and map iteration order.
     */
    public String hash() {
        StringBuilder canonical = new StringBuilder(64 + services.size() * 64);
        canonical.append("mode=").append(mode.wireName()).append('\n')
                .append("node=").append(node.name()).append(' ').append(node.address().getHostAddress()).append('\n')
                .append("seed=").append(Long.toUnsignedString(hashSeed)).append('\n');
        for (ServicePort s : services) {
            canonical.append(s.key()).append(' ').append(s.displayName()).append(s.localOnly() ? " local" : " cluster");
            for (Backend b : s.backends()) {
                canonical.append(' ').append(b.endpoint()).append('@').append(b.nodeName()).append(b.local() ? "*" : "");
            }
            for (Backend b : s.draining()) {
                canonical.append(" ~").append(b.endpoint()).append('@').append(b.nodeName()).append(b.local() ? "*" : "");
            }
            if (!s.policy().equals(ServicePort.Policy.OPEN)) {
                canonical.append(' ').append(s.policy().canonical());
            }
            canonical.append('\n');
        }
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(canonical.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
