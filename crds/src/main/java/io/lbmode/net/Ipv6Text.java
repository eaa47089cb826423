package io.lbmode.net;

import java.math.BigInteger;

/**
 * The one text form of an IPv6 address, RFC 5952's: lower case, no leading zeros, the longest run of two or more zero
 * groups as {@code ::} (the first such run on a tie). It is how nft lists addresses, so the agent's rendered and
 * listed rules compare as text, and how validation messages suggest a corrected block. Here because the agent and the
 * validation rules both use it and share only this module.
 */
public final class Ipv6Text {
    private Ipv6Text() {
    }

    /** {@code address}: the 128-bit value, as {@code new BigInteger(1, inet6Address.getAddress())}. */
    public static String of(BigInteger address) {
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = address.shiftRight(16 * (7 - i)).intValue() & 0xffff;
        }
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                text.append("::");
                i += bestLength - 1;
                continue;
            }
            if (!text.isEmpty() && text.charAt(text.length() - 1) != ':') {
                text.append(':');
            }
            text.append(Integer.toHexString(groups[i]));
        }
        return text.toString();
    }
}
