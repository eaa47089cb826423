package io.lbmode.validation;

import java.util.Optional;
import java.util.regex.Pattern;

/** IPv4 addresses, CIDR blocks and address ranges as inclusive unsigned ranges, for size, overlap and containment. */
final class Ipv4 {
    private static final Pattern DOTTED = Pattern.compile("(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}");

    private Ipv4() {
    }

    /** An inclusive range of addresses; {@code prefix} is the CIDR mask length, or -1 for an {@code a-b} range. */
    record Range(long first, long last, int prefix, String text) {
        boolean overlaps(Range other) {
            return first <= other.last && other.first <= last;
        }

        boolean contains(Range other) {
            return first <= other.first && other.last <= last;
        }

        boolean contains(long address) {
            return first <= address && address <= last;
        }
    }

    static Optional<Long> address(String text) {
        if (text == null || !DOTTED.matcher(text).matches()) {
            return Optional.empty();
        }
        long value = 0;
        for (String octet : text.split("\\.")) {
            value = (value << 8) | Integer.parseInt(octet);
        }
        return Optional.of(value);
    }

    static String format(long address) {
        return ((address >> 24) & 255) + "." + ((address >> 16) & 255) + "." + ((address >> 8) & 255) + "." + (address & 255);
    }

    /** Parses {@code a.b.c.d/n}; the error says what is wrong, e.g. host bits set. */
    static Result cidr(String text) {
        if (text == null) {
            return new Result.Bad("is empty; write an IPv4 CIDR block such as 10.96.0.0/20");
        }
        int slash = text.indexOf('/');
        if (slash < 0) {
            return new Result.Bad("'" + text + "' is not a CIDR block; write it as a.b.c.d/n, e.g. 10.96.0.0/20");
        }
        Optional<Long> base = address(text.substring(0, slash));
        String bits = text.substring(slash + 1);
        if (base.isEmpty() || !bits.matches("[0-9]|[12][0-9]|3[0-2]")) {
            return new Result.Bad("'" + text + "' is not an IPv4 CIDR block; write it as a.b.c.d/n with n from 0 to 32");
        }
        int prefix = Integer.parseInt(bits);
        long size = 1L << (32 - prefix);
        long network = base.get() & ~(size - 1) & 0xffffffffL;
        if (network != base.get()) {
            return new Result.Bad("'" + text + "' has host bits set; did you mean " + format(network) + "/" + prefix + "?");
        }
        return new Result.Ok(new Range(network, network + size - 1, prefix, text));
    }

    /** Parses an address pool entry: a CIDR block or {@code a.b.c.d-e.f.g.h}. */
    static Result poolRange(String text) {
        if (text != null && text.contains("-")) {
            String[] ends = text.split("-", -1);
            Optional<Long> first = ends.length == 2 ? address(ends[0].trim()) : Optional.empty();
            Optional<Long> last = ends.length == 2 ? address(ends[1].trim()) : Optional.empty();
            if (first.isEmpty() || last.isEmpty()) {
                return new Result.Bad("'" + text + "' is not an address range; write a.b.c.d-e.f.g.h or a.b.c.d/n");
            }
            if (first.get() > last.get()) {
                return new Result.Bad("'" + text + "' starts after it ends; write the lower address first");
            }
            return new Result.Ok(new Range(first.get(), last.get(), -1, text));
        }
        Result cidr = cidr(text);
        return cidr instanceof Result.Bad(String message) && text != null && text.indexOf('/') < 0
                ? new Result.Bad("'" + text + "' is not an address range; write a.b.c.d-e.f.g.h or a.b.c.d/n")
                : cidr;
    }

    sealed interface Result {
        record Ok(Range range) implements Result {
        }

        record Bad(String message) implements Result {
        }
    }
}
