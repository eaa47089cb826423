/* lbmode DSR datapath: constants, wire structs and maps, defined once.
 *
 * The Java side (io.lbmode.datapath.bpf) mirrors every struct and number here byte for byte; when you change one,
 * change BpfLayout.java, DropReason.java and DsrEvent.java too (DsrUnitTest compares the drop reasons, the events and
 * the struct bytes with this header; the lab's DsrLabTest loads the object into a kernel). */
#ifndef LBMODE_DSR_H
#define LBMODE_DSR_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* ---------------------------------------------------------------------------------------------------------------
 * Wire format
 * ------------------------------------------------------------------------------------------------------------- */

#define ETH_HLEN_ 14
#define IPV4_BASE_HLEN 20
#define IPV4_MAX_HLEN 60
#define ETH_P_IPV4_BE 0x0008 /* htons(0x0800) on a little-endian host */

/* The DSR IPv4 option, compatible with Cilium's dsr-dispatch=opt. 8 bytes, always the first option, right after the
 * 20-byte base header (so IHL goes from 5 to 7). Example for VIP 172.16.20.16 port 80 on a TCP SYN:
 *
 *   IP header:  47 00 00 44 ...               IHL 7, total length 0x44 = 20 + 8 + 40
 *   option:     9a 08 50 00 10 14 10 ac
 *               |  |  |     +------------ addr: the VIP's network-order bytes ac 10 14 10, reversed
 *               |  |  +------------------ port: the port's network-order bytes 00 50, reversed
 *               |  +--------------------- length 8 (the whole option)
 *               +------------------------ type 0x9a: copy bit 1, class 0, number 26
 *
 * The reversal is Cilium's quirk: it stores htons()/htonl() of values that are already in network order, which on
 * the little-endian hosts it runs on swaps them once more. We write and read the same bytes (bswap of the network
 * order value) so lbmode nodes and Cilium nodes understand each other. */
struct dsr_opt_v4 {
	__u8 type;
	__u8 len;
	__u16 port; /* bswap16(network-order port) */
	__u32 addr; /* bswap32(network-order address) */
} __attribute__((packed));

#define DSR_OPT_TYPE 0x9a
#define DSR_OPT_LEN 8

/* IPv6: the VIP and port travel in a Destination Options extension header, Cilium's layout (bpf/lib/common.h,
 * struct dsr_opt_v6; written by dsr_set_ext6 in bpf/lib/nodeport.h), inserted right after the 40-byte IPv6 header.
 * 24 bytes, example for VIP fd00:172:16:20::10 port 80 on a TCP SYN:
 *
 *   IPv6 header: next header 60 (Destination Options), payload length + 24
 *   header:      06 02 1b 14 fd 00 01 72 00 16 00 20 00 00 00 00 00 00 00 10 00 50 00 00
 *                |  |  |  |  +-- VIP, network order (16) -------------------+ |     +-- pad (inside the option)
 *                |  |  |  |                                                  +-- port, network order (no swap)
 *                |  |  |  +-- option data length 20
 *                |  |  +----- option type 0x1b: skip if unknown (00), does not change en route (0), number 27
 *                |  +-------- header extension length 2: (24 - 8) / 8
 *                +----------- next header: what the IPv6 header had (6 TCP, 17 UDP) */
struct addr6 {
	__be32 w[4];
};
struct dsr_opt_v6 {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 opt_type;
	__u8 opt_len;
	struct addr6 addr;
	__be16 port;
	__u16 pad;
} __attribute__((packed));

/* skb->mark of a packet dsr_ingress redirects out of the interface it arrived on (client -> pod, DNAT done), so the
 * dsr_egress that then runs on it passes it at once (a client's packet is no pod's reply: nothing to rewrite) instead
 * of parsing it and looking it up in lb_reverse. Set only on a packet without a mark, only on that redirect (never on
 * one handed to the stack, where marks mean routing and firewall decisions), and cleared by dsr_egress, which also
 * requires the packet to have arrived on the interface it leaves by. An arbitrary value ("lb" 0xd5a): Cilium and
 * kube-proxy set single bits or their identity in the upper half, not this. */
#define MARK_REDIRECTED 0x6c620d5a

#define IPV6_HLEN 40
#define ETH_P_IPV6_BE 0xdd86 /* htons(0x86dd) on a little-endian host */
#define NEXTHDR_DEST_ 60
#define DSR_OPT6_TYPE 0x1b
#define DSR_OPT6_SIZE 24
#define DSR_OPT6_LEN (DSR_OPT6_SIZE - 4)
#define DSR_OPT6_HDRLEN ((DSR_OPT6_SIZE - 8) / 8)

/* ---------------------------------------------------------------------------------------------------------------
 * Counters
 * ------------------------------------------------------------------------------------------------------------- */

/* Why a packet was dropped: index into lb_drops. Names exported to NodeDataplane.status.drops (DropReason.java). */
enum drop_reason {
	DROP_NO_BACKEND = 1,     /* noBackend: service without backends, or table slot empty */
	DROP_FRAGMENT = 2,       /* ipFragment: fragment of a packet to a VIP (no ports to hash on) */
	DROP_NO_OPTION_SPACE = 3,/* noOptionSpace: IHL + 8 bytes would exceed 60 bytes of header */
	DROP_FRAG_NEEDED = 4,    /* fragNeeded: packet + option exceeds the MTU (ICMP sent when DF is set; ICMPv6 Packet Too Big) */
	DROP_NO_ROUTE = 5,       /* noRoute: no route (FIB lookup failed) to the backend */
	DROP_BAD_OPTION = 6,     /* badDsrOption: option 0x9a not 8 bytes long, or IPv6 option 0x1b not 20 */
	DROP_RESIZE = 7,         /* resizeFailed: the kernel refused to insert or remove the option bytes */
	DROP_MALFORMED = 8,      /* malformed: truncated or inconsistent IPv4/IPv6/L4 header */
	DROP_REWRITE = 9,        /* rewriteFailed: storing bytes or fixing a checksum failed */
	DROP_UNSUPPORTED = 10,   /* unsupportedProtocol: DSR option on a packet that is neither TCP nor UDP */
	DROP_FWD_DISABLED = 11,  /* forwardingDisabled: IPv4/IPv6 forwarding is off (sysctl) */
	DROP_SOURCE_RANGE = 12,  /* notInSourceRanges: client outside the service's loadBalancerSourceRanges */
	DROP_MAX = 16,
};

/* What the datapath did (not drops): index into lb_events, read by tests and /metrics. */
enum event {
	EV_LB_FORWARDED = 0,   /* LB node: DNAT and redirect to a remote backend */
	EV_LB_OPTION = 1,      /* LB node: option inserted (TCP SYN, every UDP packet) */
	EV_LB_LOCAL = 2,       /* LB node: backend on this node, delivered without option */
	EV_OPTION_STRIPPED = 3,/* worker: option consumed, reverse entry stored */
	EV_REPLY_REWRITTEN = 4,/* reply source rewritten back to VIP:port */
	EV_ICMP_FRAG_SENT = 5, /* ICMP fragmentation-needed sent to the client */
	EV_REV_DELETED = 6,    /* reverse entry removed (RST, or FIN from both sides) */
	EV_HANDOFF = 7,        /* worker: TCP packet of a flow this backend does not serve, sent to the new-connection
				* backend (graceful termination, see SVC_F_DRAINING) */
	EV_MAX = 8,            /* the map's size: changing it makes pinned maps of older agents unusable */
};

/* ---------------------------------------------------------------------------------------------------------------
 * Maps. All are pinned by name under <bpffs>/lbmode/ by the agent, so a restarted agent adopts them.
 * ------------------------------------------------------------------------------------------------------------- */

/* Service by VIP, port, protocol. Written by the agent (DsrProgrammer), read by dsr_ingress on the LB node.
 * key bytes:   ac 10 14 10 | 00 50 | 06 | 00     (VIP, port network order, IPPROTO_TCP, pad)
 * value bytes: offset(4, host order) count(4) backends(4) flags(4) */
struct svc_key {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};
struct svc_value {
	__u32 slot_offset; /* first slot of this service's Maglev table in lb_maglev */
	__u32 slot_count;  /* Maglev table size M (a prime) */
	__u32 backends;    /* number of distinct backends in the table; 0 drops with noBackend */
	__u32 flags;       /* SVC_F_* */
};
/* Only clients with an entry in lb_source_ranges may connect (spec.loadBalancerSourceRanges); others are dropped and
 * counted as notInSourceRanges. */
#define SVC_F_SOURCE_RANGES 0x01
/* sessionAffinity: ClientIP: the Maglev slot is chosen by the client address alone (no ports), so every connection of
 * a client, through any LB node, goes to the same backend while the backends stay the same. */
#define SVC_F_AFFINITY 0x02
/* Graceful termination (TCP only): the service has serving-but-terminating endpoints. Its range is then 2 x M slots:
 * the new-connection table (ready endpoints) at slot_offset, the established table (ready and terminating ones, the
 * table the service had before they started terminating) at slot_offset + M. A SYN uses the first; any other TCP
 * packet whose two slots disagree goes to the established table's backend with the DSR option, and that backend's
 * node, when it has no reverse entry for the flow (so it never accepted its SYN), hands it to the new-connection
 * table's backend. No LB node keeps state: every LB node decides the same. */
#define SVC_F_DRAINING 0x04
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct svc_key);
	__type(value, struct svc_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_services SEC(".maps");

/* Allowed clients per service port (LPM trie). Written by the agent, read by dsr_ingress for services with
 * SVC_F_SOURCE_RANGES. The key is the service key followed by the client prefix; prefixlen counts bits from svc on,
 * so it is 64 + the CIDR's length (the whole service key always matches exactly).
 * key bytes (203.0.113.0/24 for 172.16.20.16:80/tcp): 58 00 00 00 | ac 10 14 10 00 50 06 00 | cb 00 71 00
 * value: 1 */
struct src_range_key {
	__u32 prefixlen; /* host order */
	struct svc_key svc;
	__be32 client;
};
#define SRC_RANGE_SVC_BITS 64
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct src_range_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_source_ranges SEC(".maps");

/* All Maglev tables, one after the other: slot -> backend id (0 = empty), two slots per entry. Why pairs: array
 * elements are 8-byte aligned, so u32 values would waste half the memory; in a pair slot i sits at byte 4 * i of the
 * map's memory. Written by the agent through a shared memory mapping (only the slots that change), read by
 * dsr_ingress. The size is the node's table memory budget: 4 Mi slots = 16 MiB, e.g. 256 services at M = 16381 or
 * 16000 services at M = 251 (DsrProgrammer explains the sizing). */
struct maglev_pair {
	__u32 id[2]; /* slot 2k, slot 2k+1 */
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2097152);
	__type(key, __u32);
	__type(value, struct maglev_pair);
	__uint(map_flags, BPF_F_MMAPABLE);
} lb_maglev SEC(".maps");

/* Agent bookkeeping, never read by the programs: for each Maglev table range (keyed by its first slot in lb_maglev),
 * a 128-bit digest of the inputs the agent built it from (algorithm version, seed, size, backends and their ids). A
 * restarted agent whose desired tables have the same digest leaves the range alone instead of computing it again.
 * The agent removes a range's digest before it rewrites the range, so a crash midway never leaves a digest that
 * vouches for a half-written table. One per service (both families share lb_maglev). */
struct maglev_digest {
	__u64 hash[2];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, struct maglev_digest);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_maglev_inputs SEC(".maps");

/* Backend by id. Written by the agent, read by dsr_ingress.
 * value bytes: c0 a8 01 02 | 1f 90 | 01 | 00   (pod address, pod port network order, BACKEND_F_LOCAL, pad) */
struct backend_value {
	__be32 addr;
	__be16 port;
	__u8 flags;
	__u8 pad;
};
#define BACKEND_F_LOCAL 0x01 /* the pod runs on this node: deliver without option, reverse-translate locally */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, __u32);
	__type(value, struct backend_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_backends SEC(".maps");

/* Reverse translation for flows whose backend is on this node. Written by dsr_ingress (option consumed on a
 * worker, or a local backend chosen on the LB node), read and cleaned by dsr_egress on the reply path and by
 * dsr_ingress when the client closes. LRU: a node never runs out of entries, the oldest idle flows go first. */
struct rev_key {
	__be32 pod_addr;
	__be32 client_addr;
	__be16 pod_port;
	__be16 client_port;
	__u8 proto;
	__u8 pad[3];
};
struct rev_value {
	__be32 vip;
	__be16 vip_port;
	__u8 flags; /* REV_F_* */
	__u8 pad;
};
#define REV_F_CLIENT_FIN 0x01
#define REV_F_POD_FIN 0x02
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct rev_key);
	__type(value, struct rev_value);
} lb_reverse SEC(".maps");

/* IPv6 maps: the same roles as the IPv4 ones above, with 16-byte addresses. Separate maps (not a family-tagged key)
 * so the IPv4 maps keep the layout older agents pinned. Backend ids share one id space with lb_backends, and the
 * Maglev tables of IPv6 services live in lb_maglev beside the IPv4 ones.
 *
 * lb_services6 key bytes: fd 00 01 72 00 16 00 20 00 00 00 00 00 00 00 10 | 00 50 | 06 | 00; value: struct svc_value */
struct svc6_key {
	struct addr6 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct svc6_key);
	__type(value, struct svc_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_services6 SEC(".maps");

/* Allowed IPv6 clients per IPv6 service port: prefixlen = 160 (the whole svc6_key) + the prefix length. An IPv6 service
 * with SVC_F_SOURCE_RANGES and no entry here admits nobody. */
struct src_range6_key {
	__u32 prefixlen; /* host order */
	struct svc6_key svc;
	struct addr6 client;
};
#define SRC_RANGE6_SVC_BITS 160
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct src_range6_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_src_ranges6 SEC(".maps");

/* IPv6 backend by id (ids of IPv6 services' tables). value: pod address(16) | port(2, network order) | flags | pad */
struct backend6_value {
	struct addr6 addr;
	__be16 port;
	__u8 flags;
	__u8 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, __u32);
	__type(value, struct backend6_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_backends6 SEC(".maps");

/* IPv6 reverse translation, as lb_reverse. */
struct rev6_key {
	struct addr6 pod_addr;
	struct addr6 client_addr;
	__be16 pod_port;
	__be16 client_port;
	__u8 proto;
	__u8 pad[3];
};
struct rev6_value {
	struct addr6 vip;
	__be16 vip_port;
	__u8 flags; /* REV_F_* */
	__u8 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct rev6_key);
	__type(value, struct rev6_value);
} lb_reverse6 SEC(".maps");

/* Node-wide settings (one entry). Written by the agent, read by dsr_ingress. */
struct lb_config {
	__u32 hash_seed; /* equal on every node: the same flow hashes to the same Maglev slot everywhere */
	__u32 flags;
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_config);
} lb_config SEC(".maps");

/* Agent bookkeeping, never read by the programs (one entry): where the pinned programs and maps came from, written
 * by the agent after each full load of dsr.o. A restarted agent whose dsr.o has the recorded fingerprint, and whose
 * pins still are the recorded objects (program and map ids: an older agent that replaced the programs, or a map pin
 * that was recreated, changes them), opens the pins instead of loading and verifying the programs again. Without
 * this entry (pins of an agent that predates it) or with any difference, the agent loads dsr.o as on a first start.
 * The struct keeps its size for good (libbpf refuses to reuse a pinned map whose value size differs from the
 * object's): a later layout changes ORIGIN_VERSION and fits in these 512 bytes. */
#define ORIGIN_VERSION 1
#define ORIGIN_MAPS 24
struct origin_map {
	char name[16]; /* the pin's file name under <bpffs>/lbmode, NUL-padded (no NUL at 16 characters: lb_maglev_inputs) */
	__u32 id;
};
struct origin {
	__u32 version;       /* ORIGIN_VERSION: the layout of this struct */
	__u32 maps;          /* entries of map[] in use */
	__u64 object_size;   /* fingerprint of the dsr.o the programs were loaded from: size, CRC-32C, CRC-32 */
	__u32 object_crc32c;
	__u32 object_crc32;
	__u32 ingress_id;    /* program ids of the pinned dsr_ingress and dsr_egress */
	__u32 egress_id;
	struct origin_map map[ORIGIN_MAPS]; /* the pinned lb_ maps (this one excepted) and their map ids */
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct origin);
} lb_origin SEC(".maps");

/* Drops by reason (enum drop_reason), per CPU. Written by the programs, summed by the agent into status.drops. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lb_drops SEC(".maps");

/* Events by kind (enum event), per CPU. Written by the programs, read by the agent and the tests. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lb_events SEC(".maps");

#endif
