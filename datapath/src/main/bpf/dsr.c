/* lbmode DSR datapath: tc (clsact, direct action) programs for the node interface.
 *
 * Every node runs the same two programs on the interface that holds its InternalIP:
 *
 *   dsr_ingress  LB role:     packet to a VIP:port of a DSR service -> Maglev picks a backend -> DNAT to the pod,
 *                             keep the client source, insert the DSR option (TCP SYN, every UDP packet) -> redirect
 *                             straight to the egress device. Redirecting from tc skips netfilter, so the LB node
 *                             keeps no conntrack entry and no other per-connection state.
 *                Worker role: packet carrying the DSR option -> remember pod/client -> VIP:port in lb_reverse,
 *                             strip the option -> let the stack deliver it to the pod.
 *   dsr_egress   Reply path:  pod -> client packets leaving by the node interface get their source rewritten back
 *                             to VIP:port (TCP including RST; FIN/RST end the entry) and go straight to the client.
 *                             Packets dsr_ingress redirected out of the same interface pass untouched (MARK_REDIRECTED).
 *
 * IPv6 packets take the same roles with Cilium's Destination Options header in place of the IPv4 option (the IPv6
 * section below; dsr_ingress6, dsr_egress6).
 *
 * Why egress on the node interface rather than the pod-facing veths: one attach point per node, independent of the
 * CNI's pod interfaces, and it also covers pods on the LB node itself (their replies leave by the same interface).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "dsr.h"

#ifndef AF_INET
#define AF_INET 2
#endif

#define IP_OFF ETH_HLEN_
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define IP_SADDR_OFF (IP_OFF + offsetof(struct iphdr, saddr))
#define IP_DADDR_OFF (IP_OFF + offsetof(struct iphdr, daddr))
#define IP_MF 0x2000
#define IP_DF 0x4000
#define IP_OFFMASK 0x1fff

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* What the parser learned about one IPv4 packet; addresses and ports stay in network order. */
struct flow {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u32 l4_off;   /* offset of the TCP/UDP header from the start of the frame */
	__u16 tot_len;  /* IPv4 total length, host order */
	__u8 ihl;       /* IPv4 header length in bytes */
	__u8 proto;
	__u8 tcp_flags;
	__u8 fragment;  /* MF set or offset != 0 */
	__u8 df;
	__u8 has_dsr_opt;
};

/* ---------------------------------------------------------------------------------------------------------------
 * Counters
 * ------------------------------------------------------------------------------------------------------------- */

static __always_inline void count_event(__u32 ev)
{
	__u64 *v = bpf_map_lookup_elem(&lb_events, &ev);
	if (v)
		*v += 1;
}

/* Counts the reason and drops: no packet leaves these programs dropped without a reason. */
static __always_inline int drop(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&lb_drops, &reason);
	if (v)
		*v += 1;
	return TC_ACT_SHOT;
}

/* Redirects the packet out of ifindex; one that leaves by the interface it arrived on gets MARK_REDIRECTED, so the
 * dsr_egress it meets there lets it pass without a lookup. */
static __always_inline int redirect_out(struct __sk_buff *skb, __u32 ifindex, int neigh)
{
	if (ifindex == skb->ifindex && skb->mark == 0)
		skb->mark = MARK_REDIRECTED;
	return neigh ? bpf_redirect_neigh(ifindex, 0, 0, 0) : bpf_redirect(ifindex, 0);
}

/* True (and the mark cleared) for a packet dsr_ingress redirected out of this interface: see MARK_REDIRECTED. */
static __always_inline int redirected_here(struct __sk_buff *skb)
{
	if (skb->mark != MARK_REDIRECTED || skb->ingress_ifindex != skb->ifindex)
		return 0;
	skb->mark = 0;
	return 1;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------------------------------------------- */

/* Returns 1 for an IPv4 TCP/UDP packet filled into *f, 0 for anything else (pass), -1 for a malformed header. */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct flow *f)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN_;

	if ((void *)(ip + 1) > data_end)
		return 0;
	if (eth->h_proto != ETH_P_IPV4_BE || ip->version != 4)
		return 0;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP) {
		/* Only an option-carrying packet of another protocol concerns us (as a drop). */
		f->proto = ip->protocol;
		f->has_dsr_opt = 0;
		if (ip->ihl >= 7) {
			__u8 *t = (void *)(ip + 1);
			if ((void *)(t + 1) <= data_end && *t == DSR_OPT_TYPE)
				f->has_dsr_opt = 1;
		}
		return f->has_dsr_opt ? -2 : 0;
	}
	if (ip->ihl < 5)
		return -1;
	f->ihl = ip->ihl * 4;
	f->saddr = ip->saddr;
	f->daddr = ip->daddr;
	f->proto = ip->protocol;
	f->tot_len = bpf_ntohs(ip->tot_len);
	f->fragment = (bpf_ntohs(ip->frag_off) & (IP_MF | IP_OFFMASK)) != 0;
	f->df = (bpf_ntohs(ip->frag_off) & IP_DF) != 0;
	f->l4_off = ETH_HLEN_ + f->ihl;
	f->has_dsr_opt = 0;
	f->tcp_flags = 0;
	f->sport = 0;
	f->dport = 0;
	if (f->tot_len < f->ihl)
		return -1;
	if (f->ihl >= IPV4_BASE_HLEN + DSR_OPT_LEN) {
		__u8 *t = (void *)(ip + 1);
		if ((void *)(t + 1) > data_end)
			return -1;
		f->has_dsr_opt = *t == DSR_OPT_TYPE;
	}
	if (bpf_ntohs(ip->frag_off) & IP_OFFMASK)
		return 1; /* later fragment: no L4 header */
	__be16 ports[2];
	if (bpf_skb_load_bytes(skb, f->l4_off, ports, sizeof(ports)) < 0)
		return -1;
	f->sport = ports[0];
	f->dport = ports[1];
	if (f->proto == IPPROTO_TCP &&
	    bpf_skb_load_bytes(skb, f->l4_off + 13, &f->tcp_flags, 1) < 0)
		return -1;
	return 1;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Hashing: the same flow hashes to the same slot on every node (same code, same seed from lb_config).
 * ------------------------------------------------------------------------------------------------------------- */

static __always_inline __u32 rol32(__u32 w, __u32 s)
{
	return (w << s) | (w >> (32 - s));
}

/* Bob Jenkins' lookup3 final mix over (client, VIP, ports), seeded and keyed by protocol. */
static __always_inline __u32 flow_hash(__be32 saddr, __be32 vip, __be16 sport, __be16 vport, __u8 proto, __u32 seed)
{
	__u32 a = saddr + seed;
	__u32 b = vip + 0x9e3779b9u;
	__u32 c = (((__u32)sport << 16) | vport) + (seed ^ ((__u32)proto << 24));

	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

/* The slot index (0..M-1) of a flow in its service's tables. With session affinity the client port is left out, so
 * every connection of one client hashes alike (the service port stays in: affinity is per service port, as in
 * kube-proxy). */
static __always_inline __u32 service_slot(const struct svc_value *svc, __be32 saddr, __be32 vip, __be16 sport,
					  __be16 vport, __u8 proto)
{
	__u32 zero = 0;
	struct lb_config *cfg = bpf_map_lookup_elem(&lb_config, &zero);
	__u32 seed = cfg ? cfg->hash_seed : 0;

	if (svc->flags & SVC_F_AFFINITY)
		sport = 0;
	return flow_hash(saddr, vip, sport, vport, proto, seed) % svc->slot_count;
}

/* Backend id in lb_maglev slot `slot` (0 = empty). */
static __always_inline __u32 maglev_id(__u32 slot)
{
	__u32 pair_idx = slot >> 1;
	struct maglev_pair *pair = bpf_map_lookup_elem(&lb_maglev, &pair_idx);
	return pair ? pair->id[slot & 1] : 0;
}

static __always_inline int tcp_syn_only(const struct flow *f)
{
	return f->proto == IPPROTO_TCP && (f->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Rewriting
 * ------------------------------------------------------------------------------------------------------------- */

static __always_inline __u32 l4_csum_off(const struct flow *f)
{
	return f->l4_off + (f->proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) : offsetof(struct udphdr, check));
}

static __always_inline __u64 l4_csum_flags(const struct flow *f)
{
	/* A UDP checksum of 0 means "none": keep it 0 rather than turning it into a wrong value. */
	return f->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

/* Replaces one address (at addr_off) and one port (at port_off) and fixes the IP and L4 checksums. */
static __always_inline int rewrite_addr_port(struct __sk_buff *skb, const struct flow *f, __u32 addr_off,
					     __be32 old_addr, __be32 new_addr, __u32 port_off, __be16 old_port,
					     __be16 new_port)
{
	__u32 csum_off = l4_csum_off(f);
	__u64 mangled = l4_csum_flags(f);

	if (old_addr != new_addr) {
		if (bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr, BPF_F_PSEUDO_HDR | mangled | 4) < 0)
			return -1;
		if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, 4) < 0)
			return -1;
		if (bpf_skb_store_bytes(skb, addr_off, &new_addr, 4, 0) < 0)
			return -1;
	}
	if (old_port != new_port) {
		if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, mangled | 2) < 0)
			return -1;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, 2, 0) < 0)
			return -1;
	}
	return 0;
}

/* Inserts the DSR option right after the base header: IHL += 2, total length += 8, header checksum fixed
 * incrementally (the option adds its two 32-bit words to the sum). The L4 checksum does not cover IP options. */
static __always_inline int add_dsr_option(struct __sk_buff *skb, const struct flow *f, __be32 vip, __be16 vport)
{
	struct dsr_opt_v4 opt = {
		.type = DSR_OPT_TYPE,
		.len = DSR_OPT_LEN,
		.port = __builtin_bswap16(vport),
		.addr = __builtin_bswap32(vip),
	};
	__be16 old_w0, new_w0, old_len = bpf_htons(f->tot_len), new_len = bpf_htons(f->tot_len + DSR_OPT_LEN);
	__u32 words[2];

	if (bpf_skb_load_bytes(skb, IP_OFF, &old_w0, 2) < 0)
		return drop(DROP_REWRITE);
	if (bpf_skb_adjust_room(skb, DSR_OPT_LEN, BPF_ADJ_ROOM_NET, 0) < 0)
		return drop(DROP_RESIZE);
	/* byte 0 is version(4 bits) | IHL(4 bits); IHL counts 32-bit words */
	__u8 *b = (__u8 *)&old_w0;
	__u8 w0[2] = { (__u8)(b[0] + DSR_OPT_LEN / 4), b[1] };
	__builtin_memcpy(&new_w0, w0, 2);
	__builtin_memcpy(words, &opt, sizeof(words));

	if (bpf_skb_store_bytes(skb, IP_OFF + IPV4_BASE_HLEN, &opt, sizeof(opt), 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP_OFF, &new_w0, 2, 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP_OFF + offsetof(struct iphdr, tot_len), &new_len, 2, 0) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_w0, new_w0, 2) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_len, new_len, 2) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, words[0], 4) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, words[1], 4) < 0)
		return drop(DROP_REWRITE);
	count_event(EV_LB_OPTION);
	return 0;
}

/* Removes the DSR option (the first 8 bytes after the base header): the inverse of add_dsr_option. */
static __always_inline int strip_dsr_option(struct __sk_buff *skb, const struct flow *f, const struct dsr_opt_v4 *opt)
{
	__be16 old_w0, new_w0, old_len = bpf_htons(f->tot_len), new_len = bpf_htons(f->tot_len - DSR_OPT_LEN);
	__u32 words[2];

	if (bpf_skb_load_bytes(skb, IP_OFF, &old_w0, 2) < 0)
		return drop(DROP_REWRITE);
	__u8 *b = (__u8 *)&old_w0;
	__u8 w0[2] = { (__u8)(b[0] - DSR_OPT_LEN / 4), b[1] };
	__builtin_memcpy(&new_w0, w0, 2);
	__builtin_memcpy(words, opt, sizeof(words));

	if (bpf_skb_adjust_room(skb, -DSR_OPT_LEN, BPF_ADJ_ROOM_NET, 0) < 0)
		return drop(DROP_RESIZE);
	if (bpf_skb_store_bytes(skb, IP_OFF, &new_w0, 2, 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP_OFF + offsetof(struct iphdr, tot_len), &new_len, 2, 0) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_w0, new_w0, 2) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_len, new_len, 2) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, words[0], 0, 4) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, words[1], 0, 4) < 0)
		return drop(DROP_REWRITE);
	return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * ICMP fragmentation-needed, built in place from the oversized packet and sent back out of the ingress device.
 * ------------------------------------------------------------------------------------------------------------- */

/* ICMP destination-unreachable header (linux/icmp.h drags in libc headers that do not build for -target bpf).
 * bytes: 03 04 cc cc 00 00 05 d4  (type 3, code 4 fragmentation needed, checksum, unused, next-hop MTU 1492) */
struct icmp_frag_hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be16 unused;
	__be16 mtu;
};
#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4

/* ICMP header + the original IP header and the first 8 bytes of its payload (RFC 792). */
struct icmp_frag_body {
	struct icmp_frag_hdr icmp;
	__u8 orig[IPV4_BASE_HLEN + 8];
};

static __always_inline __u16 csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

static __always_inline int send_frag_needed(struct __sk_buff *skb, const struct flow *f, __u16 mtu)
{
	struct ethhdr eth;
	struct iphdr ip = {};
	struct icmp_frag_body body = {};

	/* The original packet is dropped either way; the counter says why. TCP too: a segment that carries the option
	 * only because its flow is draining (SVC_F_DRAINING) may not fit; the client's stack then sends smaller ones. */
	drop(DROP_FRAG_NEEDED);
	if (!f->df || f->ihl != IPV4_BASE_HLEN)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 ||
	    bpf_skb_load_bytes(skb, IP_OFF, body.orig, sizeof(body.orig)) < 0)
		return TC_ACT_SHOT;

	body.icmp.type = ICMP_DEST_UNREACH;
	body.icmp.code = ICMP_FRAG_NEEDED;
	body.icmp.mtu = bpf_htons(mtu);
	/* Always the full checksum, even when the client left its UDP checksum to offload (CHECKSUM_PARTIAL): the
	 * rebuilt packet is delivered as an ordinary one and verified in software (measured in the lab: a seed left
	 * for offload arrives as IcmpInCsumErrors). */
	body.icmp.checksum = (__u16)~csum_fold(bpf_csum_diff(0, 0, (void *)&body, sizeof(body), 0));

	ip.version = 4;
	ip.ihl = sizeof(ip) / 4;
	ip.tos = 0xc0;
	ip.tot_len = bpf_htons(sizeof(ip) + sizeof(body));
	ip.ttl = 64;
	ip.protocol = IPPROTO_ICMP;
	ip.saddr = f->daddr; /* the VIP the client sent to: its stack matches the error to the socket */
	ip.daddr = f->saddr;
	ip.check = (__u16)~csum_fold(bpf_csum_diff(0, 0, (void *)&ip, sizeof(ip), 0));

	__u8 mac[ETH_ALEN];
	__builtin_memcpy(mac, eth.h_dest, ETH_ALEN);
	__builtin_memcpy(eth.h_dest, eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, mac, ETH_ALEN);

	if (bpf_skb_change_tail(skb, ETH_HLEN_ + sizeof(ip) + sizeof(body), 0) < 0 ||
	    bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP_OFF, &ip, sizeof(ip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP_OFF + sizeof(ip), &body, sizeof(body), 0) < 0)
		return TC_ACT_SHOT;
	count_event(EV_ICMP_FRAG_SENT);
	return bpf_redirect(skb->ifindex, 0);
}

/* ---------------------------------------------------------------------------------------------------------------
 * LB role
 * ------------------------------------------------------------------------------------------------------------- */

static __always_inline void remember_reverse(const struct flow *f, __be32 pod, __be16 pod_port, __be32 vip,
					     __be16 vip_port)
{
	struct rev_key k = {
		.pod_addr = pod, .client_addr = f->saddr, .pod_port = pod_port, .client_port = f->sport,
		.proto = f->proto,
	};
	struct rev_value *cur = bpf_map_lookup_elem(&lb_reverse, &k);
	/* Unchanged entries are not rewritten: UDP refreshes it on every packet otherwise. */
	if (cur && cur->vip == vip && cur->vip_port == vip_port && cur->flags == 0)
		return;
	struct rev_value v = { .vip = vip, .vip_port = vip_port };
	bpf_map_update_elem(&lb_reverse, &k, &v, BPF_ANY);
}

/* True when this node has a reverse entry for the flow with this pod: the pod accepted the flow's SYN. */
static __always_inline int serves_flow(const struct flow *f, __be32 pod, __be16 pod_port)
{
	struct rev_key k = {
		.pod_addr = pod, .client_addr = f->saddr, .pod_port = pod_port, .client_port = f->sport,
		.proto = f->proto,
	};
	return bpf_map_lookup_elem(&lb_reverse, &k) != NULL;
}

/* Only clients inside the service's source ranges pass (SVC_F_SOURCE_RANGES). */
static __always_inline int source_allowed(const struct svc_key *sk, __be32 client)
{
	struct src_range_key k = { .prefixlen = SRC_RANGE_SVC_BITS + 32, .svc = *sk, .client = client };
	return bpf_map_lookup_elem(&lb_source_ranges, &k) != NULL;
}

/* Sends the packet to backend b on another node: route lookup first (a packet that would not fit becomes ICMP
 * fragmentation-needed), DNAT to the pod, the DSR option when add_opt, then straight out of the egress device. */
static __always_inline int send_to_node(struct __sk_buff *skb, const struct flow *f, const struct backend_value *b,
					int add_opt, __be32 vip, __be16 vport)
{
	if (add_opt && f->ihl + DSR_OPT_LEN > IPV4_MAX_HLEN)
		return drop(DROP_NO_OPTION_SPACE);

	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.l4_protocol = f->proto;
	fib.sport = f->sport;
	fib.dport = b->port;
	/* GSO packets are checked per segment by the kernel (tot_len 0); others against the route MTU here. */
	fib.tot_len = skb->gso_size ? 0 : f->tot_len + (add_opt ? DSR_OPT_LEN : 0);
	fib.ifindex = skb->ingress_ifindex;
	fib.ipv4_src = f->saddr;
	fib.ipv4_dst = b->addr;
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		__u16 mtu = fib.mtu_result;
		return send_frag_needed(skb, f, add_opt ? mtu - DSR_OPT_LEN : mtu);
	}
	if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED)
		return drop(DROP_FWD_DISABLED);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return drop(DROP_NO_ROUTE);

	if (rewrite_addr_port(skb, f, IP_DADDR_OFF, f->daddr, b->addr, f->l4_off + 2, f->dport, b->port) < 0)
		return drop(DROP_REWRITE);
	if (add_opt) {
		int r = add_dsr_option(skb, f, vip, vport);
		if (r)
			return r;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return redirect_out(skb, fib.ifindex, 1);
	if (bpf_skb_store_bytes(skb, 0, fib.dmac, ETH_ALEN, 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, fib.smac, ETH_ALEN, 0) < 0)
		return drop(DROP_REWRITE);
	return redirect_out(skb, fib.ifindex, 0);
}

static __always_inline int lb_forward(struct __sk_buff *skb, const struct flow *f, const struct svc_key *sk,
				      const struct svc_value *svc)
{
	if (f->fragment)
		return drop(DROP_FRAGMENT);
	if ((svc->flags & SVC_F_SOURCE_RANGES) && !source_allowed(sk, f->saddr))
		return drop(DROP_SOURCE_RANGE);
	if (svc->backends == 0 || svc->slot_count == 0)
		return drop(DROP_NO_BACKEND);
	__u32 h = service_slot(svc, f->saddr, f->daddr, f->sport, f->dport, f->proto);
	__u32 id = maglev_id(svc->slot_offset + h);
	int syn = tcp_syn_only(f);
	int handoff_opt = 0;

	if ((svc->flags & SVC_F_DRAINING) && f->proto == IPPROTO_TCP && !syn) {
		/* Graceful termination: a packet of a flow that may have started before an endpoint began terminating. */
		__u32 est = maglev_id(svc->slot_offset + svc->slot_count + h);
		struct backend_value *eb = est && est != id ? bpf_map_lookup_elem(&lb_backends, &est) : NULL;
		if (eb) {
			if (!(eb->flags & BACKEND_F_LOCAL)) {
				id = est; /* its node decides, from its reverse entries; the option tells it the service */
				handoff_opt = 1;
			} else if (serves_flow(f, eb->addr, eb->port)) {
				id = est; /* a local pod that accepted this flow */
			}
		}
	}
	if (id == 0)
		return drop(DROP_NO_BACKEND);
	struct backend_value *be = bpf_map_lookup_elem(&lb_backends, &id);
	if (!be)
		return drop(DROP_NO_BACKEND);
	struct backend_value b = *be;

	if (b.flags & BACKEND_F_LOCAL) {
		/* The pod is here: no option, the stack delivers it; our egress program translates the reply. */
		if (f->proto == IPPROTO_UDP || syn)
			remember_reverse(f, b.addr, b.port, f->daddr, f->dport);
		if (rewrite_addr_port(skb, f, IP_DADDR_OFF, f->daddr, b.addr, f->l4_off + 2, f->dport, b.port) < 0)
			return drop(DROP_REWRITE);
		count_event(EV_LB_LOCAL);
		return TC_ACT_OK;
	}
	int rc = send_to_node(skb, f, &b, f->proto == IPPROTO_UDP || syn || handoff_opt, f->daddr, f->dport);
	if (rc == TC_ACT_REDIRECT)
		count_event(EV_LB_FORWARDED);
	return rc;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Worker role
 * ------------------------------------------------------------------------------------------------------------- */

/* Client side of the close: RST ends the entry, FIN marks it (dsr_egress ends it with the pod's last segment). */
static __always_inline void client_close(const struct flow *f)
{
	struct rev_key k = {
		.pod_addr = f->daddr, .client_addr = f->saddr, .pod_port = f->dport, .client_port = f->sport,
		.proto = IPPROTO_TCP,
	};
	struct rev_value *v = bpf_map_lookup_elem(&lb_reverse, &k);
	if (!v)
		return;
	if (f->tcp_flags & TCP_FLAG_RST) {
		bpf_map_delete_elem(&lb_reverse, &k);
		count_event(EV_REV_DELETED);
	} else {
		v->flags |= REV_F_CLIENT_FIN;
	}
}

/* Graceful termination, worker side: a TCP packet (not a SYN) came with the option to a pod of this node that never
 * accepted its flow. The LB node sent it here because the service's established table points here; the flow began
 * after the table changed, so its SYN went to the new-connection table's backend: send it there. Returns 1 with
 * *verdict set when it handled the packet, 0 to deliver it as usual. */
static __always_inline int hand_off(struct __sk_buff *skb, const struct flow *f, const struct dsr_opt_v4 *opt,
				    int *verdict)
{
	__be32 vip = __builtin_bswap32(opt->addr);
	__be16 vport = __builtin_bswap16(opt->port);
	struct svc_key sk = { .vip = vip, .port = vport, .proto = IPPROTO_TCP };
	struct svc_value *sv = bpf_map_lookup_elem(&lb_services, &sk);
	if (!sv || !(sv->flags & SVC_F_DRAINING) || sv->slot_count == 0)
		return 0;
	struct svc_value svc = *sv;
	__u32 id = maglev_id(svc.slot_offset + service_slot(&svc, f->saddr, vip, f->sport, vport, IPPROTO_TCP));
	struct backend_value *be = id ? bpf_map_lookup_elem(&lb_backends, &id) : NULL;
	if (!be || (be->addr == f->daddr && be->port == f->dport))
		return 0;
	struct backend_value b = *be;

	count_event(EV_HANDOFF);
	if (b.flags & BACKEND_F_LOCAL) {
		/* another pod of this node: it has the reverse entry from the SYN */
		if (rewrite_addr_port(skb, f, IP_DADDR_OFF, f->daddr, b.addr, f->l4_off + 2, f->dport, b.port) < 0) {
			*verdict = drop(DROP_REWRITE);
			return 1;
		}
		int r = strip_dsr_option(skb, f, opt);
		*verdict = r ? r : TC_ACT_OK;
		return 1;
	}
	*verdict = send_to_node(skb, f, &b, 0, vip, vport); /* the option is still on: that node checks again */
	return 1;
}

static __always_inline int worker_consume_option(struct __sk_buff *skb, const struct flow *f)
{
	struct dsr_opt_v4 opt;

	if (bpf_skb_load_bytes(skb, IP_OFF + IPV4_BASE_HLEN, &opt, sizeof(opt)) < 0)
		return drop(DROP_MALFORMED);
	if (opt.len != DSR_OPT_LEN)
		return drop(DROP_BAD_OPTION);
	if (f->fragment)
		return drop(DROP_FRAGMENT);
	struct rev_key k = {
		.pod_addr = f->daddr, .client_addr = f->saddr, .pod_port = f->dport, .client_port = f->sport,
		.proto = f->proto,
	};
	struct rev_value v = { .vip = __builtin_bswap32(opt.addr), .vip_port = __builtin_bswap16(opt.port) };
	struct rev_value *cur = bpf_map_lookup_elem(&lb_reverse, &k);
	int tcp_later = f->proto == IPPROTO_TCP && !tcp_syn_only(f);
	if (tcp_later && cur) {
		/* a flow this pod serves (the option came because the service is draining): keep the entry's state */
		if (f->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			client_close(f);
	} else {
		int verdict;
		if (tcp_later && hand_off(skb, f, &opt, &verdict))
			return verdict;
		if (!cur || cur->vip != v.vip || cur->vip_port != v.vip_port || cur->flags != 0)
			bpf_map_update_elem(&lb_reverse, &k, &v, BPF_ANY);
	}
	int r = strip_dsr_option(skb, f, &opt);
	if (r)
		return r;
	count_event(EV_OPTION_STRIPPED);
	return TC_ACT_OK;
}

/* ---------------------------------------------------------------------------------------------------------------
 * IPv6: the same roles with Cilium's Destination Options header (struct dsr_opt_v6, dsr.h) in place of the IPv4
 * option. The counters, the Maglev tables, the hash and the service flags are shared with IPv4; the maps that hold
 * addresses have IPv6 twins (lb_services6, lb_backends6, lb_reverse6, lb_src_ranges6).
 * ------------------------------------------------------------------------------------------------------------- */

#ifndef AF_INET6
#define AF_INET6 10
#endif
#define IP6_PLEN_OFF (ETH_HLEN_ + offsetof(struct ipv6hdr, payload_len))
#define IP6_NEXTHDR_OFF (ETH_HLEN_ + offsetof(struct ipv6hdr, nexthdr))
#define IP6_SADDR_OFF (ETH_HLEN_ + offsetof(struct ipv6hdr, saddr))
#define IP6_DADDR_OFF (ETH_HLEN_ + offsetof(struct ipv6hdr, daddr))
#define NEXTHDR_FRAGMENT_ 44
#define NEXTHDR_ICMP6_ 58
#define IP6_FRAG_OFFMASK 0xfff8 /* fragment offset bits of the fragment header's second word (network order 16 bits) */

/* What the parser learned about one IPv6 packet; addresses and ports stay in network order. */
struct flow6 {
	struct addr6 saddr;
	struct addr6 daddr;
	__be16 sport;
	__be16 dport;
	__u32 l4_off;       /* offset of the TCP/UDP header from the start of the frame */
	__u16 payload_len;  /* IPv6 payload length, host order (extension headers included) */
	__u8 proto;         /* TCP or UDP (after our Destination Options header and a fragment header) */
	__u8 tcp_flags;
	__u8 fragment;      /* a fragment header is present */
	__u8 has_dsr_opt;   /* our Destination Options header follows the IPv6 header */
	__u8 opt_len;       /* its option data length (DSR_OPT6_LEN when well formed) */
};

static __always_inline int addr6_eq(const struct addr6 *a, const struct addr6 *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3];
}

/* Returns 1 for an IPv6 TCP/UDP packet filled into *f (directly after the IPv6 header, or after our Destination
 * Options header and/or a fragment header), 0 for anything else (pass), -1 for a malformed header, -2 for our header
 * on a packet that is neither TCP nor UDP. Other extension headers are not walked: such packets pass untouched. */
static __always_inline int parse_ipv6(struct __sk_buff *skb, struct flow6 *f)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + ETH_HLEN_;

	if ((void *)(ip6 + 1) > data_end)
		return 0;
	if (eth->h_proto != ETH_P_IPV6_BE || ip6->version != 6)
		return 0;
	__builtin_memcpy(&f->saddr, &ip6->saddr, sizeof(f->saddr));
	__builtin_memcpy(&f->daddr, &ip6->daddr, sizeof(f->daddr));
	f->payload_len = bpf_ntohs(ip6->payload_len);
	f->proto = ip6->nexthdr;
	f->l4_off = ETH_HLEN_ + IPV6_HLEN;
	f->has_dsr_opt = 0;
	f->fragment = 0;
	f->tcp_flags = 0;
	f->sport = 0;
	f->dport = 0;
	if (f->proto == NEXTHDR_DEST_) {
		__u8 h[4]; /* next header, header length, option type, option length */
		if (bpf_skb_load_bytes(skb, f->l4_off, h, sizeof(h)) < 0)
			return -1;
		if (h[1] != DSR_OPT6_HDRLEN || h[2] != DSR_OPT6_TYPE)
			return 0; /* someone else's destination options */
		if (f->payload_len < DSR_OPT6_SIZE)
			return -1;
		f->has_dsr_opt = 1;
		f->opt_len = h[3];
		f->proto = h[0];
		f->l4_off += DSR_OPT6_SIZE;
	}
	if (f->proto == NEXTHDR_FRAGMENT_) {
		__u8 fh[4]; /* next header, reserved, offset (13 bits) | flags */
		if (bpf_skb_load_bytes(skb, f->l4_off, fh, sizeof(fh)) < 0)
			return -1;
		f->fragment = 1;
		f->proto = fh[0];
		f->l4_off += 8;
		if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
			return f->has_dsr_opt ? -2 : 0;
		if (((fh[2] << 8) | fh[3]) & IP6_FRAG_OFFMASK)
			return 1; /* later fragment: no L4 header */
	}
	if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		return f->has_dsr_opt ? -2 : 0;
	__be16 ports[2];
	if (bpf_skb_load_bytes(skb, f->l4_off, ports, sizeof(ports)) < 0)
		return -1;
	f->sport = ports[0];
	f->dport = ports[1];
	if (f->proto == IPPROTO_TCP && bpf_skb_load_bytes(skb, f->l4_off + 13, &f->tcp_flags, 1) < 0)
		return -1;
	return 1;
}

/* An IPv6 address folded to 32 bits for flow_hash: the same mix over all four words (not a plain XOR, which would
 * let clients that differ in two words collide). */
static __always_inline __u32 fold6(const struct addr6 *a)
{
	return flow_hash(a->w[0], a->w[1], (__be16)(a->w[2] >> 16), (__be16)a->w[2], 0, a->w[3]);
}

static __always_inline __u32 service_slot6(const struct svc_value *svc, const struct addr6 *saddr,
					   const struct addr6 *vip, __be16 sport, __be16 vport, __u8 proto)
{
	return service_slot(svc, fold6(saddr), fold6(vip), sport, vport, proto);
}

static __always_inline int syn_only6(const struct flow6 *f)
{
	return f->proto == IPPROTO_TCP && (f->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* Replaces one 16-byte address (at addr_off) and one port (at port_off) and fixes the L4 checksum (IPv6 has no
 * header checksum; the pseudo header's addresses are in the TCP/UDP checksum). */
static __always_inline int rewrite6_addr_port(struct __sk_buff *skb, const struct flow6 *f, __u32 addr_off,
					      const struct addr6 *old_addr, const struct addr6 *new_addr, __u32 port_off,
					      __be16 old_port, __be16 new_port)
{
	__u32 csum_off = f->l4_off + (f->proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) : offsetof(struct udphdr, check));
	__u64 mangled = f->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (!addr6_eq(old_addr, new_addr)) {
		struct addr6 from = *old_addr, to = *new_addr;
		__s64 diff = bpf_csum_diff(from.w, sizeof(from), to.w, sizeof(to), 0);
		if (bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_PSEUDO_HDR | mangled) < 0)
			return -1;
		if (bpf_skb_store_bytes(skb, addr_off, &to, sizeof(to), 0) < 0)
			return -1;
	}
	if (old_port != new_port) {
		if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, mangled | 2) < 0)
			return -1;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, 2, 0) < 0)
			return -1;
	}
	return 0;
}

/* Inserts the Destination Options header right after the IPv6 header: next header 60, payload length + 24 (Cilium's
 * dsr_set_ext6). Neither the header nor the payload length change the L4 checksum: the pseudo header holds the upper
 * layer's length and protocol, not the IPv6 header's. */
static __always_inline int add_dsr_ext6(struct __sk_buff *skb, const struct flow6 *f, const struct addr6 *vip,
					__be16 vport)
{
	struct dsr_opt_v6 opt = {
		.nexthdr = f->proto,
		.hdrlen = DSR_OPT6_HDRLEN,
		.opt_type = DSR_OPT6_TYPE,
		.opt_len = DSR_OPT6_LEN,
		.addr = *vip,
		.port = vport,
	};
	__be16 plen = bpf_htons(f->payload_len + DSR_OPT6_SIZE);
	__u8 nexthdr = NEXTHDR_DEST_;

	if (bpf_skb_adjust_room(skb, DSR_OPT6_SIZE, BPF_ADJ_ROOM_NET, 0) < 0)
		return drop(DROP_RESIZE);
	if (bpf_skb_store_bytes(skb, ETH_HLEN_ + IPV6_HLEN, &opt, sizeof(opt), 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP6_PLEN_OFF, &plen, 2, 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP6_NEXTHDR_OFF, &nexthdr, 1, 0) < 0)
		return drop(DROP_REWRITE);
	count_event(EV_LB_OPTION);
	return 0;
}

/* Removes the Destination Options header: the inverse of add_dsr_ext6 (f->proto is the header's next header). */
static __always_inline int strip_dsr_ext6(struct __sk_buff *skb, const struct flow6 *f)
{
	__be16 plen = bpf_htons(f->payload_len - DSR_OPT6_SIZE);
	__u8 nexthdr = f->proto;

	if (bpf_skb_adjust_room(skb, -DSR_OPT6_SIZE, BPF_ADJ_ROOM_NET, 0) < 0)
		return drop(DROP_RESIZE);
	if (bpf_skb_store_bytes(skb, IP6_PLEN_OFF, &plen, 2, 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP6_NEXTHDR_OFF, &nexthdr, 1, 0) < 0)
		return drop(DROP_REWRITE);
	return 0;
}

/* ICMPv6 Packet Too Big (RFC 4443 3.2): type 2, code 0, checksum, MTU (32 bits), then the start of the packet.
 * bytes: 02 00 cc cc 00 00 05 c4 | 60 .. (the client's IPv6 header, 40 bytes) | 8 bytes of TCP/UDP (ports, sequence) */
struct icmp6_too_big {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be32 mtu;
	__u8 orig[IPV6_HLEN + 8];
};
#define ICMP6_PACKET_TOO_BIG 2

/* The ICMPv6 checksum covers this pseudo header (RFC 8200 8.1) and the message. */
struct icmp6_csum_input {
	struct addr6 saddr;
	struct addr6 daddr;
	__be32 len;
	__u8 zero[3];
	__u8 nexthdr;
	struct icmp6_too_big msg;
};

/* The IPv6 counterpart of send_frag_needed: the oversized packet is turned into a Packet Too Big from the VIP to the
 * client (its stack matches it to the socket by the quoted VIP:port) and sent back out of the ingress device. */
static __always_inline int send_packet_too_big6(struct __sk_buff *skb, const struct flow6 *f, __u32 mtu)
{
	struct ethhdr eth;
	struct ipv6hdr ip6 = {};
	struct icmp6_csum_input in = {};

	drop(DROP_FRAG_NEEDED);
	if (f->has_dsr_opt) /* a handed-off packet: its header quotes the pod, not what the client sent */
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN_, in.msg.orig, sizeof(in.msg.orig)) < 0)
		return TC_ACT_SHOT;

	in.msg.type = ICMP6_PACKET_TOO_BIG;
	in.msg.mtu = bpf_htonl(mtu);
	in.saddr = f->daddr;
	in.daddr = f->saddr;
	in.len = bpf_htonl(sizeof(in.msg));
	in.nexthdr = NEXTHDR_ICMP6_;
	/* The full checksum, as for IPv4: the rebuilt packet is verified in software. */
	in.msg.checksum = (__u16)~csum_fold(bpf_csum_diff(0, 0, (void *)&in, sizeof(in), 0));

	ip6.version = 6;
	ip6.payload_len = bpf_htons(sizeof(in.msg));
	ip6.nexthdr = NEXTHDR_ICMP6_;
	ip6.hop_limit = 64;
	__builtin_memcpy(&ip6.saddr, &f->daddr, sizeof(ip6.saddr));
	__builtin_memcpy(&ip6.daddr, &f->saddr, sizeof(ip6.daddr));

	__u8 mac[ETH_ALEN];
	__builtin_memcpy(mac, eth.h_dest, ETH_ALEN);
	__builtin_memcpy(eth.h_dest, eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, mac, ETH_ALEN);

	if (bpf_skb_change_tail(skb, ETH_HLEN_ + sizeof(ip6) + sizeof(in.msg), 0) < 0 ||
	    bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN_, &ip6, sizeof(ip6), 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN_ + sizeof(ip6), &in.msg, sizeof(in.msg), 0) < 0)
		return TC_ACT_SHOT;
	count_event(EV_ICMP_FRAG_SENT);
	return bpf_redirect(skb->ifindex, 0);
}

static __always_inline void remember_reverse6(const struct flow6 *f, const struct addr6 *pod, __be16 pod_port,
					      const struct addr6 *vip, __be16 vip_port)
{
	struct rev6_key k = {
		.pod_addr = *pod, .client_addr = f->saddr, .pod_port = pod_port, .client_port = f->sport,
		.proto = f->proto,
	};
	struct rev6_value *cur = bpf_map_lookup_elem(&lb_reverse6, &k);
	if (cur && addr6_eq(&cur->vip, vip) && cur->vip_port == vip_port && cur->flags == 0)
		return;
	struct rev6_value v = { .vip = *vip, .vip_port = vip_port };
	bpf_map_update_elem(&lb_reverse6, &k, &v, BPF_ANY);
}

static __always_inline int serves_flow6(const struct flow6 *f, const struct addr6 *pod, __be16 pod_port)
{
	struct rev6_key k = {
		.pod_addr = *pod, .client_addr = f->saddr, .pod_port = pod_port, .client_port = f->sport,
		.proto = f->proto,
	};
	return bpf_map_lookup_elem(&lb_reverse6, &k) != NULL;
}

static __always_inline int source_allowed6(const struct svc6_key *sk, const struct addr6 *client)
{
	struct src_range6_key k = { .prefixlen = SRC_RANGE6_SVC_BITS + 128, .svc = *sk, .client = *client };
	return bpf_map_lookup_elem(&lb_src_ranges6, &k) != NULL;
}

/* send_to_node for IPv6: route lookup (a packet that would not fit becomes Packet Too Big), DNAT to the pod, the
 * Destination Options header when add_opt, then straight out of the egress device. */
static __always_inline int send_to_node6(struct __sk_buff *skb, const struct flow6 *f, const struct backend6_value *b,
					 int add_opt, const struct addr6 *vip, __be16 vport)
{
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET6;
	fib.l4_protocol = f->proto;
	fib.sport = f->sport;
	fib.dport = b->port;
	fib.tot_len = skb->gso_size ? 0 : IPV6_HLEN + f->payload_len + (add_opt ? DSR_OPT6_SIZE : 0);
	fib.ifindex = skb->ingress_ifindex;
	__builtin_memcpy(fib.ipv6_src, &f->saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, &b->addr, 16);
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		__u32 mtu = fib.mtu_result;
		return send_packet_too_big6(skb, f, add_opt ? mtu - DSR_OPT6_SIZE : mtu);
	}
	if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED)
		return drop(DROP_FWD_DISABLED);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return drop(DROP_NO_ROUTE);

	if (rewrite6_addr_port(skb, f, IP6_DADDR_OFF, &f->daddr, &b->addr, f->l4_off + 2, f->dport, b->port) < 0)
		return drop(DROP_REWRITE);
	if (add_opt) {
		int r = add_dsr_ext6(skb, f, vip, vport);
		if (r)
			return r;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return redirect_out(skb, fib.ifindex, 1);
	if (bpf_skb_store_bytes(skb, 0, fib.dmac, ETH_ALEN, 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, fib.smac, ETH_ALEN, 0) < 0)
		return drop(DROP_REWRITE);
	return redirect_out(skb, fib.ifindex, 0);
}

/* lb_forward for IPv6: the same decisions (source ranges, Maglev slot, draining, local or remote backend). */
static __always_inline int lb_forward6(struct __sk_buff *skb, const struct flow6 *f, const struct svc6_key *sk,
				       const struct svc_value *svc)
{
	if (f->fragment)
		return drop(DROP_FRAGMENT);
	if ((svc->flags & SVC_F_SOURCE_RANGES) && !source_allowed6(sk, &f->saddr))
		return drop(DROP_SOURCE_RANGE);
	if (svc->backends == 0 || svc->slot_count == 0)
		return drop(DROP_NO_BACKEND);
	__u32 h = service_slot6(svc, &f->saddr, &f->daddr, f->sport, f->dport, f->proto);
	__u32 id = maglev_id(svc->slot_offset + h);
	int syn = syn_only6(f);
	int handoff_opt = 0;

	if ((svc->flags & SVC_F_DRAINING) && f->proto == IPPROTO_TCP && !syn) {
		__u32 est = maglev_id(svc->slot_offset + svc->slot_count + h);
		struct backend6_value *eb = est && est != id ? bpf_map_lookup_elem(&lb_backends6, &est) : NULL;
		if (eb) {
			if (!(eb->flags & BACKEND_F_LOCAL)) {
				id = est;
				handoff_opt = 1;
			} else if (serves_flow6(f, &eb->addr, eb->port)) {
				id = est;
			}
		}
	}
	if (id == 0)
		return drop(DROP_NO_BACKEND);
	struct backend6_value *be = bpf_map_lookup_elem(&lb_backends6, &id);
	if (!be)
		return drop(DROP_NO_BACKEND);
	struct backend6_value b = *be;

	if (b.flags & BACKEND_F_LOCAL) {
		if (f->proto == IPPROTO_UDP || syn)
			remember_reverse6(f, &b.addr, b.port, &f->daddr, f->dport);
		if (rewrite6_addr_port(skb, f, IP6_DADDR_OFF, &f->daddr, &b.addr, f->l4_off + 2, f->dport, b.port) < 0)
			return drop(DROP_REWRITE);
		count_event(EV_LB_LOCAL);
		return TC_ACT_OK;
	}
	int rc = send_to_node6(skb, f, &b, f->proto == IPPROTO_UDP || syn || handoff_opt, &f->daddr, f->dport);
	if (rc == TC_ACT_REDIRECT)
		count_event(EV_LB_FORWARDED);
	return rc;
}

static __always_inline void client_close6(const struct flow6 *f)
{
	struct rev6_key k = {
		.pod_addr = f->daddr, .client_addr = f->saddr, .pod_port = f->dport, .client_port = f->sport,
		.proto = IPPROTO_TCP,
	};
	struct rev6_value *v = bpf_map_lookup_elem(&lb_reverse6, &k);
	if (!v)
		return;
	if (f->tcp_flags & TCP_FLAG_RST) {
		bpf_map_delete_elem(&lb_reverse6, &k);
		count_event(EV_REV_DELETED);
	} else {
		v->flags |= REV_F_CLIENT_FIN;
	}
}

/* hand_off for IPv6 (graceful termination, worker side). */
static __always_inline int hand_off6(struct __sk_buff *skb, const struct flow6 *f, const struct dsr_opt_v6 *opt,
				     int *verdict)
{
	struct svc6_key sk = { .vip = opt->addr, .port = opt->port, .proto = IPPROTO_TCP };
	struct svc_value *sv = bpf_map_lookup_elem(&lb_services6, &sk);
	if (!sv || !(sv->flags & SVC_F_DRAINING) || sv->slot_count == 0)
		return 0;
	struct svc_value svc = *sv;
	__u32 id = maglev_id(svc.slot_offset + service_slot6(&svc, &f->saddr, &sk.vip, f->sport, sk.port, IPPROTO_TCP));
	struct backend6_value *be = id ? bpf_map_lookup_elem(&lb_backends6, &id) : NULL;
	if (!be || (addr6_eq(&be->addr, &f->daddr) && be->port == f->dport))
		return 0;
	struct backend6_value b = *be;

	count_event(EV_HANDOFF);
	if (b.flags & BACKEND_F_LOCAL) {
		if (rewrite6_addr_port(skb, f, IP6_DADDR_OFF, &f->daddr, &b.addr, f->l4_off + 2, f->dport, b.port) < 0) {
			*verdict = drop(DROP_REWRITE);
			return 1;
		}
		int r = strip_dsr_ext6(skb, f);
		*verdict = r ? r : TC_ACT_OK;
		return 1;
	}
	*verdict = send_to_node6(skb, f, &b, 0, &sk.vip, sk.port);
	return 1;
}

/* Worker: reads the header, keeps the reverse entry (pod, client -> VIP:port), strips the header; the stack then
 * delivers the packet to the pod, which sees the real client. */
static __always_inline int worker_consume_ext6(struct __sk_buff *skb, const struct flow6 *f)
{
	struct dsr_opt_v6 opt;

	if (f->opt_len != DSR_OPT6_LEN)
		return drop(DROP_BAD_OPTION);
	if (f->fragment)
		return drop(DROP_FRAGMENT);
	if (bpf_skb_load_bytes(skb, ETH_HLEN_ + IPV6_HLEN, &opt, sizeof(opt)) < 0)
		return drop(DROP_MALFORMED);
	struct rev6_key k = {
		.pod_addr = f->daddr, .client_addr = f->saddr, .pod_port = f->dport, .client_port = f->sport,
		.proto = f->proto,
	};
	struct rev6_value v = { .vip = opt.addr, .vip_port = opt.port };
	struct rev6_value *cur = bpf_map_lookup_elem(&lb_reverse6, &k);
	int tcp_later = f->proto == IPPROTO_TCP && !syn_only6(f);
	if (tcp_later && cur) {
		if (f->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			client_close6(f);
	} else {
		int verdict;
		if (tcp_later && hand_off6(skb, f, &opt, &verdict))
			return verdict;
		if (!cur || !addr6_eq(&cur->vip, &v.vip) || cur->vip_port != v.vip_port || cur->flags != 0)
			bpf_map_update_elem(&lb_reverse6, &k, &v, BPF_ANY);
	}
	int r = strip_dsr_ext6(skb, f);
	if (r)
		return r;
	count_event(EV_OPTION_STRIPPED);
	return TC_ACT_OK;
}

static __always_inline int dsr_ingress6(struct __sk_buff *skb)
{
	struct flow6 f = {};
	int rc = parse_ipv6(skb, &f);

	if (rc == 0)
		return TC_ACT_OK;
	if (rc == -2)
		return drop(DROP_UNSUPPORTED);
	if (rc < 0)
		return drop(DROP_MALFORMED);

	if (f.has_dsr_opt)
		return worker_consume_ext6(skb, &f);
	struct svc6_key sk = { .vip = f.daddr, .port = f.dport, .proto = f.proto };
	struct svc_value *svc = bpf_map_lookup_elem(&lb_services6, &sk);
	if (svc) {
		struct svc_value s = *svc;
		return lb_forward6(skb, &f, &sk, &s);
	}
	if (f.proto == IPPROTO_TCP && (f.tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		client_close6(&f);
	return TC_ACT_OK;
}

#define ICMP6_DEST_UNREACH 1
#define ICMP6_TIME_EXCEEDED 3

/* An ICMPv6 error after its 8-byte header: the offending packet's IPv6 header and first 8 payload bytes (the worker
 * and the pods quote more; these are what the client's stack matches on). */
struct icmp6_error_quote {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be32 word; /* unused, the MTU of a Packet Too Big */
	struct ipv6hdr ip;
	__be16 sport;
	__be16 dport;
	__be16 l4_w2; /* UDP length, TCP sequence (high half) */
	__be16 l4_w3; /* UDP checksum, TCP sequence (low half) */
};

/* reverse_icmp_error for IPv6: destination unreachable, Packet Too Big and time exceeded quoting a client -> pod packet
 * of a DSR flow get VIP:port as the quoted destination (the quoted UDP checksum fixed) and, when the pod sent them, the
 * VIP as their source; the ICMPv6 checksum (which covers the pseudo header) follows. Packet Too Big matters more than
 * in IPv4: routers do not fragment IPv6, so a smaller MTU between a worker and its pod reaches the client only so. */
static __always_inline int reverse_icmp6_error(struct __sk_buff *skb, const struct flow6 *f)
{
	struct icmp6_error_quote q;
	__u32 icmp_off = f->l4_off;
	__u32 csum_off = icmp_off + offsetof(struct icmp6_error_quote, checksum);

	if (f->fragment || f->has_dsr_opt || bpf_skb_load_bytes(skb, icmp_off, &q, sizeof(q)) < 0)
		return TC_ACT_OK;
	if ((q.type != ICMP6_DEST_UNREACH && q.type != ICMP6_PACKET_TOO_BIG && q.type != ICMP6_TIME_EXCEEDED) ||
	    q.ip.version != 6 || (q.ip.nexthdr != IPPROTO_TCP && q.ip.nexthdr != IPPROTO_UDP))
		return TC_ACT_OK;
	struct rev6_key k = { .pod_port = q.dport, .client_port = q.sport, .proto = q.ip.nexthdr };
	__builtin_memcpy(&k.pod_addr, &q.ip.daddr, sizeof(k.pod_addr));
	__builtin_memcpy(&k.client_addr, &q.ip.saddr, sizeof(k.client_addr));
	struct rev6_value *v = bpf_map_lookup_elem(&lb_reverse6, &k);
	if (!v)
		return TC_ACT_OK;
	struct rev6_value r = *v;

	__u8 old[sizeof(q) - 8];
	__builtin_memcpy(old, &q.ip, sizeof(old));
	if (q.ip.nexthdr == IPPROTO_UDP && q.l4_w3 != 0) {
		/* the quoted UDP checksum covers the destination address (pseudo header) and port */
		__be32 from[5] = { k.pod_addr.w[0], k.pod_addr.w[1], k.pod_addr.w[2], k.pod_addr.w[3], q.dport };
		__be32 to[5] = { r.vip.w[0], r.vip.w[1], r.vip.w[2], r.vip.w[3], r.vip_port };
		__u16 c = ~csum_fold(bpf_csum_diff(from, sizeof(from), to, sizeof(to), (__u16)~q.l4_w3));
		q.l4_w3 = c ? c : 0xffff;
	}
	__builtin_memcpy(&q.ip.daddr, &r.vip, sizeof(r.vip));
	q.dport = r.vip_port;
	__s64 diff = bpf_csum_diff((void *)old, sizeof(old), (void *)&q.ip, sizeof(old), 0);
	if (bpf_skb_store_bytes(skb, icmp_off + 8, &q.ip, sizeof(old), 0) < 0 ||
	    bpf_l4_csum_replace(skb, csum_off, 0, diff, 0) < 0)
		return drop(DROP_REWRITE);
	if (addr6_eq(&f->saddr, &k.pod_addr)) {
		struct addr6 pod = k.pod_addr, vip = r.vip;
		__s64 d = bpf_csum_diff(pod.w, sizeof(pod), vip.w, sizeof(vip), 0);
		if (bpf_l4_csum_replace(skb, csum_off, 0, d, BPF_F_PSEUDO_HDR) < 0 ||
		    bpf_skb_store_bytes(skb, IP6_SADDR_OFF, &vip, sizeof(vip), 0) < 0)
			return drop(DROP_REWRITE);
	}
	count_event(EV_REPLY_REWRITTEN);
	return TC_ACT_OK;
}

/* Reply path for IPv6: a pod's reply with a reverse entry leaves with VIP:port as its source. */
static __always_inline int dsr_egress6(struct __sk_buff *skb)
{
	struct flow6 f = {};

	int rc = parse_ipv6(skb, &f);
	if (rc == 0 && f.proto == NEXTHDR_ICMP6_)
		return reverse_icmp6_error(skb, &f);
	if (rc != 1 || f.fragment || f.has_dsr_opt)
		return TC_ACT_OK;
	struct rev6_key k = {
		.pod_addr = f.saddr, .client_addr = f.daddr, .pod_port = f.sport, .client_port = f.dport,
		.proto = f.proto,
	};
	struct rev6_value *v = bpf_map_lookup_elem(&lb_reverse6, &k);
	if (!v)
		return TC_ACT_OK;
	struct rev6_value r = *v;

	if (f.proto == IPPROTO_TCP) {
		int both = (r.flags & (REV_F_CLIENT_FIN | REV_F_POD_FIN)) == (REV_F_CLIENT_FIN | REV_F_POD_FIN);
		if ((f.tcp_flags & TCP_FLAG_RST) || both ||
		    ((f.tcp_flags & TCP_FLAG_FIN) && (r.flags & REV_F_CLIENT_FIN))) {
			bpf_map_delete_elem(&lb_reverse6, &k);
			count_event(EV_REV_DELETED);
		} else if (f.tcp_flags & TCP_FLAG_FIN) {
			v->flags |= REV_F_POD_FIN;
		}
	}
	if (rewrite6_addr_port(skb, &f, IP6_SADDR_OFF, &f.saddr, &r.vip, f.l4_off, f.sport, r.vip_port) < 0)
		return drop(DROP_REWRITE);
	count_event(EV_REPLY_REWRITTEN);
	return TC_ACT_OK;
}

SEC("tc")
int dsr_ingress(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return dsr_ingress6(skb);
	struct flow f = {};
	int rc = parse_ipv4(skb, &f);

	if (rc == 0)
		return TC_ACT_OK;
	if (rc == -2)
		return drop(DROP_UNSUPPORTED);
	if (rc < 0)
		return drop(DROP_MALFORMED);

	struct svc_key sk = { .vip = f.daddr, .port = f.dport, .proto = f.proto };
	struct svc_value *svc = bpf_map_lookup_elem(&lb_services, &sk);
	if (svc) {
		struct svc_value s = *svc;
		return lb_forward(skb, &f, &sk, &s);
	}
	if (f.has_dsr_opt)
		return worker_consume_option(skb, &f);
	if (f.proto == IPPROTO_TCP && (f.tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		client_close(&f);
	return TC_ACT_OK;
}

/* ---------------------------------------------------------------------------------------------------------------
 * ICMP errors about DSR flows, reverse-translated on their way to the client.
 * ------------------------------------------------------------------------------------------------------------- */

#define ICMP_TIME_EXCEEDED 11

/* What an ICMP error carries after its 8-byte header: the offending packet's IP header and first 8 payload bytes.
 * For a DSR flow that packet went client -> pod (the option already stripped), e.g. port unreachable from the pod:
 *   03 03 cc cc 00 00 00 00 | 45 .. .. .. .. .. .. .. 40 11 ss ss 0a 00 01 02 0a f4 01 02 | c3 50 23 28 00 0c uu uu
 *   ICMP type 3 code 3        quoted header: UDP, client 10.0.1.2 -> pod 10.244.1.2       | ports 50000 -> 9000 */
struct icmp_error_quote {
	struct icmp_frag_hdr icmp;
	struct iphdr ip;
	__be16 sport;
	__be16 dport;
	__be16 l4_w2; /* UDP length, TCP sequence (high half) */
	__be16 l4_w3; /* UDP checksum, TCP sequence (low half) */
};

/* An ICMP error (destination unreachable, time exceeded) from a pod, or from this node about a packet to a pod, that
 * quotes a DSR flow: the client only matches it to its socket when it quotes what the client sent, VIP:port. Rewrites
 * the quoted destination (address, port, header checksum, UDP checksum) and the ICMP checksum; an error the pod itself
 * sent also gets the VIP as its source (the pod address means nothing to the client). Anything else passes. */
static __always_inline int reverse_icmp_error(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN_;
	struct icmp_error_quote q;

	if ((void *)(ip + 1) > data_end || ip->ihl != 5 || (bpf_ntohs(ip->frag_off) & (IP_MF | IP_OFFMASK)))
		return TC_ACT_OK;
	__be32 outer_src = ip->saddr;
	if (bpf_skb_load_bytes(skb, IP_OFF + IPV4_BASE_HLEN, &q, sizeof(q)) < 0)
		return TC_ACT_OK;
	if ((q.icmp.type != ICMP_DEST_UNREACH && q.icmp.type != ICMP_TIME_EXCEEDED) || q.ip.version != 4 || q.ip.ihl != 5 ||
	    (q.ip.protocol != IPPROTO_TCP && q.ip.protocol != IPPROTO_UDP) || (bpf_ntohs(q.ip.frag_off) & IP_OFFMASK))
		return TC_ACT_OK;
	struct rev_key k = {
		.pod_addr = q.ip.daddr, .client_addr = q.ip.saddr, .pod_port = q.dport, .client_port = q.sport,
		.proto = q.ip.protocol,
	};
	struct rev_value *v = bpf_map_lookup_elem(&lb_reverse, &k);
	if (!v)
		return TC_ACT_OK;
	struct rev_value r = *v;

	__u8 old[sizeof(q) - sizeof(q.icmp)];
	__builtin_memcpy(old, &q.ip, sizeof(old));
	__be32 pod = q.ip.daddr;
	__be16 pod_port = q.dport;
	if (q.ip.protocol == IPPROTO_UDP && q.l4_w3 != 0) {
		/* the UDP checksum covers the destination address (pseudo header) and port */
		__be32 from[2] = { pod, pod_port }, to[2] = { r.vip, r.vip_port };
		__u16 c = ~csum_fold(bpf_csum_diff(from, sizeof(from), to, sizeof(to), (__u16)~q.l4_w3));
		q.l4_w3 = c ? c : 0xffff;
	}
	q.ip.daddr = r.vip;
	q.dport = r.vip_port;
	q.ip.check = 0;
	q.ip.check = (__u16)~csum_fold(bpf_csum_diff(0, 0, (void *)&q.ip, sizeof(q.ip), 0));
	__s64 diff = bpf_csum_diff((void *)old, sizeof(old), (void *)&q.ip, sizeof(old), 0);
	__u32 quote_off = IP_OFF + IPV4_BASE_HLEN + sizeof(q.icmp);
	if (bpf_skb_store_bytes(skb, quote_off, &q.ip, sizeof(old), 0) < 0 ||
	    bpf_l4_csum_replace(skb, IP_OFF + IPV4_BASE_HLEN + offsetof(struct icmp_frag_hdr, checksum), 0, diff, 0) < 0)
		return drop(DROP_REWRITE);
	if (outer_src == pod) {
		if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, pod, r.vip, 4) < 0 ||
		    bpf_skb_store_bytes(skb, IP_SADDR_OFF, &r.vip, 4, 0) < 0)
			return drop(DROP_REWRITE);
	}
	count_event(EV_REPLY_REWRITTEN);
	return TC_ACT_OK;
}

SEC("tc")
int dsr_egress(struct __sk_buff *skb)
{
	if (redirected_here(skb))
		return TC_ACT_OK;
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return dsr_egress6(skb);
	struct flow f = {};

	int rc = parse_ipv4(skb, &f);
	if (rc == 0 && f.proto == IPPROTO_ICMP)
		return reverse_icmp_error(skb);
	if (rc != 1 || f.fragment)
		return TC_ACT_OK;
	struct rev_key k = {
		.pod_addr = f.saddr, .client_addr = f.daddr, .pod_port = f.sport, .client_port = f.dport,
		.proto = f.proto,
	};
	struct rev_value *v = bpf_map_lookup_elem(&lb_reverse, &k);
	if (!v)
		return TC_ACT_OK;
	struct rev_value r = *v;

	if (f.proto == IPPROTO_TCP) {
		int both = (r.flags & (REV_F_CLIENT_FIN | REV_F_POD_FIN)) == (REV_F_CLIENT_FIN | REV_F_POD_FIN);
		if ((f.tcp_flags & TCP_FLAG_RST) || both ||
		    ((f.tcp_flags & TCP_FLAG_FIN) && (r.flags & REV_F_CLIENT_FIN))) {
			/* RST, or the pod's last segment of a close both sides have started. */
			bpf_map_delete_elem(&lb_reverse, &k);
			count_event(EV_REV_DELETED);
		} else if (f.tcp_flags & TCP_FLAG_FIN) {
			v->flags |= REV_F_POD_FIN;
		}
	}
	if (rewrite_addr_port(skb, &f, IP_SADDR_OFF, f.saddr, r.vip, f.l4_off, f.sport, r.vip_port) < 0)
		return drop(DROP_REWRITE);
	count_event(EV_REPLY_REWRITTEN);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
