package io.lbmode.datapath.model;

import java.net.InetAddress;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * One (VIP, protocol, port) of a LoadBalancer Service, with the backends this node may send it to.
 *
 * @param namespace Service namespace
 * @param name      Service name
 * @param portName  {@code spec.ports[].name}; empty for an unnamed single port
 * @param protocol  TCP or UDP
 * @param vip       {@code status.loadBalancer.ingress[].ip}, IPv4 or IPv6
 * @param port      {@code spec.ports[].port}
 * @param localOnly {@code externalTrafficPolicy: Local}: only local backends, and the client address is kept (never SNAT)
 * @param backends  sorted, distinct, of the VIP's family; where new connections go; empty means the VIP port rejects connections
 *                  (TCP reset / ICMP unreachable)
 * @param draining  serving-but-terminating endpoints while ready ones exist: no new connections, but established ones
 *                  may finish (kube-proxy's graceful termination); sorted, distinct, none also in {@code backends}
 * @param policy    who may connect and whether a client sticks to one backend
 */
public record ServicePort(String namespace, String name, String portName, Protocol protocol, InetAddress vip, int port,
                          boolean localOnly, List<Backend> backends, List<Backend> draining, Policy policy)
        implements Comparable<ServicePort> {
    private static final Comparator<ServicePort> ORDER = Comparator.comparing(ServicePort::vip, Addresses.ORDER)
            .thenComparing(ServicePort::protocol).thenComparingInt(ServicePort::port)
            .thenComparing(ServicePort::namespace).thenComparing(ServicePort::name).thenComparing(ServicePort::portName);

    public ServicePort {
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(portName, "portName");
        Objects.requireNonNull(protocol, "protocol");
        Objects.requireNonNull(vip, "vip");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("service " + namespace + "/" + name + ": port must be 1-65535, not " + port);
        }
        Objects.requireNonNull(policy, "policy");
        IpFamily family = IpFamily.of(vip);
        if (backends.stream().anyMatch(b -> b.family() != family) || draining.stream().anyMatch(b -> b.family() != family)) {
            throw new IllegalArgumentException("service " + namespace + "/" + name + ": a " + family.kubernetesName()
                    + " VIP's backends must be " + family.kubernetesName() + " too");
        }
        backends = backends.stream().distinct().sorted().toList();
        List<Backend> active = backends;
        draining = draining.stream().distinct().sorted().filter(b -> !active.contains(b)).toList();
    }

    /** A port with no draining endpoints and no policy (everyone may connect, no affinity). */
    public ServicePort(String namespace, String name, String portName, Protocol protocol, InetAddress vip, int port,
                       boolean localOnly, List<Backend> backends) {
        this(namespace, name, portName, protocol, vip, port, localOnly, backends, List.of(), Policy.OPEN);
    }

    public IpFamily family() {
        return IpFamily.of(vip);
    }

    /**
     * The source ranges this VIP applies: the policy's prefixes of the VIP's own family (a client of an IPv6 VIP is
     * never in an IPv4 prefix). A restricted policy ({@link Policy#restricted}) with none of them admits no client on
     * this VIP: a Service whose ranges are all IPv4 is closed on its IPv6 VIP, never open.
     */
    public List<Cidr> sourceRanges() {
        IpFamily family = family();
        return policy.sourceRanges().stream().filter(c -> c.family() == family).toList();
    }

    /** The kernel-facing identity: what packets are matched on. */
    public Key key() {
        return new Key(vip, protocol, port);
    }

    @Override
    public int compareTo(ServicePort o) {
        return ORDER.compare(this, o);
    }

    /** {@code default/web:http}. */
    public String displayName() {
        return namespace + "/" + name + (portName.isEmpty() ? "" : ":" + portName);
    }

    /**
     * Who may reach the port and how clients map to backends.
     *
     * @param sourceRanges           {@code spec.loadBalancerSourceRanges} (or the older annotation): only clients in
     *                               these prefixes may connect; empty means everyone. IPv4 and IPv6 prefixes, sorted
     *                               (IPv4 first), distinct; each VIP applies those of its family
     *                               ({@link ServicePort#sourceRanges}).
     * @param affinityTimeoutSeconds {@code sessionAffinity: ClientIP}: a client keeps its backend until it has been idle
     *                               this long ({@code sessionAffinityConfig.clientIP.timeoutSeconds}, default 10800);
     *                               0 means no affinity
     */
    public record Policy(List<Cidr> sourceRanges, int affinityTimeoutSeconds) {
        public static final Policy OPEN = new Policy(List.of(), 0);
        /** Kubernetes' default {@code sessionAffinityConfig.clientIP.timeoutSeconds}. */
        public static final int DEFAULT_AFFINITY_SECONDS = 10800;
        /** Kubernetes' maximum {@code sessionAffinityConfig.clientIP.timeoutSeconds} (one day). */
        public static final int MAX_AFFINITY_SECONDS = 86400;

        public Policy {
            sourceRanges = sourceRanges.stream().distinct().sorted().toList();
            if (affinityTimeoutSeconds < 0 || affinityTimeoutSeconds > MAX_AFFINITY_SECONDS) {
                throw new IllegalArgumentException("affinity timeout must be 0-" + MAX_AFFINITY_SECONDS + " seconds, not "
                        + affinityTimeoutSeconds);
            }
        }

        public boolean restricted() {
            return !sourceRanges.isEmpty();
        }

        public boolean affinity() {
            return affinityTimeoutSeconds > 0;
        }

        /** Canonical text for the state hash: {@code ranges=a/n,b/m affinity=10800}. */
        String canonical() {
            return "ranges=" + String.join(",", sourceRanges.stream().map(Cidr::toString).toList())
                    + " affinity=" + affinityTimeoutSeconds;
        }
    }

    /** What a packet is matched on: destination VIP, protocol and port. */
    public record Key(InetAddress vip, Protocol protocol, int port) implements Comparable<Key> {
        private static final Comparator<Key> ORDER = Comparator.comparing(Key::vip, Addresses.ORDER)
                .thenComparing(Key::protocol).thenComparingInt(Key::port);

        public Key {
            Objects.requireNonNull(vip, "vip");
            Objects.requireNonNull(protocol, "protocol");
        }

        @Override
        public int compareTo(Key o) {
            return ORDER.compare(this, o);
        }

        @Override
        public String toString() {
            // IPv4 as before (the state hash of IPv4-only nodes does not change); IPv6 bracketed.
            return (vip instanceof java.net.Inet4Address ? vip.getHostAddress() : "[" + Addresses.text(vip) + "]") + ":" + port
                    + "/" + protocol.wireName();
        }
    }
}
