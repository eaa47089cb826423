package io.lbmode.datapath.model;

import io.lbmode.crds.cluster.v1.ForwardMode;
import java.util.ArrayList;
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
        services = SortedServicePorts.of(services);
    }

    public static NodeState empty(ForwardMode mode, NodeInfo node, long hashSeed) {
        return new NodeState(mode, node, hashSeed, List.of());
    }

    /** Number of backends over all service ports (the NodeDataplane status {@code endpoints}); counted once per state. */
    public int backendCount() {
        return totals().backends();
    }

    /** Whether any service port has a VIP of {@code family}. */
    public boolean hasPortsOf(IpFamily family) {
        return family == IpFamily.IPV6 ? totals().ipv6Ports() > 0 : totals().ipv6Ports() < services.size();
    }

    private SortedServicePorts.Totals totals() {
        return ((SortedServicePorts) services).totals();
    }

    /**
     * Stable hash of the desired state (NodeDataplane {@code status.rulesetHash}): the first 16 hex digits of a
     * SHA-256 over the mode, the node, the seed, the number of service ports and the sum of their digests
     * ({@link SortedServicePorts#digest}), independent of JVM, object order and map iteration order. A sum, so that
     * the desired state kept up to date by {@link DesiredState} updates it by the changed ports alone.
     */
    public String hash() {
        String canonical = "mode=" + mode.wireName() + "\n"
                + "node=" + node.name() + ' ' + node.address().getHostAddress() + "\n"
                + "seed=" + Long.toUnsignedString(hashSeed) + "\n"
                + "ports=" + services.size() + " sum=" + Long.toHexString(totals().digests()) + "\n";
        return HexFormat.of().formatHex(SortedServicePorts.sha256(canonical), 0, 8);
    }

    /**
     * The service ports that differ between {@code older} and this state: the old and the new version of each
     * (a port only in one of them is in one list only), both sorted. Ports that are the same object in both (all a
     * {@link DesiredState} did not rebuild) are passed over without a comparison, so a change costs one reference
     * comparison per port and work for the changed ones only.
     */
    public Changes changesFrom(NodeState older) {
        List<ServicePort> before = new ArrayList<>();
        List<ServicePort> after = new ArrayList<>();
        List<ServicePort> a = older.services();
        List<ServicePort> b = services;
        int i = 0;
        int j = 0;
        while (i < a.size() || j < b.size()) {
            if (i < a.size() && j < b.size() && a.get(i) == b.get(j)) {
                i++;
                j++;
                continue;
            }
            int c = i >= a.size() ? 1 : j >= b.size() ? -1 : a.get(i).key().compareTo(b.get(j).key());
            if (c == 0) {
                if (!a.get(i).equals(b.get(j))) {
                    before.add(a.get(i));
                    after.add(b.get(j));
                }
                i++;
                j++;
            } else if (c < 0) {
                before.add(a.get(i++));
            } else {
                after.add(b.get(j++));
            }
        }
        return new Changes(before, after);
    }

    /**
     * What changed between two states.
     *
     * @param before the old version of each changed or removed port
     * @param after  the new version of each changed or added port
     */
    public record Changes(List<ServicePort> before, List<ServicePort> after) {
        public Changes {
            before = List.copyOf(before);
            after = List.copyOf(after);
        }

        public boolean isEmpty() {
            return before.isEmpty() && after.isEmpty();
        }
    }
}
