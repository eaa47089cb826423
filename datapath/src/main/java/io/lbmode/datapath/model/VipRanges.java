package io.lbmode.datapath.model;

import io.lbmode.net.AsciiDigits;
import java.math.BigInteger;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Which addresses a Service VIP may have on this cluster: the Cluster's load-balancer address pools and its configured
 * VIPs (the datapath ConfigMap's {@code vipRanges}), never inside the cluster's own pod or service ranges. An address
 * found in {@code status.loadBalancer.ingress} outside them is refused: anyone who may write a Service's status could
 * otherwise make every node capture traffic for 8.8.8.8 or for the cluster's own 10.96.0.1, also the node's own
 * traffic through the output hook (the CVE-2020-8554 class). IPv4 and IPv6 alike (a dual-stack Cluster has IPv6 pool
 * ranges and an IPv6 service range); a range only ever holds addresses of its own family.
 *
 * @param allowed  address pools and VIPs; empty allows nothing
 * @param internal the cluster's pod and service ranges: refused even when a pool overlaps them
 */
public record VipRanges(List<Range> allowed, List<Range> internal) {

    /**
     * An inclusive range of addresses of one family ({@code a.b.c.d/n}, {@code a.b.c.d-e.f.g.h}, one address, and the
     * same forms in IPv6), as unsigned numbers.
     */
    public record Range(IpFamily family, BigInteger first, BigInteger last, String text) {
        public Range {
            Objects.requireNonNull(family, "family");
            Objects.requireNonNull(text, "text");
            if (first.compareTo(last) > 0) {
                throw new IllegalArgumentException("range " + text + " ends before it starts");
            }
        }

        /** Parses the forms the Cluster's {@code addressPools[].addresses[]} allow; empty for anything else. */
        public static Optional<Range> parse(String text) {
            String t = text == null ? "" : text.trim();
            int dash = t.indexOf('-');
            if (dash >= 0) {
                Optional<InetAddress> a = Addresses.parse(t.substring(0, dash));
                Optional<InetAddress> b = Addresses.parse(t.substring(dash + 1));
                if (a.isEmpty() || b.isEmpty() || IpFamily.of(a.get()) != IpFamily.of(b.get())
                        || value(a.get()).compareTo(value(b.get())) > 0) {
                    return Optional.empty();
                }
                return Optional.of(new Range(IpFamily.of(a.get()), value(a.get()), value(b.get()), t));
            }
            int slash = t.indexOf('/');
            Optional<InetAddress> base = Addresses.parse(slash < 0 ? t : t.substring(0, slash));
            if (base.isEmpty()) {
                return Optional.empty();
            }
            int bits = base.get().getAddress().length * 8;
            String len = slash < 0 ? Integer.toString(bits) : t.substring(slash + 1);
            if (len.length() > 3 || !AsciiDigits.only(len) || Integer.parseInt(len) > bits) {
                return Optional.empty();
            }
            BigInteger hostMask = BigInteger.ONE.shiftLeft(bits - Integer.parseInt(len)).subtract(BigInteger.ONE);
            BigInteger network = value(base.get()).andNot(hostMask); // host bits cleared, as kube-proxy and nft do
            return Optional.of(new Range(IpFamily.of(base.get()), network, network.or(hostMask), t));
        }

        boolean contains(InetAddress address) {
            BigInteger a = value(address);
            return IpFamily.of(address) == family && a.compareTo(first) >= 0 && a.compareTo(last) <= 0;
        }

        private static BigInteger value(InetAddress address) {
            return new BigInteger(1, address.getAddress());
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
        List<Range> internal = new ArrayList<>();
        podCidrs.forEach(c -> Range.parse(c).ifPresent(internal::add));
        serviceCidrs.forEach(c -> Range.parse(c).ifPresent(internal::add));
        return new VipRanges(allowed, internal);
    }

    /** Why {@code vip} may not be programmed; empty when it may. */
    public Optional<String> refusal(InetAddress vip) {
        String text = Addresses.text(vip);
        for (Range c : internal) {
            if (c.contains(vip)) {
                return Optional.of("VIP " + text + " lies in the cluster's own pod or service range " + c.text()
                        + ": refused");
            }
        }
        if (allowed.stream().anyMatch(r -> r.contains(vip))) {
            return Optional.empty();
        }
        return Optional.of("VIP " + text + " is outside the Cluster's load-balancer address pools and VIPs"
                + (allowed.isEmpty() ? " (none configured)" : " (" + String.join(", ", allowed.stream().map(Range::text).toList()) + ")")
                + ": refused; add it to spec.loadBalancer.addressPools of the Cluster");
    }
}
