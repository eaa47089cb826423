package io.lbmode.datapath.bench;

import io.lbmode.datapath.model.Addresses;
import java.net.Inet4Address;

/**
 * The baseline: kube-proxy's nftables layout in the form that matters for cost. A {@code service-ips} verdict map
 * {@code VIP . proto . port : goto svc-N}; per service a chain with the masquerade mark and
 * {@code numgen random mod K vmap { i : goto ep-N-i }}; per endpoint a chain with its {@code dnat}.
 */
final class KubeProxyLayout {
    private static final int ENDPOINTS = 4;

    private KubeProxyLayout() {
    }

    static Inet4Address vip(int i) {
        return Addresses.ipv4("172." + (16 + (i >> 16)) + "." + ((i >> 8) & 0xff) + "." + (i & 0xff));
    }

    static Inet4Address endpoint(int service, int e, int generation) {
        int id = service * ENDPOINTS + e;
        return Addresses.ipv4("10." + (100 + generation % 100) + "." + ((id >> 8) & 0xff) + "." + (id & 0xff));
    }

    /** One transaction creating (or, with {@code replace}, atomically replacing) the table for n services. */
    static String full(int n, int generation, boolean replace) {
        StringBuilder s = new StringBuilder(n * 600);
        s.append("add table ip kp\n");
        if (replace) {
            s.append("delete table ip kp\nadd table ip kp\n");
        }
        s.append("add map ip kp service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }\n");
        s.append("add chain ip kp nat-prerouting { type nat hook prerouting priority -100; policy accept; }\n");
        s.append("add rule ip kp nat-prerouting ip daddr . meta l4proto . th dport vmap @service-ips\n");
        s.append("add chain ip kp nat-postrouting { type nat hook postrouting priority 100; policy accept; }\n");
        s.append("add rule ip kp nat-postrouting meta mark & 0x4000 == 0x4000 masquerade fully-random\n");
        for (int i = 0; i < n; i++) {
            service(s, i, generation);
        }
        return s.toString();
    }

    private static void service(StringBuilder s, int i, int generation) {
        String svc = "svc-" + i;
        for (int e = 0; e < ENDPOINTS; e++) { // endpoint chains first: the service's vmap jumps to them
            endpointChain(s, i, e, generation, endpoint(i, e, generation));
        }
        s.append("add chain ip kp ").append(svc).append('\n');
        s.append("add rule ip kp ").append(svc).append(" meta mark set meta mark | 0x4000\n");
        s.append("add rule ip kp ").append(svc).append(" numgen random mod ").append(ENDPOINTS).append(" vmap { ");
        for (int e = 0; e < ENDPOINTS; e++) {
            s.append(e == 0 ? "" : ", ").append(e).append(" : goto ep-").append(i).append('-').append(e).append('-').append(generation);
        }
        s.append(" }\n");
        s.append("add element ip kp service-ips { ").append(vip(i).getHostAddress()).append(" . tcp . 80 : goto ").append(svc).append(" }\n");
    }

    private static void endpointChain(StringBuilder s, int i, int e, int generation, Inet4Address ip) {
        String ep = "ep-" + i + "-" + e + "-" + generation;
        s.append("add chain ip kp ").append(ep).append('\n');
        s.append("add rule ip kp ").append(ep).append(" ip saddr ").append(ip.getHostAddress()).append(" meta mark set meta mark | 0x4000\n");
        s.append("add rule ip kp ").append(ep).append(" meta l4proto tcp dnat to ").append(ip.getHostAddress()).append(":8080\n");
    }

    /** What kube-proxy sends when one endpoint of service {@code i} is replaced: new endpoint chain, rewritten service chain, old chain deleted. */
    static String endpointChange(int i, int base, int generation) {
        StringBuilder s = new StringBuilder();
        String svc = "svc-" + i;
        endpointChain(s, i, 0, generation, endpoint(i, 0, generation));
        s.append("flush chain ip kp ").append(svc).append('\n');
        s.append("add rule ip kp ").append(svc).append(" meta mark set meta mark | 0x4000\n");
        s.append("add rule ip kp ").append(svc).append(" numgen random mod ").append(ENDPOINTS).append(" vmap { 0 : goto ep-")
                .append(i).append("-0-").append(generation);
        for (int e = 1; e < ENDPOINTS; e++) {
            s.append(", ").append(e).append(" : goto ep-").append(i).append('-').append(e).append('-').append(base);
        }
        s.append(" }\n");
        s.append("delete chain ip kp ep-").append(i).append("-0-").append(base).append('\n');
        return s.toString();
    }

    static String serviceAdd(int i) {
        StringBuilder s = new StringBuilder();
        service(s, i, 0);
        return s.toString();
    }
}
