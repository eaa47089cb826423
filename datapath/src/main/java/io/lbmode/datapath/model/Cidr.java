package io.lbmode.datapath.model;

import java.net.Inet4Address;
import java.util.Comparator;
import java.util.Objects;
import java.util.Optional;

/**
 * An IPv4 prefix such as {@code 203.0.113.0/24}, as {@code spec.loadBalancerSourceRanges} lists them.
 *
 * @param network the prefix's first address (host bits are cleared: {@code 203.0.113.7/24} becomes {@code 203.0.113.0/24},
 *                as kube-proxy and nft treat it)
 * @param length  prefix length, 0-32
 */
public record Cidr(Inet4Address network, int length) implements Comparable<Cidr> {
    private static final Comparator<Cidr> ORDER = Comparator.comparing(Cidr::network, Addresses.ORDER)
            .thenComparingInt(Cidr::length);

    public Cidr {
        Objects.requireNonNull(network, "network");
        if (length < 0 || length > 32) {
            throw new IllegalArgumentException("prefix length must be 0-32, not " + length);
        }
        long mask = length == 0 ? 0 : (0xffffffffL << (32 - length)) & 0xffffffffL;
        long masked = Addresses.toLong(network) & mask;
        if (masked != Addresses.toLong(network)) {
            network = Addresses.ipv4(((masked >>> 24) & 0xff) + "." + ((masked >>> 16) & 0xff) + "."
                    + ((masked >>> 8) & 0xff) + "." + (masked & 0xff));
        }
    }

    /** Parses {@code a.b.c.d/n} or a bare address (a /32); empty for anything else. */
    public static Optional<Cidr> parse(String text) {
        if (text == null) {
            return Optional.empty();
        }
        String t = text.trim();
        int slash = t.indexOf('/');
        Optional<Inet4Address> address = Addresses.parseIpv4(slash < 0 ? t : t.substring(0, slash));
        if (address.isEmpty()) {
            return Optional.empty();
        }
        if (slash < 0) {
            return Optional.of(new Cidr(address.get(), 32));
        }
        String len = t.substring(slash + 1);
        if (len.isEmpty() || len.length() > 2 || !len.chars().allMatch(Character::isDigit) || Integer.parseInt(len) > 32) {
            return Optional.empty();
        }
        return Optional.of(new Cidr(address.get(), Integer.parseInt(len)));
    }

    public boolean contains(Inet4Address address) {
        long mask = length == 0 ? 0 : (0xffffffffL << (32 - length)) & 0xffffffffL;
        return (Addresses.toLong(address) & mask) == Addresses.toLong(network);
    }

    @Override
    public int compareTo(Cidr o) {
        return ORDER.compare(this, o);
    }

    @Override
    public String toString() {
        return network.getHostAddress() + "/" + length;
    }
}
