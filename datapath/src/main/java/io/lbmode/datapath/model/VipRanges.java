package io.lbmode.datapath.model;

import java.net.Inet4Address;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Which addresses a Service VIP may have on this cluster: the Cluster's load-balancer address pools and its configured
 * VIPs (the datapath ConfigMap's {@code vipRanges}), never inside the cluster's own pod or service ranges. An address
 * found in {@code status.loadBalancer.ingress} outside them is refused: anyone who may write a Service's status could
 * otherwise make every node capture traffic for 8.8.8.8 or for the cluster's own 10.96.0.1, also the node's own
 * traffic through the output hook (the CVE-2020-8554 class).
 *
 * @param allowed  address pools and VIPs; empty allows nothing
 * @param internal the cluster's pod and service ranges: refused even when a pool overlaps them
 */
public record VipRanges(List<Range> allowed, List<Cidr> internal) {

    /** An inclusive range of IPv4 addresses ({@code a.b.c.d/n}, {@code a.b.c.d-e.f.g.h} or one address). */
    public record Range(long first, long last, String text) {
        public Range {
            Objects.requireNonNull(text, "text");
            if (first > last) {
                throw new IllegalArgumentException("range " + text + " ends before it starts");
            }
        }

        /** Parses the forms the Cluster's {@code addressPools[].addresses[]} allow; empty for anything else. */
        public static Optional<Range> parse(String text) {
            String t = text == null ? "" : text.trim();
            int dash = t.indexOf('-');
            if (dash >= 0) {
                Optional<Inet4Address> a = Addresses.parseIpv4(t.substring(0, dash));
                Optional<Inet4Address> b = Addresses.parseIpv4(t.substring(dash + 1));
                if (a.isEmpty() || b.isEmpty() || Addresses.toLong(a.get()) > Addresses.toLong(b.get())) {
                    return Optional.empty();
                }
                return Optional.of(new Range(Addresses.toLong(a.get()), Addresses.toLong(b.get()), t));
            }
            return Cidr.parse(t).map(c -> {
                long start = Addresses.toLong(c.network());
                return new Range(start, start + (1L << (32 - c.length())) - 1, t);
            });
        }

        boolean contains(Inet4Address address) {
            long a = Addresses.toLong(address);
            return a >= first && a <= last;
        }
    }

    public VipRanges {
        allowed = List.copyOf(allowed);
        internal = List.copyOf(internal);
    }

    /**
     * From the ConfigMap's texts; entries that can't be read are left out (they allow nothing: the operator validated
     * the Cluster, so only a hand-edited ConfigMap has them).
     */
    public static VipRanges of(List<String> vipRanges, List<String> podCidrs, List<String> serviceCidrs) {
        List<Range> allowed = new ArrayList<>();
        vipRanges.forEach(r -> Range.parse(r).ifPresent(allowed::add));
        List<Cidr> internal = new ArrayList<>();
        podCidrs.forEach(c -> Cidr.parse(c).ifPresent(internal::add));
        serviceCidrs.forEach(c -> Cidr.parse(c).ifPresent(internal::add));
        return new VipRanges(allowed, internal);
    }

    /** Why {@code vip} may not be programmed; empty when it may. */
    public Optional<String> refusal(Inet4Address vip) {
        for (Cidr c : internal) {
            if (c.contains(vip)) {
                return Optional.of("VIP " + vip.getHostAddress() + " lies in the cluster's own pod or service range " + c
                        + ": refused");
            }
        }
        if (allowed.stream().anyMatch(r -> r.contains(vip))) {
            return Optional.empty();
        }
        return Optional.of("VIP " + vip.getHostAddress() + " is outside the Cluster's load-balancer address pools and VIPs"
                + (allowed.isEmpty() ? " (none configured)" : " (" + String.join(", ", allowed.stream().map(Range::text).toList()) + ")")
                + ": refused; add it to spec.loadBalancer.addressPools of the Cluster");
    }
}
