package io.lbmode.datapath.model;

import io.lbmode.net.AsciiDigits;
import io.lbmode.net.Ipv6Text;
import java.math.BigInteger;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Comparator;
import java.util.Optional;

/**
 * IPv4 and IPv6 literal parsing without DNS lookups, one text form per address, and a numeric order so rendered
 * rules and hashes are stable (every IPv4 address sorts before every IPv6 one, so IPv4-only states keep their order).
 */
public final class Addresses {
    private Addresses() {
    }

    /** Numeric order: IPv4 addresses first (by value), then IPv6 ones (by value); InetAddress has none. */
    public static final Comparator<InetAddress> ORDER = Addresses::compare;

    private static int compare(InetAddress a, InetAddress b) {
        if (a instanceof Inet4Address a4 && b instanceof Inet4Address b4) {
            return Long.compare(toLong(a4), toLong(b4));
        }
        if (a instanceof Inet4Address != b instanceof Inet4Address) {
            return a instanceof Inet4Address ? -1 : 1;
        }
        return java.util.Arrays.compareUnsigned(a.getAddress(), b.getAddress());
    }

    /**
     * The one text form: dotted quad for IPv4; for IPv6 RFC 5952's (lower case, the longest run of two or more zero
     * groups as {@code ::}), which is how nft lists addresses, so rendered and listed rules compare as text.
     */
    public static String text(InetAddress address) {
        if (address instanceof Inet4Address) {
            return address.getHostAddress();
        }
        return Ipv6Text.of(new BigInteger(1, address.getAddress()));
    }

    /**
     * Parses an IPv6 literal (no zone, no IPv4-mapped form, ASCII hex digits only); empty for anything else (hostnames
     * are never resolved).
     */
    public static Optional<Inet6Address> parseIpv6(String text) {
        if (text == null) {
            return Optional.empty();
        }
        String t = text.trim();
        if (t.indexOf(':') < 0 || t.indexOf('%') >= 0 || !t.chars().allMatch(c -> AsciiDigits.isHex(c) || c == ':' || c == '.')) {
            return Optional.empty();
        }
        try {
            return InetAddress.ofLiteral(t) instanceof Inet6Address a ? Optional.of(a) : Optional.empty();
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** An IPv4 or IPv6 literal. */
    public static Optional<InetAddress> parse(String text) {
        Optional<Inet4Address> v4 = parseIpv4(text);
        return v4.isPresent() ? Optional.of(v4.get()) : parseIpv6(text).map(a -> a);
    }

    /** For constants and tests: parses either family or throws naming the text. */
    public static InetAddress ip(String text) {
        return parse(text).orElseThrow(() -> new IllegalArgumentException("not an IP address: '" + text + "'"));
    }

    /**
     * The address of {@code bytes}, its family told by their number alone: 4 bytes IPv4, 16 bytes IPv6. Unlike
     * {@link InetAddress#getByAddress(byte[])}, which returns an {@link Inet4Address} for the 16 bytes of an
     * IPv4-mapped {@code ::ffff:a.b.c.d}: bytes read from an IPv6 field (a map key, a masked prefix) stay IPv6.
     *
     * @throws IllegalArgumentException for any other length
     */
    public static InetAddress ofBytes(byte[] bytes) {
        try {
            return switch (bytes.length) {
                case 4 -> InetAddress.getByAddress(bytes);
                case 16 -> Inet6Address.getByAddress(null, bytes, -1);
                default -> throw new IllegalArgumentException("an address has 4 or 16 bytes, not " + bytes.length);
            };
        } catch (UnknownHostException e) {
            throw new IllegalStateException("4 or 16 bytes are always a valid address", e);
        }
    }

    public static long toLong(Inet4Address a) {
        byte[] b = a.getAddress();
        return ((b[0] & 0xffL) << 24) | ((b[1] & 0xffL) << 16) | ((b[2] & 0xffL) << 8) | (b[3] & 0xffL);
    }

    /** Parses a dotted-quad literal of ASCII digits; empty for anything else (hostnames are never resolved). */
    public static Optional<Inet4Address> parseIpv4(String text) {
        if (text == null) {
            return Optional.empty();
        }
        String[] parts = text.trim().split("\\.", -1);
        if (parts.length != 4) {
            return Optional.empty();
        }
        byte[] bytes = new byte[4];
        for (int i = 0; i < 4; i++) {
            String p = parts[i];
            if (p.length() > 3 || !AsciiDigits.only(p)) { // never another script's digits: ١٠ is not 10
                return Optional.empty();
            }
            int v = Integer.parseInt(p);
            if (v > 255) {
                return Optional.empty();
            }
            bytes[i] = (byte) v;
        }
        try {
            return Optional.of((Inet4Address) InetAddress.getByAddress(bytes));
        } catch (UnknownHostException e) {
            throw new IllegalStateException("4 bytes are always a valid IPv4 address", e);
        }
    }

    /** For constants and tests: parses or throws naming the text. */
    public static Inet4Address ipv4(String text) {
        return parseIpv4(text).orElseThrow(() -> new IllegalArgumentException("not an IPv4 address: '" + text + "'"));
    }
}
