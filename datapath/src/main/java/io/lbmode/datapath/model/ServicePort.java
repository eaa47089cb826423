package io.lbmode.datapath.model;

import java.net.Inet4Address;
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
 * @param vip       {@code status.loadBalancer.ingress[].ip}
 * @param port      {@code spec.ports[].port}
 * @param localOnly {@code externalTrafficPolicy: Local}: only local backends, and the client address is kept (never SNAT)
 * @param backends  sorted, distinct; empty means the VIP port rejects connections (TCP reset / ICMP unreachable)
 */
public record ServicePort(String namespace, String name, String portName, Protocol protocol, Inet4Address vip, int port,
                          boolean localOnly, List<Backend> backends) implements Comparable<ServicePort> {
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
        backends = backends.stream().distinct().sorted().toList();
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

    /** What a packet is matched on: destination VIP, protocol and port. */
    public record Key(Inet4Address vip, Protocol protocol, int port) implements Comparable<Key> {
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
            return vip.getHostAddress() + ":" + port + "/" + protocol.wireName();
        }
    }
}
