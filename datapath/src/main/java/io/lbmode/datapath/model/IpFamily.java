package io.lbmode.datapath.model;

import java.net.Inet4Address;
import java.net.InetAddress;

/** The address family of a VIP or backend; a Service port only ever sends to backends of its VIP's family. */
public enum IpFamily {
    IPV4, IPV6;

    public static IpFamily of(InetAddress address) {
        return address instanceof Inet4Address ? IPV4 : IPV6;
    }

    /** Kubernetes' spelling ({@code spec.ipFamilies}, EndpointSlice {@code addressType}). */
    public String kubernetesName() {
        return this == IPV4 ? "IPv4" : "IPv6";
    }
}
