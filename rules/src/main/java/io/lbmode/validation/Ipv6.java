package io.lbmode.validation;

import io.lbmode.net.Ipv6Text;
import java.math.BigInteger;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.Optional;

/**
 * IPv6 addresses, CIDR blocks and address ranges as inclusive 128-bit ranges, for size, overlap and containment:
 * the IPv6 half of a dual-stack cluster's fields. {@link Ipv4} stays the one place for IPv4.
 */
final class Ipv6 {
    private static final BigInteger ALL = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);

    private Ipv6() {
    }

    /** An inclusive range; {@code prefix} is the CIDR mask length, or -1 for an {@code a-b} range. */
    record Range(BigInteger first, BigInteger last, int prefix, String text) {
        boolean overlaps(Range other) {
            return first.compareTo(other.last) <= 0 && other.first.compareTo(last) <= 0;
        }

        boolean contains(Range other) {
            return first.compareTo(other.first) <= 0 && other.last.compareTo(last) <= 0;
        }
    }

    /** Whether {@code text} is written as an IPv6 value (it has a colon); what it is then judged by this class. */
    static boolean looksLike(String text) {
        return text != null && text.indexOf(':') >= 0;
    }

    /** A literal IPv6 address (no zone, no host name: nothing is looked up). */
    static Optional<BigInteger> address(String text) {
        if (text == null || text.isEmpty() || text.indexOf('%') >= 0 || !text.matches("[0-9A-Fa-f:.]+")) {
            return Optional.empty();
        }
        try {
            InetAddress parsed = InetAddress.ofLiteral(text);
            // ::ffff:a.b.c.d parses to an Inet4Address: an IPv4 address in disguise, not an IPv6 one.
            return parsed instanceof Inet6Address ? Optional.of(new BigInteger(1, parsed.getAddress())) : Optional.empty();
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** Parses {@code x::/n}; the error says what is wrong, e.g. host bits set. */
    static Result cidr(String text) {
        int slash = text == null ? -1 : text.indexOf('/');
        if (slash < 0) {
            return new Result.Bad("'" + text + "' is not a CIDR block; write it as x:x::/n, e.g. fd00:10:96::/108");
        }
        Optional<BigInteger> base = address(text.substring(0, slash));
        String bits = text.substring(slash + 1);
        if (base.isEmpty() || !bits.matches("[0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]")) {
            return new Result.Bad("'" + text + "' is not an IPv6 CIDR block; write it as x:x::/n with n from 0 to 128");
        }
        int prefix = Integer.parseInt(bits);
        BigInteger hostMask = BigInteger.ONE.shiftLeft(128 - prefix).subtract(BigInteger.ONE);
        BigInteger network = base.get().and(ALL.xor(hostMask));
        if (!network.equals(base.get())) {
            return new Result.Bad("'" + text + "' has host bits set; did you mean " + Ipv6Text.of(network) + "/" + prefix + "?");
        }
        return new Result.Ok(new Range(network, network.or(hostMask), prefix, text));
    }

    /** Parses an address pool entry: a CIDR block or {@code x::a-x::b}. */
    static Result poolRange(String text) {
        if (text != null && text.contains("-")) {
            String[] ends = text.split("-", -1);
            Optional<BigInteger> first = ends.length == 2 ? address(ends[0].trim()) : Optional.empty();
            Optional<BigInteger> last = ends.length == 2 ? address(ends[1].trim()) : Optional.empty();
            if (first.isEmpty() || last.isEmpty()) {
                return new Result.Bad("'" + text + "' is not an IPv6 address range; write x::a-x::b or x::/n");
            }
            if (first.get().compareTo(last.get()) > 0) {
                return new Result.Bad("'" + text + "' starts after it ends; write the lower address first");
            }
            return new Result.Ok(new Range(first.get(), last.get(), -1, text));
        }
        return cidr(text);
    }

    sealed interface Result {
        record Ok(Range range) implements Result {
        }

        record Bad(String message) implements Result {
        }
    }
}
