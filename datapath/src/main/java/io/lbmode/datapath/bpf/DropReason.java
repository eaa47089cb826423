package io.lbmode.datapath.bpf;

import java.util.Arrays;
import java.util.Optional;

/**
 * Why the DSR programs dropped a packet: {@code enum drop_reason} in dsr.h, with the names exported to
 * NodeDataplane {@code status.drops}.
 */
public enum DropReason {
    NO_BACKEND(1, "noBackend"),
    IP_FRAGMENT(2, "ipFragment"),
    NO_OPTION_SPACE(3, "noOptionSpace"),
    FRAG_NEEDED(4, "fragNeeded"),
    NO_ROUTE(5, "noRoute"),
    BAD_DSR_OPTION(6, "badDsrOption"),
    RESIZE_FAILED(7, "resizeFailed"),
    MALFORMED(8, "malformed"),
    REWRITE_FAILED(9, "rewriteFailed"),
    UNSUPPORTED_PROTOCOL(10, "unsupportedProtocol"),
    FORWARDING_DISABLED(11, "forwardingDisabled"),
    /** The client is outside the service's {@code loadBalancerSourceRanges}. */
    NOT_IN_SOURCE_RANGES(12, "notInSourceRanges");

    /** Size of the lb_drops map (DROP_MAX). */
    static final int SLOTS = 16;

    private final int code;
    private final String statusName;

    DropReason(int code, String statusName) {
        this.code = code;
        this.statusName = statusName;
    }

    public int code() {
        return code;
    }

    /** The key in NodeDataplane {@code status.drops}. */
    public String statusName() {
        return statusName;
    }

    static Optional<DropReason> of(int code) {
        return Arrays.stream(values()).filter(r -> r.code == code).findFirst();
    }
}
