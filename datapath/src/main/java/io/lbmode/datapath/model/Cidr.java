package io.lbmode.datapath.model;

import io.lbmode.net.AsciiDigits;
import java.net.InetAddress;
import java.util.Comparator;
import java.util.Objects;
import java.util.Optional;

/**
 * An IPv4 or IPv6 prefix such as {@code 203.0.113.0/24} or {@code 2001:db8::/32}, as
 * {@code spec.loadBalancerSourceRanges} lists them.
 *
 * @param network the prefix's first address (host bits are cleared: {@code 203.0.113.7/24} becomes {@code 203.0.113.0/24}
 *                and {@code 2001:db8::7/64} becomes {@code 2001:db8::/64}, as kube-proxy and nft treat them)
 * @param length  prefix length, 0-32 for IPv4, 0-128 for IPv6
 */
public record Cidr(InetAddress network, int length) implements Comparable<Cidr> {
    /** IPv4 prefixes first, then IPv6 ones ({@link Addresses#ORDER}), each by network then length. */
    private static final Comparator<Cidr> ORDER = Comparator.comparing(Cidr::network, Addresses.ORDER)
            .thenComparingInt(Cidr::length);

    public Cidr {
        Objects.requireNonNull(network, "network");
        int bits = bits(IpFamily.of(network));
        if (length < 0 || length > bits) {
            throw new IllegalArgumentException("prefix length of an " + IpFamily.of(network).kubernetesName()
                    + " prefix must be 0-" + bits + ", not " + length);
        }
        byte[] bytes = network.getAddress();
        byte[] masked = masked(bytes, length);
        if (!java.util.Arrays.equals(bytes, masked)) {
            network = Addresses.ofBytes(masked); // an IPv6 prefix stays IPv6, also within ::ffff:0:0/96
        }
    }

    /**
     * Parses {@code a.b.c.d/n}, {@code x:y::/n} or a bare address (a /32 or /128); empty for anything else (a zone, an
     * IPv4-mapped form, a hostname, a length beyond the family's).
     */
    public static Optional<Cidr> parse(String text) {
        if (text == null) {
            return Optional.empty();
        }
        String t = text.trim();
        int slash = t.indexOf('/');
        Optional<InetAddress> address = Addresses.parse(slash < 0 ? t : t.substring(0, slash));
        if (address.isEmpty()) {
            return Optional.empty();
        }
        int bits = bits(IpFamily.of(address.get()));
        if (slash < 0) {
            return Optional.of(new Cidr(address.get(), bits));
        }
        String len = t.substring(slash + 1);
        if (len.length() > 3 || !AsciiDigits.only(len) || Integer.parseInt(len) > bits) {
            return Optional.empty();
        }
        return Optional.of(new Cidr(address.get(), Integer.parseInt(len)));
    }

    public IpFamily family() {
        return IpFamily.of(network);
    }

    /** Whether the prefix is a single address (/32, /128). */
    public boolean host() {
        return length == bits(family());
    }

    /** Whether {@code address} lies in the prefix; never for an address of the other family. */
    public boolean contains(InetAddress address) {
        return IpFamily.of(address) == family() && java.util.Arrays.equals(masked(address.getAddress(), length), network.getAddress());
    }

    @Override
    public int compareTo(Cidr o) {
        return ORDER.compare(this, o);
    }

    /** {@code 203.0.113.0/24}, {@code 2001:db8::/32} (RFC 5952, as nft lists it). */
    @Override
    public String toString() {
        return Addresses.text(network) + "/" + length;
    }

    private static int bits(IpFamily family) {
        return family == IpFamily.IPV4 ? 32 : 128;
    }

    private static byte[] masked(byte[] address, int length) {
        byte[] out = address.clone();
        for (int i = 0; i < out.length; i++) {
            int keep = Math.clamp(length - 8L * i, 0, 8);
            out[i] &= (byte) (0xff00 >> keep);
        }
        return out;
    }
}
