package io.lbmode.datapath.model;

import java.net.InetAddress;
import java.util.Comparator;
import java.util.Objects;

/**
 * One endpoint of a Service port.
 *
 * @param address  pod address
 * @param port     pod port (targetPort, resolved through the EndpointSlice when named)
 * @param nodeName node the pod runs on; empty when the EndpointSlice does not say
 * @param local    the pod runs on this agent's node
 */
public record Backend(InetAddress address, int port, String nodeName, boolean local) implements Comparable<Backend> {
    private static final Comparator<Backend> ORDER = Comparator.comparing(Backend::address, Addresses.ORDER)
            .thenComparingInt(Backend::port).thenComparing(Backend::nodeName);

    public Backend {
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(nodeName, "nodeName");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("backend port must be 1-65535, not " + port);
        }
    }

    @Override
    public int compareTo(Backend o) {
        return ORDER.compare(this, o);
    }

    /** {@code 10.244.1.2:8080}, {@code [fd00::2]:8080}. */
    public String endpoint() {
        return family() == IpFamily.IPV4 ? address.getHostAddress() + ":" + port : "[" + Addresses.text(address) + "]:" + port;
    }

    public IpFamily family() {
        return IpFamily.of(address);
    }
}
