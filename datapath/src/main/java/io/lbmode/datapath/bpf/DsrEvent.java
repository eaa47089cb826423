package io.lbmode.datapath.bpf;

/** What the DSR programs did, by kind: {@code enum event} in dsr.h (counted per CPU in lb_events). */
public enum DsrEvent {
    /** LB node: DNAT and redirect to a backend on another node. */
    LB_FORWARDED,
    /** LB node: DSR option inserted (TCP SYN, every UDP packet). */
    LB_OPTION,
    /** LB node: backend on the node itself, delivered without option. */
    LB_LOCAL,
    /** Worker: option consumed and stripped, reverse entry stored. */
    OPTION_STRIPPED,
    /** Reply source rewritten back to VIP:port. */
    REPLY_REWRITTEN,
    /** ICMP fragmentation-needed sent to a client. */
    ICMP_FRAG_SENT,
    /** Reverse entry removed on RST or after both FINs. */
    REVERSE_DELETED,
    /**
     * Worker: a TCP packet the LB node sent by a draining service's established table to a pod that never accepted
     * its flow, passed on to the new-connection table's backend.
     */
    HANDOFF;

    /** Size of the lb_events map (EV_MAX). */
    static final int SLOTS = 8;
}
