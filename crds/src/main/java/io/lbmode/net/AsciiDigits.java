package io.lbmode.net;

/**
 * Numbers as Kubernetes, nft and the kernel write them: ASCII {@code 0-9} only. {@link Character#isDigit},
 * {@link Integer#parseInt} and {@link Long#parseLong} also take the digits of other scripts (Arabic-Indic {@code ١٠},
 * fullwidth {@code １０}, Devanagari), so {@code ١٠.0.0.1} would otherwise be read as the address 10.0.0.1 that no
 * other tool sees in that text. Here because the agent's parsers and the ConfigMap reader share only this module.
 */
public final class AsciiDigits {
    private AsciiDigits() {
    }

    /** Whether {@code text} is one or more ASCII digits and nothing else. */
    public static boolean only(String text) {
        return text != null && !text.isEmpty() && text.chars().allMatch(AsciiDigits::is);
    }

    /** Whether {@code c} is one of {@code 0-9}. */
    public static boolean is(int c) {
        return c >= '0' && c <= '9';
    }

    /** Whether {@code c} is a hexadecimal digit in ASCII: {@code 0-9}, {@code a-f}, {@code A-F}. */
    public static boolean isHex(int c) {
        return is(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
}
