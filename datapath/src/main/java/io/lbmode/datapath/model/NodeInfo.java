package io.lbmode.datapath.model;

import java.net.Inet4Address;
import java.util.Objects;

/**
 * The node this agent programs.
 *
 * @param name    Kubernetes node name
 * @param address the node's InternalIP (the address backends see in SNAT mode); {@link #UNKNOWN_ADDRESS} when the
 *                Node object is not known yet
 */
public record NodeInfo(String name, Inet4Address address) {
    public static final Inet4Address UNKNOWN_ADDRESS = Addresses.ipv4("0.0.0.0");

    public NodeInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(address, "address");
    }
}
