package io.lbmode.datapath.nft;

import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.IpFamily;
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
 * {@link #layout} and {@link #elements}.
 *
 * <pre>
 * nat-prerouting / nat-output (dstnat):
 *   VIP.proto.port in @masquerade-ports -> meta mark |= 0x02000000     (postrouting masquerades marked packets)
 *   VIP.proto.port vmap @service-ports                                  (-> goto pick-N, N = number of backends)
 * pick-N:  dnat to VIP.proto.port.(numgen random mod N) map @backends   (one static chain per backend count, not per service)
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
        IPV4(IpFamily.IPV4, "ip", "ipv4_addr", "ip daddr"),
        IPV6(IpFamily.IPV6, "ip6", "ipv6_addr", "ip6 daddr");

        final IpFamily ip;
        /** nft table family ({@code ip}, {@code ip6}); also the {@code dnat ip to} / {@code dnat ip6 to} keyword. */
        public final String nft;
        final String addrType;
        final String daddr;

        Family(IpFamily ip, String nft, String addrType, String daddr) {
            this.ip = ip;
            this.nft = nft;
            this.addrType = addrType;
            this.daddr = daddr;
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
    /**
     * pick-1 .. pick-{@value} exist from the full load on. Why not add them when needed: nft 1.0.6 can't add a rule
     * referencing the {@code typeof ... th dport . numgen} map once it is in the kernel (it fails re-reading the map's
     * typeof: "conflicting protocols specified: ip vs. th"), so new pick chains only come with a full replace, which
     * a service with more backends than this triggers.
     */
    static final int STATIC_PICKS = 64;

    /** Every element of the four maps/sets, and the pick chains they need; equal states give equal elements. */
    record Elements(SortedMap<String, String> servicePorts, SortedMap<String, String> backends,
                    SortedSet<String> masqueradePorts, SortedSet<String> rejectPorts, SortedSet<Integer> pickChains) {

        /** The IPv4 table's elements. */
        static Elements of(NodeState state) {
            return of(Family.IPV4, state);
        }

        /** The elements of {@code family}'s table: its service ports only. */
        static Elements of(Family family, NodeState state) {
            SortedMap<String, String> servicePorts = new TreeMap<>();
            SortedMap<String, String> backends = new TreeMap<>();
            SortedSet<String> masq = new TreeSet<>();
            SortedSet<String> reject = new TreeSet<>();
            SortedSet<Integer> picks = new TreeSet<>();
            for (ServicePort sp : state.services()) {
                if (sp.family() != family.ip) {
                    continue;
                }
                String key = key(sp);
                List<Backend> bs = sp.backends();
                if (bs.isEmpty()) {
                    reject.add(key);
                    continue;
                }
                picks.add(bs.size());
                servicePorts.put(key, "goto " + pickChain(bs.size()));
                for (int slot = 0; slot < bs.size(); slot++) {
                    backends.put(key + " . " + slot, Addresses.text(bs.get(slot).address()) + " . " + bs.get(slot).port());
                }
                if (!sp.localOnly()) {
                    masq.add(key); // externalTrafficPolicy Local keeps the client address: never SNAT
                }
            }
            return new Elements(servicePorts, backends, masq, reject, picks);
        }

        int size() {
            return servicePorts.size() + backends.size() + masqueradePorts.size() + rejectPorts.size();
        }
    }

    private SnatRuleset() {
    }

    static String key(ServicePort sp) {
        return Addresses.text(sp.vip()) + " . " + sp.protocol().wireName() + " . " + sp.port();
    }

    static String pickChain(int n) {
        return "pick-" + n;
    }

    /** The table with its comment, as the full load creates it. */
    private static NftObject.Table table(Family family, String nodeName) {
        return new NftObject.Table(Optional.of("lbmode SNAT datapath of node " + nodeName
                + (family == Family.IPV6 ? " (IPv6)" : "") + ": managed by the lbmode agent, edits are undone"));
    }

    /**
     * Everything of the table except elements, in the order the full load creates it: maps and sets, the base
     * chains with their static rules, and the pick chains {@code picks}.
     */
    static List<NftObject> layout(String nodeName, SortedSet<Integer> picks) {
        return layout(Family.IPV4, nodeName, picks);
    }

    static List<NftObject> layout(Family family, String nodeName, SortedSet<Integer> picks) {
        String key = family.key();
        List<NftObject> l = new ArrayList<>();
        l.add(table(family, nodeName));
        l.add(new NftObject.NftSet(SERVICE_PORTS, true, "type " + family.addrType + " . inet_proto . inet_service : verdict"));
        // typeof, because a numgen value has no named type a "type" declaration could use.
        l.add(new NftObject.NftSet(BACKENDS, true, "typeof " + key + " . numgen random mod 65536 : " + family.daddr + " . th dport"));
        l.add(new NftObject.NftSet(MASQUERADE_PORTS, false, "type " + family.addrType + " . inet_proto . inet_service"));
        l.add(new NftObject.NftSet(REJECT_PORTS, false, "type " + family.addrType + " . inet_proto . inet_service"));
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
        return l;
    }

    /** The table as it should be after a full load of {@code elements} with pick chains {@code picks}. */
    static List<NftObject> objects(String nodeName, Elements elements, SortedSet<Integer> picks) {
        return objects(Family.IPV4, nodeName, elements, picks);
    }

    static List<NftObject> objects(Family family, String nodeName, Elements elements, SortedSet<Integer> picks) {
        List<NftObject> all = new ArrayList<>(layout(family, nodeName, picks));
        all.addAll(elements(elements));
        return all;
    }

    /**
     * The transaction that replaces whatever table exists by {@code state} ({@code add} + {@code delete} makes the
     * delete safe when the table is absent; the new table exists before the transaction commits, so there is no
     * moment without rules).
     */
    static NftTransaction fullTransaction(NodeState state) {
        return fullTransaction(Family.IPV4, state);
    }

    static NftTransaction fullTransaction(Family family, NodeState state) {
        Elements e = Elements.of(family, state);
        return new NftTransaction(family.nft, TABLE).add(NftObject.Table.ANY).delete(NftObject.Table.ANY)
                .add(objects(family, state.node().name(), e, picksFor(e)));
    }

    /** {@link #fullTransaction} as the script the kernel boundary runs (the IPv4 table). */
    public static String full(NodeState state) {
        return fullTransaction(state).script();
    }

    /** The full load of {@code family}'s table. */
    public static String full(Family family, NodeState state) {
        return fullTransaction(family, state).script();
    }

    /** Whether {@code state} has service ports of {@code family} (the IPv6 table exists only once it has had some). */
    static boolean uses(Family family, NodeState state) {
        return state.services().stream().anyMatch(sp -> sp.family() == family.ip);
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
        // Walk both sorted service lists and build elements only for service ports that differ: a change costs
        // O(services) record comparisons plus O(change) element work, not O(all elements).
        List<ServicePort> before = new ArrayList<>();
        List<ServicePort> after = new ArrayList<>();
        List<ServicePort> a0 = old.services();
        List<ServicePort> b0 = desired.services();
        int i = 0, j = 0;
        while (i < a0.size() || j < b0.size()) {
            int c = i >= a0.size() ? 1 : j >= b0.size() ? -1 : a0.get(i).key().compareTo(b0.get(j).key());
            if (c == 0) {
                if (!a0.get(i).equals(b0.get(j))) {
                    before.add(a0.get(i));
                    after.add(b0.get(j));
                }
                i++;
                j++;
            } else if (c < 0) {
                before.add(a0.get(i++));
            } else {
                after.add(b0.get(j++));
            }
        }
        Elements a = Elements.of(family, new NodeState(old.mode(), old.node(), old.hashSeed(), before));
        Elements b = Elements.of(family, new NodeState(desired.mode(), desired.node(), desired.hashSeed(), after));
        if (!existingPicks.containsAll(b.pickChains())) {
            return new Diff("", 0, true, List.of());
        }
        NftTransaction tx = new NftTransaction(family.nft, TABLE);
        // Deletes first, so a changed element can be re-added with its new value.
        changedOrGone(a.servicePorts(), b.servicePorts()).forEach(k -> tx.delete(NftObject.Element.of(SERVICE_PORTS, k)));
        changedOrGone(a.backends(), b.backends()).forEach(k -> tx.delete(NftObject.Element.of(BACKENDS, k)));
        gone(a.masqueradePorts(), b.masqueradePorts()).forEach(k -> tx.delete(NftObject.Element.of(MASQUERADE_PORTS, k)));
        gone(a.rejectPorts(), b.rejectPorts()).forEach(k -> tx.delete(NftObject.Element.of(REJECT_PORTS, k)));
        // Adds: masquerade mark before the verdict so no first packet is forwarded unmasqueraded.
        gone(b.masqueradePorts(), a.masqueradePorts()).forEach(k -> tx.add(NftObject.Element.of(MASQUERADE_PORTS, k)));
        newOrChanged(a.backends(), b.backends()).forEach((k, v) -> tx.add(NftObject.Element.of(BACKENDS, k, v)));
        newOrChanged(a.servicePorts(), b.servicePorts()).forEach((k, v) -> tx.add(NftObject.Element.of(SERVICE_PORTS, k, v)));
        gone(b.rejectPorts(), a.rejectPorts()).forEach(k -> tx.add(NftObject.Element.of(REJECT_PORTS, k)));
        return new Diff(tx.script(), tx.elementChanges(), false,
                staleUdp(before.stream().filter(sp -> sp.family() == family.ip).toList(), after));
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
