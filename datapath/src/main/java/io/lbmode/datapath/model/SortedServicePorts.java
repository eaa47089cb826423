package io.lbmode.datapath.model;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.List;
import java.util.RandomAccess;

/**
 * The service ports of a {@link NodeState}: immutable, sorted, at most one per {@link ServicePort.Key}, with their
 * {@link Totals} (the sum of their digests for the state hash, backends, IPv6 ports). {@link DesiredState} hands over
 * its ports already sorted with the totals it keeps up to date, so a state after one change costs an array copy, not
 * a sort and a pass over every port; any other list is sorted, checked and summed here.
 */
final class SortedServicePorts extends AbstractList<ServicePort> implements RandomAccess {
    private final ServicePort[] ports;
    /** What {@link DesiredState} keeps summed up as ports come and go; computed on first use for any other list. */
    private Totals totals;

    /**
     * Sums over the ports, kept up to date by {@link DesiredState} port by port so that a new state after one change
     * costs no pass over every port.
     *
     * @param digests   sum of the ports' {@linkplain #digest digests}: the state hash
     * @param backends  number of backends
     * @param ipv6Ports number of ports with an IPv6 VIP
     */
    record Totals(long digests, int backends, int ipv6Ports) {
        static final Totals NONE = new Totals(0, 0, 0);

        Totals plus(ServicePort port, long digest) {
            return new Totals(digests + digest, backends + port.backends().size(), ipv6Ports + (port.family() == IpFamily.IPV6 ? 1 : 0));
        }

        Totals minus(ServicePort port, long digest) {
            return new Totals(digests - digest, backends - port.backends().size(), ipv6Ports - (port.family() == IpFamily.IPV6 ? 1 : 0));
        }
    }

    private SortedServicePorts(ServicePort[] ports, Totals totals) {
        this.ports = ports;
        this.totals = totals;
    }

    /** {@code sorted} must be sorted with distinct keys, and {@code totals} its totals: {@link DesiredState} keeps them so. */
    static SortedServicePorts trusted(ServicePort[] sorted, Totals totals) {
        return new SortedServicePorts(sorted, totals);
    }

    /** Sorts {@code ports}; two with one key are refused. */
    static SortedServicePorts of(List<ServicePort> ports) {
        if (ports instanceof SortedServicePorts s) {
            return s;
        }
        ServicePort[] sorted = ports.toArray(ServicePort[]::new);
        Arrays.sort(sorted);
        for (int i = 1; i < sorted.length; i++) {
            if (sorted[i - 1].key().equals(sorted[i].key())) {
                throw new IllegalArgumentException("two service ports claim " + sorted[i].key() + ": "
                        + sorted[i - 1].displayName() + " and " + sorted[i].displayName());
            }
        }
        return new SortedServicePorts(sorted, null);
    }

    @Override
    public ServicePort get(int index) {
        return ports[index];
    }

    @Override
    public int size() {
        return ports.length;
    }

    synchronized Totals totals() {
        if (totals == null) {
            Totals t = Totals.NONE;
            for (ServicePort p : ports) {
                t = t.plus(p, digest(p));
            }
            totals = t;
        }
        return totals;
    }

    /**
     * A port's part of the state hash: the first 8 bytes of a SHA-256 over its canonical text (key, Service, traffic
     * policy, backends with their nodes, draining ones, source ranges and affinity), independent of JVM and order.
     * The state hash adds these up, so that a change of one port changes the sum by that port's parts only.
     */
    static long digest(ServicePort s) {
        StringBuilder canonical = new StringBuilder(128);
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
        byte[] d = sha256(canonical.toString());
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (d[i] & 0xff);
        }
        return v;
    }

    static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
