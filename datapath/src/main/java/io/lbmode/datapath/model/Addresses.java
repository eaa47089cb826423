package io.lbmode.datapath.model;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Comparator;
import java.util.Optional;

/** IPv4 literal parsing without DNS lookups, and a numeric order so rendered rules and hashes are stable. */
public final class Addresses {
    private Addresses() {
    }

    /** Numeric order of IPv4 addresses (InetAddress has none). */
    public static final Comparator<Inet4Address> ORDER = Comparator.comparingLong(Addresses::toLong);

    public static long toLong(Inet4Address a) {
        byte[] b = a.getAddress();
        return ((b[0] & 0xffL) << 24) | ((b[1] & 0xffL) << 16) | ((b[2] & 0xffL) << 8) | (b[3] & 0xffL);
    }

    /** Parses a dotted-quad literal; empty for anything else (hostnames are never resolved). */
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
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit)) {
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
