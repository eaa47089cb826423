package io.lbmode.datapath.nft;

import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.IpFamily;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.ServicePort;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The SNAT ruleset as data: static chains that never change with Services, and four maps/sets whose elements carry
 * everything Service-specific, as typed {@link NftObject}s. Pure (no kernel): the full atomic transaction, the
 * incremental diff, and the objects drift detection expects in the kernel ({@link Listing#of}) all come from
 * {@link #objects} and {@link #elements}.
 *
 * <pre>
 * firewall-prerouting / firewall-output (-110, before DNAT), new connections only:
 *   VIP.proto.port in @source-range-ports and VIP.proto.port.saddr not in @source-ranges -> counter, drop
 * nat-prerouting / nat-output (dstnat):
 *   VIP.proto.port in @masquerade-ports -> meta mark |= 0x02000000     (postrouting masquerades marked packets)
 *   VIP.proto.port vmap @service-ports                                  (-> goto pick-N, N = number of backends)
 * pick-N:  dnat to VIP.proto.port.(numgen random mod N) map @backends   (one static chain per backend count, not per service)
 * aff-VIP-PROTO-PORT: sessionAffinity ClientIP ports instead of pick-N ({@link Affinity})
 * nat-postrouting (srcnat): marked -> masquerade fully-random         (the backend sees the LB node, replies come back)
 * filter-{input,forward,output}: VIP.proto.port in @reject-ports -> tcp reset / icmp port unreachable
 * </pre>
 * Why {@code pick-N} chains: {@code numgen mod} needs a constant, and a modulus equal to the number of backends
 * spreads new connections exactly evenly, whatever that number is (a fixed slot count would favour some backends
 * when it is not a multiple). They depend only on the set of backend counts in use, so they are few and stable;
 * conntrack keeps each connection on the backend picked by its first packet.
 *
 * <p>IPv6: the same layout in its own table {@code ip6 lbmode} ({@link Family#IPV6}), holding the IPv6 service ports
 * only; the IPv4 table holds the IPv4 ones, rendered exactly as before IPv6 existed. A dual-stack Service has a port
 * in each.
 */
public final class SnatRuleset {
    /** The IPv4 table's family ({@link Family#IPV4}). */
    public static final String FAMILY = "ip";
    public static final String TABLE = "lbmode";

    /** What differs between the IPv4 and the IPv6 table: the nft family, the address type and the address match. */
    public enum Family {
        IPV4(IpFamily.IPV4, "ip", "ipv4_addr", "ip daddr", "ip saddr"),
        IPV6(IpFamily.IPV6, "ip6", "ipv6_addr", "ip6 daddr", "ip6 saddr");

        final IpFamily ip;
        /** nft table family ({@code ip}, {@code ip6}); also the {@code dnat ip to} / {@code dnat ip6 to} keyword. */
        public final String nft;
        final String addrType;
        final String daddr;
        final String saddr;

        Family(IpFamily ip, String nft, String addrType, String daddr, String saddr) {
            this.ip = ip;
            this.nft = nft;
            this.addrType = addrType;
            this.daddr = daddr;
            this.saddr = saddr;
        }

        static Family of(IpFamily ip) {
            return ip == IpFamily.IPV4 ? IPV4 : IPV6;
        }

        /** The match key {@code ip daddr . meta l4proto . th dport} of this family. */
        String key() {
            return daddr + " . meta l4proto . th dport";
        }
    }

    /** Packet-mark bit asking postrouting to masquerade; a high bit so it does not collide with kube-proxy's 0x4000. */
    public static final String MASQUERADE_MARK = "0x02000000";
    static final String SERVICE_PORTS = "service-ports";
    static final String BACKENDS = "backends";
    static final String MASQUERADE_PORTS = "masquerade-ports";
    static final String REJECT_PORTS = "reject-ports";
    /** VIP ports with {@code loadBalancerSourceRanges}: only clients in {@link #SOURCE_RANGES} may open connections. */
    static final String SOURCE_RANGE_PORTS = "source-range-ports";
    /** {@code VIP . proto . port . client prefix}, an interval set: the clients each restricted port accepts. */
    static final String SOURCE_RANGES = "source-ranges";
    /** Counts the packets refused by the source-range check (NodeDataplane {@code status.drops.notInSourceRanges}). */
    public static final String SOURCE_RANGE_DROPS = "source-range-drops";
    /** The key of {@link #SOURCE_RANGE_DROPS} in NodeDataplane {@code status.drops}: the one DSR uses for the same drop. */
    public static final String SOURCE_RANGE_DROP_REASON = "notInSourceRanges";
    /**
     * Prefix of the objects of a {@code sessionAffinity: ClientIP} port: its dispatch chain
     * {@code aff-VIP-PROTO-PORT}, and per backend a chain and a dynamic set {@code aff-VIP-PROTO-PORT-IP-PORT}.
     */
    static final String AFFINITY_PREFIX = "aff-";
    /**
     * pick-1 .. pick-{@value} exist from the full load on. Why not add them when needed: nft 1.0.6 can't add a rule
     * referencing the {@code typeof ... th dport . numgen} map once it is in the kernel (it fails re-reading the map's
     * typeof: "conflicting protocols specified: ip vs. th"), so new pick chains only come with a full replace, which
     * a service with more backends than this triggers.
     */
    static final int STATIC_PICKS = 64;

    /**
     * The objects of one {@code sessionAffinity: ClientIP} port, as kube-proxy's nftables mode builds them: per backend
     * a set of client addresses with the affinity timeout and a chain that refreshes the client's entry and DNATs to
     * the backend; a dispatch chain sends a client found in a backend's set to that backend, any other by
     * {@code numgen random} to one of them. Per-port objects (not map elements) because the timeout is part of a set
     * and a client's entry must vanish with its backend; Services with affinity are few.
     *
     * @param dispatch      the dispatch chain ({@code service-ports} jumps there)
     * @param dispatchRules its rules
     * @param endpoints     backend chain/set name -> what the backend needs
     */
    record Affinity(String dispatch, List<String> dispatchRules, SortedMap<String, AffinityEndpoint> endpoints) {
        static Affinity of(ServicePort sp) {
            Family family = Family.of(sp.family());
            // An nft name can't hold ':', so an IPv6 address is written with '.' between its groups.
            String dispatch = AFFINITY_PREFIX + name(sp.vip()) + "-" + sp.protocol().wireName() + "-" + sp.port();
            SortedMap<String, AffinityEndpoint> endpoints = new TreeMap<>();
            List<String> checks = new ArrayList<>();
            List<String> vmap = new ArrayList<>();
            List<Backend> bs = sp.backends();
            for (int i = 0; i < bs.size(); i++) {
                Backend b = bs.get(i);
                String name = dispatch + "-" + name(b.address()) + "-" + b.port();
                endpoints.put(name, new AffinityEndpoint(
                        "type " + family.addrType + "; flags dynamic,timeout; timeout " + sp.policy().affinityTimeoutSeconds() + "s",
                        List.of("update @" + name + " { " + family.saddr + " }",
                                "meta l4proto " + sp.protocol().wireName() + " dnat " + family.nft + " to " + b.endpoint())));
                checks.add(family.saddr + " @" + name + " goto " + name);
                vmap.add(i + " : goto " + name);
            }
            List<String> rules = new ArrayList<>(checks);
            rules.add("numgen random mod " + bs.size() + " vmap { " + String.join(", ", vmap) + " }");
            return new Affinity(dispatch, List.copyOf(rules), endpoints);
        }

        /** An address as part of an nft name: IPv4 as is, IPv6 with '.' for ':' (not allowed in a name). */
        private static String name(java.net.InetAddress address) {
            return Addresses.text(address).replace(':', '.');
        }

        /** In the order they can be created: sets, backend chains, dispatch chain. */
        List<NftObject> objects() {
            List<NftObject> l = new ArrayList<>();
            endpoints.forEach((name, ep) -> l.add(new NftObject.NftSet(name, false, ep.setDeclaration())));
            endpoints.forEach((name, ep) -> {
                l.add(NftObject.Chain.regular(name));
                ep.rules().forEach(r -> l.add(new NftObject.Rule(name, r)));
            });
            l.add(NftObject.Chain.regular(dispatch));
            dispatchRules.forEach(r -> l.add(new NftObject.Rule(dispatch, r)));
            return l;
        }
    }

    /** A backend of an affinity port: its set's declaration (with the timeout) and its chain's rules. */
    record AffinityEndpoint(String setDeclaration, List<String> rules) {
    }

    /** Every element of the maps/sets, the pick chains they need and the affinity objects; equal states give equal elements. */
    record Elements(SortedMap<String, String> servicePorts, SortedMap<String, String> backends,
                    SortedSet<String> masqueradePorts, SortedSet<String> rejectPorts, SortedSet<String> sourceRangePorts,
                    SortedSet<String> sourceRanges, SortedSet<Integer> pickChains, SortedMap<String, Affinity> affinity) {

        /** The IPv4 table's elements. */
        static Elements of(NodeState state) {
            return of(Family.IPV4, state);
        }

        /** The elements of {@code family}'s table: its service ports only. */
        static Elements of(Family family, NodeState state) {
            Builder b = new Builder();
            walk(family, state, b);
            return b.build();
        }

        int size() {
            return servicePorts.size() + backends.size() + masqueradePorts.size() + rejectPorts.size()
                    + sourceRangePorts.size() + sourceRanges.size();
        }
    }

    /**
     * Receives the elements a family's service ports need, port by port ({@link #walk}): the text form
     * ({@link Builder}) and the netlink form of a full load ({@link BulkElements}) are fed by the same walk, so what
     * a port needs is decided in one place.
     */
    interface ElementSink {
        /** {@code sp} has {@code loadBalancerSourceRanges} ({@link #SOURCE_RANGE_PORTS}). */
        void sourceRangePort(ServicePort sp);

        /** A client prefix {@code sp} accepts ({@link #SOURCE_RANGES}). */
        void sourceRange(ServicePort sp, Cidr prefix);

        /** {@code sp} has no backends: connections are refused ({@link #REJECT_PORTS}). */
        void reject(ServicePort sp);

        /** {@code sp} has {@code sessionAffinity: ClientIP}: its own chains and sets. */
        void affinity(ServicePort sp, Affinity affinity);

        /** {@code sp} is dispatched to {@code chain} ({@link #SERVICE_PORTS}); {@code picks} backends when it is a pick chain, else 0. */
        void servicePort(ServicePort sp, String chain, int picks);

        /** Backend {@code slot} of {@code sp} ({@link #BACKENDS}). */
        void backend(ServicePort sp, int slot, Backend backend);

        /** {@code sp}'s connections are masqueraded ({@link #MASQUERADE_PORTS}). */
        void masquerade(ServicePort sp);
    }

    /** Feeds {@code sink} the elements of every service port of {@code family} in {@code state}. */
    static void walk(Family family, NodeState state, ElementSink sink) {
        for (ServicePort sp : state.services()) {
            if (sp.family() != family.ip) {
                continue;
            }
            if (sp.policy().restricted()) {
                // Checked before everything else, backends or not: a refused client gets no answer at all.
                sink.sourceRangePort(sp);
                // Only the prefixes of the port's own family: a port whose ranges are all of the other family is
                // in source-range-ports with no range of its own, so it accepts no client (never all of them).
                outermost(sp.sourceRanges()).forEach(c -> sink.sourceRange(sp, c));
            }
            List<Backend> bs = sp.backends();
            if (bs.isEmpty()) {
                sink.reject(sp);
                continue;
            }
            if (sp.policy().affinity()) {
                Affinity a = Affinity.of(sp);
                sink.affinity(sp, a);
                sink.servicePort(sp, a.dispatch(), 0);
            } else {
                sink.servicePort(sp, pickChain(bs.size()), bs.size());
                for (int slot = 0; slot < bs.size(); slot++) {
                    sink.backend(sp, slot, bs.get(slot));
                }
            }
            if (!sp.localOnly()) {
                sink.masquerade(sp); // externalTrafficPolicy Local keeps the client address: never SNAT
            }
        }
    }

    /** Collects the walk's elements as text, the form of {@link Elements}. */
    static class Builder implements ElementSink {
        private final SortedMap<String, String> servicePorts = new TreeMap<>();
        private final SortedMap<String, String> backends = new TreeMap<>();
        private final SortedSet<String> masq = new TreeSet<>();
        private final SortedSet<String> reject = new TreeSet<>();
        private final SortedSet<String> rangePorts = new TreeSet<>();
        private final SortedSet<String> ranges = new TreeSet<>();
        private final SortedSet<Integer> picks = new TreeSet<>();
        private final SortedMap<String, Affinity> affinity = new TreeMap<>();
        private ServicePort keyOf;
        private String key;

        /** {@link SnatRuleset#key} of {@code sp}, computed once per port (the walk calls back several times per port). */
        private String key(ServicePort sp) {
            if (sp != keyOf) {
                keyOf = sp;
                key = SnatRuleset.key(sp);
            }
            return key;
        }

        @Override
        public void sourceRangePort(ServicePort sp) {
            rangePorts.add(key(sp));
        }

        @Override
        public void sourceRange(ServicePort sp, Cidr prefix) {
            ranges.add(key(sp) + " . " + prefix(prefix));
        }

        @Override
        public void reject(ServicePort sp) {
            reject.add(key(sp));
        }

        @Override
        public void affinity(ServicePort sp, Affinity a) {
            affinity.put(key(sp), a);
        }

        @Override
        public void servicePort(ServicePort sp, String chain, int pickCount) {
            servicePorts.put(key(sp), "goto " + chain);
            if (pickCount > 0) {
                picks.add(pickCount);
            }
        }

        @Override
        public void backend(ServicePort sp, int slot, Backend b) {
            backends.put(key(sp) + " . " + slot, Addresses.text(b.address()) + " . " + b.port());
        }

        @Override
        public void masquerade(ServicePort sp) {
            masq.add(key(sp));
        }

        Elements build() {
            return new Elements(servicePorts, backends, masq, reject, rangePorts, ranges, picks, affinity);
        }
    }

    /**
     * The prefixes not inside another one of the list: an interval set refuses overlapping elements, and a prefix
     * inside another adds no client.
     */
    static List<Cidr> outermost(List<Cidr> cidrs) {
        return cidrs.stream().filter(c -> cidrs.stream().noneMatch(o -> !o.equals(c) && o.length() < c.length()
                && o.contains(c.network()))).toList();
    }

    /** A prefix as nft lists it in an interval set: a /32 or /128 as the bare address. */
    static String prefix(Cidr c) {
        return c.host() ? Addresses.text(c.network()) : c.toString();
    }

    private SnatRuleset() {
    }

    static String key(ServicePort sp) {
        return Addresses.text(sp.vip()) + " . " + sp.protocol().wireName() + " . " + sp.port();
    }

    static String pickChain(int n) {
        return "pick-" + n;
    }

    /** Precedes the layout's fingerprint ({@link #layoutFingerprint}) in the table's comment. */
    static final String LAYOUT_MARK = "layout ";
    /** nft refuses longer comments. */
    private static final int COMMENT_MAX = 128;

    /**
     * The table with its comment, as the full load creates it: the fingerprint of the table's layout, then the node
     * (cut to nft's 128 characters: a long node name loses its end, never the fingerprint).
     */
    private static NftObject.Table table(Family family, String nodeName, String fingerprint) {
        String comment = "lbmode SNAT datapath" + (family == Family.IPV6 ? " (IPv6)" : "")
                + ", managed by the lbmode agent: edits are undone. " + LAYOUT_MARK + fingerprint + ", node " + nodeName;
        return new NftObject.Table(Optional.of(comment.length() > COMMENT_MAX ? comment.substring(0, COMMENT_MAX) : comment));
    }

    /** Whether a table comment names layout {@code fingerprint}. */
    static boolean hasLayout(String comment, String fingerprint) {
        return comment.contains(LAYOUT_MARK + fingerprint + ",");
    }

    /**
     * A hash of everything of the table but its elements, comment and counter values: chains, rules, set
     * declarations, pick chains and affinity objects ({@code objects} without the table). Equal fingerprints mean a
     * table of this layout can be refilled by replacing its elements only ({@link BulkElements#replacing}).
     */
    static String layoutFingerprint(List<NftObject> objects) {
        NftTransaction tx = new NftTransaction("-", "-");
        objects.forEach(o -> tx.add(o instanceof NftObject.Counter c ? NftObject.Counter.named(c.name()) : o));
        // FNV-1a, 64 bits: it tells layouts apart, nothing more (the table is root's to edit anyway); SHA-256's
        // provider costs a fresh JVM about 100 ms.
        String text = tx.script();
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < text.length(); i++) {
            h = (h ^ text.charAt(i)) * 0x100000001b3L;
        }
        String hex = Long.toHexString(h);
        return "0".repeat(16 - hex.length()) + hex;
    }

    /** The layout objects (everything but the table and the elements) of a full load. */
    private static List<NftObject> layoutObjects(Family family, Elements elements, SortedSet<Integer> picks, NftObject.Counter drops) {
        List<NftObject> l = layoutBody(family, picks, drops);
        elements.affinity().values().forEach(a -> l.addAll(a.objects())); // before the verdicts that goto them
        return l;
    }

    /** The fingerprint of the layout a full load of {@code state} gives {@code family}'s table. */
    static String layoutFingerprint(Family family, NodeState state) {
        Elements e = Elements.of(family, state);
        return layoutFingerprint(layoutObjects(family, e, picksFor(e), NftObject.Counter.named(SOURCE_RANGE_DROPS)));
    }

    /**
     * Everything of the table except the table itself, elements and affinity objects, in the order the full load
     * creates it: maps and sets, the drop counter (starting at {@code drops}' values), the base chains with their
     * static rules, and the pick chains {@code picks}.
     */
    private static List<NftObject> layoutBody(Family family, SortedSet<Integer> picks, NftObject.Counter drops) {
        String key = family.key();
        List<NftObject> l = new ArrayList<>();
        l.add(new NftObject.NftSet(SERVICE_PORTS, true, "type " + family.addrType + " . inet_proto . inet_service : verdict"));
        // typeof, because a numgen value has no named type a "type" declaration could use.
        l.add(new NftObject.NftSet(BACKENDS, true, "typeof " + key + " . numgen random mod 65536 : " + family.daddr + " . th dport"));
        l.add(new NftObject.NftSet(MASQUERADE_PORTS, false, "type " + family.addrType + " . inet_proto . inet_service"));
        l.add(new NftObject.NftSet(REJECT_PORTS, false, "type " + family.addrType + " . inet_proto . inet_service"));
        l.add(new NftObject.NftSet(SOURCE_RANGE_PORTS, false, "type " + family.addrType + " . inet_proto . inet_service"));
        l.add(new NftObject.NftSet(SOURCE_RANGES, false, "type " + family.addrType + " . inet_proto . inet_service . "
                + family.addrType + "; flags interval"));
        l.add(new NftObject.Counter(SOURCE_RANGE_DROPS, drops.packets(), drops.bytes()));
        for (String hook : List.of("prerouting", "output")) {
            // Before DNAT (-100), as kube-proxy's firewall check: new connections from clients outside the port's
            // ranges are dropped (not rejected: a refused client learns nothing) and counted.
            String chain = "firewall-" + hook;
            l.add(NftObject.Chain.base(chain, "type filter hook " + hook + " priority -110; policy accept;"));
            l.add(new NftObject.Rule(chain, "ct state new " + key + " @" + SOURCE_RANGE_PORTS + " " + key + " . "
                    + family.saddr + " != @" + SOURCE_RANGES + " counter name " + SOURCE_RANGE_DROPS + " drop"));
        }
        for (String hook : List.of("prerouting", "output")) {
            String chain = "nat-" + hook;
            // -100 = dstnat (the name is valid for prerouting only)
            l.add(NftObject.Chain.base(chain, "type nat hook " + hook + " priority -100; policy accept;"));
            l.add(new NftObject.Rule(chain, key + " @" + MASQUERADE_PORTS + " meta mark set meta mark | " + MASQUERADE_MARK));
            l.add(new NftObject.Rule(chain, key + " vmap @" + SERVICE_PORTS));
        }
        l.add(NftObject.Chain.base("nat-postrouting", "type nat hook postrouting priority srcnat; policy accept;"));
        l.add(new NftObject.Rule("nat-postrouting", "meta mark & " + MASQUERADE_MARK + " == " + MASQUERADE_MARK + " masquerade fully-random"));
        for (String hook : List.of("input", "forward", "output")) {
            String chain = "filter-" + hook;
            l.add(NftObject.Chain.base(chain, "type filter hook " + hook + " priority filter - 10; policy accept;"));
            l.add(new NftObject.Rule(chain, key + " @" + REJECT_PORTS + " meta l4proto tcp reject with tcp reset"));
            l.add(new NftObject.Rule(chain, key + " @" + REJECT_PORTS + " reject"));
        }
        for (int n : picks) {
            l.add(NftObject.Chain.regular(pickChain(n)));
            l.add(new NftObject.Rule(pickChain(n), "dnat " + family.nft + " to " + key + " . numgen random mod " + n + " map @" + BACKENDS));
        }
        return l;
    }

    /** Every element of {@code e}, in the order the full load adds them (backends before the verdicts using them). */
    static List<NftObject.Element> elements(Elements e) {
        List<NftObject.Element> l = new ArrayList<>(e.size());
        e.backends().forEach((k, v) -> l.add(NftObject.Element.of(BACKENDS, k, v)));
        e.servicePorts().forEach((k, v) -> l.add(NftObject.Element.of(SERVICE_PORTS, k, v)));
        e.masqueradePorts().forEach(k -> l.add(NftObject.Element.of(MASQUERADE_PORTS, k)));
        e.rejectPorts().forEach(k -> l.add(NftObject.Element.of(REJECT_PORTS, k)));
        e.sourceRanges().forEach(k -> l.add(NftObject.Element.of(SOURCE_RANGES, k)));
        e.sourceRangePorts().forEach(k -> l.add(NftObject.Element.of(SOURCE_RANGE_PORTS, k)));
        return l;
    }

    /** The table as it should be after a full load of {@code elements} with pick chains {@code picks}. */
    static List<NftObject> objects(String nodeName, Elements elements, SortedSet<Integer> picks, NftObject.Counter drops) {
        return objects(Family.IPV4, nodeName, elements, picks, drops);
    }

    static List<NftObject> objects(Family family, String nodeName, Elements elements, SortedSet<Integer> picks,
                                   NftObject.Counter drops) {
        List<NftObject> layout = layoutObjects(family, elements, picks, drops);
        List<NftObject> all = new ArrayList<>(layout.size() + elements.size() + 1);
        all.add(table(family, nodeName, layoutFingerprint(layout)));
        all.addAll(layout);
        all.addAll(elements(elements));
        return all;
    }

    /**
     * The transaction that replaces whatever table exists by {@code state} ({@code add} + {@code delete} makes the
     * delete safe when the table is absent; the new table exists before the transaction commits, so there is no
     * moment without rules).
     */
    static NftTransaction fullTransaction(NodeState state, NftObject.Counter drops) {
        return fullTransaction(Family.IPV4, state, drops);
    }

    static NftTransaction fullTransaction(Family family, NodeState state, NftObject.Counter drops) {
        return fullTransaction(family, state, Elements.of(family, state), drops);
    }

    /** {@link #fullTransaction(Family, NodeState, NftObject.Counter)} with {@code state}'s elements already built. */
    static NftTransaction fullTransaction(Family family, NodeState state, Elements e, NftObject.Counter drops) {
        return new NftTransaction(family.nft, TABLE).add(NftObject.Table.ANY).delete(NftObject.Table.ANY)
                .add(objects(family, state.node().name(), e, picksFor(e), drops));
    }

    /**
     * A full load whose elements go as one netlink batch ({@link BulkElements}): {@code script} (nft text, empty when
     * replacing) creates the table, its chains and rules and the affinity objects, then {@code bulk} fills the sets.
     *
     * @param picks       the pick chains the table has afterwards
     * @param changes     the number of elements
     * @param fingerprint the layout's fingerprint, in the table's comment ({@link #layoutFingerprint})
     * @param layout      the chains (with their number of rules) and sets of the table, as drift detection sees them
     */
    record BulkLoad(String script, BulkElements bulk, SortedSet<Integer> picks, int changes, String fingerprint,
                    Listing layout) {
    }

    /** A full load of a table that does not exist: the text part creates it. */
    static BulkLoad bulkLoad(Family family, NodeState state) {
        return bulkLoad(family, state, BulkElements.adding(family));
    }

    /** A full load into the table that exists with {@link BulkLoad#fingerprint}'s layout: elements only. */
    static BulkLoad bulkReplace(Family family, NodeState state) {
        BulkLoad load = bulkLoad(family, state, BulkElements.replacing(family));
        return new BulkLoad("", load.bulk(), load.picks(), load.changes(), load.fingerprint(), load.layout());
    }

    private static BulkLoad bulkLoad(Family family, NodeState state, BulkElements bulk) {
        // Besides the elements (bulk), only what shapes the layout: affinity objects and pick chains.
        SortedMap<String, Affinity> affinity = new TreeMap<>();
        SortedSet<Integer> pickCounts = new TreeSet<>();
        walk(family, state, new ElementSink() {
            @Override
            public void sourceRangePort(ServicePort sp) {
                bulk.sourceRangePort(sp);
            }

            @Override
            public void sourceRange(ServicePort sp, Cidr prefix) {
                bulk.sourceRange(sp, prefix);
            }

            @Override
            public void reject(ServicePort sp) {
                bulk.reject(sp);
            }

            @Override
            public void affinity(ServicePort sp, Affinity a) {
                affinity.put(key(sp), a);
            }

            @Override
            public void servicePort(ServicePort sp, String chain, int picks) {
                if (picks > 0) {
                    pickCounts.add(picks);
                }
                bulk.servicePort(sp, chain, picks);
            }

            @Override
            public void backend(ServicePort sp, int slot, Backend backend) {
                bulk.backend(sp, slot, backend);
            }

            @Override
            public void masquerade(ServicePort sp) {
                bulk.masquerade(sp);
            }
        });
        Elements none = new Elements(new TreeMap<>(), new TreeMap<>(), new TreeSet<>(), new TreeSet<>(), new TreeSet<>(),
                new TreeSet<>(), pickCounts, affinity);
        SortedSet<Integer> picks = picksFor(none);
        List<NftObject> objects = objects(family, state.node().name(), none, picks, NftObject.Counter.named(SOURCE_RANGE_DROPS));
        String script = new NftTransaction(family.nft, TABLE).add(NftObject.Table.ANY).delete(NftObject.Table.ANY)
                .add(objects).script();
        String fingerprint = layoutFingerprint(objects.subList(1, objects.size()));
        return new BulkLoad(script, bulk, picks, bulk.size(), fingerprint, Listing.of(objects));
    }

    /** {@link #fullTransaction} as the script the kernel boundary runs (the IPv4 table), with the drop counter at 0. */
    public static String full(NodeState state) {
        return fullTransaction(state, NftObject.Counter.named(SOURCE_RANGE_DROPS)).script();
    }

    /** {@link #full} with the drop counter starting at {@code drops}' values. */
    static String full(NodeState state, NftObject.Counter drops) {
        return fullTransaction(state, drops).script();
    }

    /** The full load of {@code family}'s table. */
    public static String full(Family family, NodeState state) {
        return full(family, state, NftObject.Counter.named(SOURCE_RANGE_DROPS));
    }

    /** {@link #full(Family, NodeState)} with the drop counter starting at {@code drops}' values. */
    static String full(Family family, NodeState state, NftObject.Counter drops) {
        return fullTransaction(family, state, drops).script();
    }

    /** Whether {@code state} has service ports of {@code family} (the IPv6 table exists only once it has had some). */
    static boolean uses(Family family, NodeState state) {
        return state.hasPortsOf(family.ip);
    }

    /** Pick chains a full load creates for these elements: the static ones plus any larger count in use. */
    static SortedSet<Integer> picksFor(Elements e) {
        SortedSet<Integer> picks = new TreeSet<>(e.pickChains());
        for (int n = 1; n <= STATIC_PICKS; n++) {
            picks.add(n);
        }
        return picks;
    }

    /** A UDP backend that left a service port: its conntrack entries are deleted after the change. */
    record StaleUdp(String vip, int port, String backend) {
    }

    /** The incremental script from an applied state to the desired one, and how many elements it touches. */
    record Diff(String script, int changes, boolean needsFullReplace, List<StaleUdp> staleUdp) {
        boolean isEmpty() {
            return changes == 0 && !needsFullReplace;
        }
    }

    /**
     * Only element adds and deletes, in one transaction: deletes first so a changed element can be re-added with its new value. Cost is
     * proportional to what changed, not to the number of services.
     *
     * @param existingPicks pick chains present in the kernel; a backend count without one needs a full replace
     *                      ({@link #STATIC_PICKS})
     */
    static Diff diff(NodeState old, NodeState desired, SortedSet<Integer> existingPicks) {
        return diff(Family.IPV4, old, desired, existingPicks);
    }

    /** {@link #diff(NodeState, NodeState, SortedSet)} of {@code family}'s table. */
    static Diff diff(Family family, NodeState old, NodeState desired, SortedSet<Integer> existingPicks) {
        // Elements only for the service ports that differ: a change costs O(change) element work, not O(all elements).
        NodeState.Changes changes = desired.changesFrom(old);
        List<ServicePort> before = changes.before();
        List<ServicePort> after = changes.after();
        Elements a = Elements.of(family, new NodeState(old.mode(), old.node(), old.hashSeed(), before));
        Elements b = Elements.of(family, new NodeState(desired.mode(), desired.node(), desired.hashSeed(), after));
        if (!existingPicks.containsAll(b.pickChains())) {
            return new Diff("", 0, true, List.of());
        }
        NftTransaction tx = new NftTransaction(family.nft, TABLE);
        // Restrictions first and lifted last: no moment in which a restricted port is open to every client.
        gone(b.sourceRanges(), a.sourceRanges()).forEach(k -> tx.add(NftObject.Element.of(SOURCE_RANGES, k)));
        gone(b.sourceRangePorts(), a.sourceRangePorts()).forEach(k -> tx.add(NftObject.Element.of(SOURCE_RANGE_PORTS, k)));
        // Deletes first, so a changed element can be re-added with its new value.
        changedOrGone(a.servicePorts(), b.servicePorts()).forEach(k -> tx.delete(NftObject.Element.of(SERVICE_PORTS, k)));
        changedOrGone(a.backends(), b.backends()).forEach(k -> tx.delete(NftObject.Element.of(BACKENDS, k)));
        gone(a.masqueradePorts(), b.masqueradePorts()).forEach(k -> tx.delete(NftObject.Element.of(MASQUERADE_PORTS, k)));
        gone(a.rejectPorts(), b.rejectPorts()).forEach(k -> tx.delete(NftObject.Element.of(REJECT_PORTS, k)));
        affinityChanges(a.affinity(), b.affinity(), tx);
        // Adds: masquerade mark before the verdict so no first packet is forwarded unmasqueraded.
        gone(b.masqueradePorts(), a.masqueradePorts()).forEach(k -> tx.add(NftObject.Element.of(MASQUERADE_PORTS, k)));
        newOrChanged(a.backends(), b.backends()).forEach((k, v) -> tx.add(NftObject.Element.of(BACKENDS, k, v)));
        newOrChanged(a.servicePorts(), b.servicePorts()).forEach((k, v) -> tx.add(NftObject.Element.of(SERVICE_PORTS, k, v)));
        gone(b.rejectPorts(), a.rejectPorts()).forEach(k -> tx.add(NftObject.Element.of(REJECT_PORTS, k)));
        gone(a.sourceRangePorts(), b.sourceRangePorts()).forEach(k -> tx.delete(NftObject.Element.of(SOURCE_RANGE_PORTS, k)));
        gone(a.sourceRanges(), b.sourceRanges()).forEach(k -> tx.delete(NftObject.Element.of(SOURCE_RANGES, k)));
        return new Diff(tx.script(), tx.elementChanges() + affinityObjectChanges(tx), false, staleUdp(before.stream().filter(sp -> sp.family() == family.ip).toList(), after));
    }

    /**
     * Affinity objects from {@code a} to {@code b}, after the {@code service-ports} deletes (nothing jumps to a chain
     * being removed) and before the adds (a verdict's chain exists before the verdict). A backend that stays keeps
     * its set, and with it the clients that stick to it; a changed dispatch chain is flushed and refilled.
     */
    private static void affinityChanges(SortedMap<String, Affinity> a, SortedMap<String, Affinity> b, NftTransaction tx) {
        List<String> goneChains = new ArrayList<>();
        List<String> goneSets = new ArrayList<>();
        a.forEach((key, old) -> {
            Affinity now = b.get(key);
            if (now != null && now.equals(old)) {
                return;
            }
            tx.flush(NftObject.Chain.regular(old.dispatch()));
            if (now == null) {
                goneChains.add(old.dispatch());
            }
            old.endpoints().forEach((name, ep) -> {
                AffinityEndpoint kept = now == null ? null : now.endpoints().get(name);
                if (!ep.equals(kept)) {
                    tx.flush(NftObject.Chain.regular(name));
                    goneChains.add(name);
                    goneSets.add(name);
                }
            });
        });
        goneChains.forEach(c -> tx.delete(NftObject.Chain.regular(c)));
        goneSets.forEach(set -> tx.delete(new NftObject.NftSet(set, false, "")));
        b.forEach((key, now) -> {
            Affinity old = a.get(key);
            if (now.equals(old)) {
                return;
            }
            now.endpoints().forEach((name, ep) -> {
                if (old == null || !ep.equals(old.endpoints().get(name))) {
                    tx.add(new NftObject.NftSet(name, false, ep.setDeclaration()));
                    tx.add(NftObject.Chain.regular(name));
                    ep.rules().forEach(r -> tx.add(new NftObject.Rule(name, r)));
                }
            });
            tx.add(NftObject.Chain.regular(now.dispatch()));
            now.dispatchRules().forEach(r -> tx.add(new NftObject.Rule(now.dispatch(), r)));
        });
    }

    private static int affinityObjectChanges(NftTransaction tx) {
        return (int) tx.ops().stream().filter(op -> !(op.object() instanceof NftObject.Element)).count();
    }

    private static List<StaleUdp> staleUdp(List<ServicePort> before, List<ServicePort> after) {
        List<StaleUdp> stale = new ArrayList<>();
        for (ServicePort old : before) {
            if (old.protocol() != io.lbmode.datapath.model.Protocol.UDP) {
                continue;
            }
            List<Backend> now = after.stream().filter(sp -> sp.key().equals(old.key())).findFirst()
                    .map(ServicePort::backends).orElse(List.of());
            for (Backend b : old.backends()) {
                if (!now.contains(b)) {
                    stale.add(new StaleUdp(Addresses.text(old.vip()), old.port(), Addresses.text(b.address())));
                }
            }
        }
        return stale;
    }

    private static List<String> changedOrGone(SortedMap<String, String> a, SortedMap<String, String> b) {
        List<String> out = new ArrayList<>();
        a.forEach((k, v) -> {
            if (!v.equals(b.get(k))) {
                out.add(k);
            }
        });
        return out;
    }

    private static SortedMap<String, String> newOrChanged(SortedMap<String, String> a, SortedMap<String, String> b) {
        SortedMap<String, String> out = new TreeMap<>();
        b.forEach((k, v) -> {
            if (!v.equals(a.get(k))) {
                out.put(k, v);
            }
        });
        return out;
    }

    private static List<String> gone(SortedSet<String> a, SortedSet<String> b) {
        return a.stream().filter(k -> !b.contains(k)).toList();
    }

    /** Script removing the table (and with it every chain, map and set lbmode made). */
    static String remove() {
        return remove(Family.IPV4);
    }

    static String remove(Family family) {
        return new NftTransaction(family.nft, TABLE).add(NftObject.Table.ANY).delete(NftObject.Table.ANY).script();
    }
}
