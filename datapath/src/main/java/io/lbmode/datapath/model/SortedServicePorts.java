package io.lbmode.datapath.model;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.List;
import java.util.RandomAccess;

/**
 * The service ports of a {@link NodeState}: immutable, sorted, at most one per {@link ServicePort.Key}, with the sum
 * of their {@linkplain #digest digests} (the state hash) and their backend count. {@link DesiredState} hands over
 * its ports already sorted with the digest sum it keeps up to date, so a state after one change costs an array copy,
 * not a sort and a hash of every port; any other list is sorted, checked and summed here.
 */
final class SortedServicePorts extends AbstractList<ServicePort> implements RandomAccess {
    private final ServicePort[] ports;
    /** Sum of the ports' digests; computed on first use when the creator did not know it. */
    private long digestSum;
    private boolean digestKnown;
    private int backendCount = -1;

    private SortedServicePorts(ServicePort[] ports, long digestSum, boolean digestKnown) {
        this.ports = ports;
        this.digestSum = digestSum;
        this.digestKnown = digestKnown;
    }

    /** {@code sorted} must be sorted with distinct keys and summing to {@code digestSum}: {@link DesiredState} keeps them so. */
    static SortedServicePorts trusted(ServicePort[] sorted, long digestSum) {
        return new SortedServicePorts(sorted, digestSum, true);
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
        return new SortedServicePorts(sorted, 0, false);
    }

    @Override
    public ServicePort get(int index) {
        return ports[index];
    }

    @Override
    public int size() {
        return ports.length;
    }

    synchronized long digestSum() {
        if (!digestKnown) {
            long sum = 0;
            for (ServicePort p : ports) {
                sum += digest(p);
            }
            digestSum = sum;
            digestKnown = true;
        }
        return digestSum;
    }

    synchronized int backendCount() {
        if (backendCount < 0) {
            int n = 0;
            for (ServicePort p : ports) {
                n += p.backends().size();
            }
            backendCount = n;
        }
        return backendCount;
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
