package io.lbmode.datapath.nft;

import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.ServicePort;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The SNAT ruleset as data: static chains that never change with Services, and four maps/sets whose elements carry
 * everything Service-specific. Pure (no kernel): renders the full atomic script and the incremental diff script.
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
 */
public final class SnatRuleset {
    public static final String FAMILY = "ip";
    public static final String TABLE = "lbmode";
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
    /** Elements per {@code add element} statement: keeps single lines reasonable for the nft parser. */
    private static final int CHUNK = 2000;

    private static final String KEY = "ip daddr . meta l4proto . th dport";

    /** Every element of the four maps/sets, and the pick chains they need; equal states give equal elements. */
    record Elements(SortedMap<String, String> servicePorts, SortedMap<String, String> backends,
                    SortedSet<String> masqueradePorts, SortedSet<String> rejectPorts, SortedSet<Integer> pickChains) {

        static Elements of(NodeState state) {
            SortedMap<String, String> servicePorts = new TreeMap<>();
            SortedMap<String, String> backends = new TreeMap<>();
            SortedSet<String> masq = new TreeSet<>();
            SortedSet<String> reject = new TreeSet<>();
            SortedSet<Integer> picks = new TreeSet<>();
            for (ServicePort sp : state.services()) {
                String key = key(sp);
                List<Backend> bs = sp.backends();
                if (bs.isEmpty()) {
                    reject.add(key);
                    continue;
                }
                picks.add(bs.size());
                servicePorts.put(key, "goto " + pickChain(bs.size()));
                for (int slot = 0; slot < bs.size(); slot++) {
                    backends.put(key + " . " + slot, bs.get(slot).address().getHostAddress() + " . " + bs.get(slot).port());
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
        return sp.vip().getHostAddress() + " . " + sp.protocol().wireName() + " . " + sp.port();
    }

    static String pickChain(int n) {
        return "pick-" + n;
    }

    private static String t() {
        return FAMILY + " " + TABLE;
    }

    /**
     * The script that replaces whatever table exists by {@code state} in one transaction ({@code add} + {@code delete}
     * makes the delete safe when the table is absent; the new table exists before the transaction commits, so there
     * is no moment without rules).
     */
    public static String full(NodeState state) {
        Elements e = Elements.of(state);
        StringBuilder s = new StringBuilder(128 + e.size() * 48);
        s.append("add table ").append(t()).append('\n');
        s.append("delete table ").append(t()).append('\n');
        s.append("add table ").append(t()).append(" { comment \"lbmode SNAT datapath of node ").append(state.node().name())
                .append(": managed by the lbmode agent, edits are undone\"; }\n");
        s.append("add map ").append(t()).append(' ').append(SERVICE_PORTS)
                .append(" { type ipv4_addr . inet_proto . inet_service : verdict; }\n");
        // typeof, because a numgen value has no named type a "type" declaration could use.
        s.append("add map ").append(t()).append(' ').append(BACKENDS).append(" { typeof ").append(KEY)
                .append(" . numgen random mod 65536 : ip daddr . th dport; }\n");
        s.append("add set ").append(t()).append(' ').append(MASQUERADE_PORTS)
                .append(" { type ipv4_addr . inet_proto . inet_service; }\n");
        s.append("add set ").append(t()).append(' ').append(REJECT_PORTS)
                .append(" { type ipv4_addr . inet_proto . inet_service; }\n");
        for (String hook : List.of("prerouting", "output")) {
            String chain = "nat-" + hook;
            s.append("add chain ").append(t()).append(' ').append(chain).append(" { type nat hook ").append(hook)
                    .append(" priority -100; policy accept; }\n"); // -100 = dstnat (the name is valid for prerouting only)
            s.append("add rule ").append(t()).append(' ').append(chain).append(' ').append(KEY).append(" @")
                    .append(MASQUERADE_PORTS).append(" meta mark set meta mark | ").append(MASQUERADE_MARK).append('\n');
            s.append("add rule ").append(t()).append(' ').append(chain).append(' ').append(KEY).append(" vmap @")
                    .append(SERVICE_PORTS).append('\n');
        }
        s.append("add chain ").append(t()).append(" nat-postrouting { type nat hook postrouting priority srcnat; policy accept; }\n");
        s.append("add rule ").append(t()).append(" nat-postrouting meta mark & ").append(MASQUERADE_MARK).append(" == ")
                .append(MASQUERADE_MARK).append(" masquerade fully-random\n");
        for (String hook : List.of("input", "forward", "output")) {
            String chain = "filter-" + hook;
            s.append("add chain ").append(t()).append(' ').append(chain).append(" { type filter hook ").append(hook)
                    .append(" priority filter - 10; policy accept; }\n");
            s.append("add rule ").append(t()).append(' ').append(chain).append(' ').append(KEY).append(" @")
                    .append(REJECT_PORTS).append(" meta l4proto tcp reject with tcp reset\n");
            s.append("add rule ").append(t()).append(' ').append(chain).append(' ').append(KEY).append(" @")
                    .append(REJECT_PORTS).append(" reject\n");
        }
        for (int n : picksFor(e)) {
            pickChain(s, n);
        }
        elements(s, "add", BACKENDS, mapElements(e.backends()));
        elements(s, "add", SERVICE_PORTS, mapElements(e.servicePorts()));
        elements(s, "add", MASQUERADE_PORTS, e.masqueradePorts());
        elements(s, "add", REJECT_PORTS, e.rejectPorts());
        return s.toString();
    }

    /** Pick chains a full load creates for these elements: the static ones plus any larger count in use. */
    static SortedSet<Integer> picksFor(Elements e) {
        SortedSet<Integer> picks = new TreeSet<>(e.pickChains());
        for (int n = 1; n <= STATIC_PICKS; n++) {
            picks.add(n);
        }
        return picks;
    }

    private static void pickChain(StringBuilder s, int n) {
        s.append("add chain ").append(t()).append(' ').append(pickChain(n)).append('\n');
        s.append("add rule ").append(t()).append(' ').append(pickChain(n)).append(" dnat ip to ").append(KEY)
                .append(" . numgen random mod ").append(n).append(" map @").append(BACKENDS).append('\n');
    }

    /** The incremental script from {@code old} to {@code desired}, and how many elements/chains it touches. */
    /** A UDP backend that left a service port: its conntrack entries are deleted after the change. */
    record StaleUdp(String vip, int port, String backend) {
    }

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
        Elements a = Elements.of(new NodeState(old.mode(), old.node(), old.hashSeed(), before));
        Elements b = Elements.of(new NodeState(desired.mode(), desired.node(), desired.hashSeed(), after));
        if (!existingPicks.containsAll(b.pickChains())) {
            return new Diff("", 0, true, List.of());
        }
        StringBuilder s = new StringBuilder();
        int changes = 0;
        List<String> svcDel = changedOrGone(a.servicePorts(), b.servicePorts());
        List<String> backDel = changedOrGone(a.backends(), b.backends());
        List<String> masqDel = gone(a.masqueradePorts(), b.masqueradePorts());
        List<String> rejDel = gone(a.rejectPorts(), b.rejectPorts());
        elements(s, "delete", SERVICE_PORTS, svcDel);
        elements(s, "delete", BACKENDS, backDel);
        elements(s, "delete", MASQUERADE_PORTS, masqDel);
        elements(s, "delete", REJECT_PORTS, rejDel);
        List<String> backAdd = newOrChanged(a.backends(), b.backends());
        List<String> svcAdd = newOrChanged(a.servicePorts(), b.servicePorts());
        List<String> masqAdd = gone(b.masqueradePorts(), a.masqueradePorts());
        List<String> rejAdd = gone(b.rejectPorts(), a.rejectPorts());
        // Adds: masquerade mark before the verdict so no first packet is forwarded unmasqueraded.
        elements(s, "add", MASQUERADE_PORTS, masqAdd);
        elements(s, "add", BACKENDS, backAdd);
        elements(s, "add", SERVICE_PORTS, svcAdd);
        elements(s, "add", REJECT_PORTS, rejAdd);
        changes += svcDel.size() + backDel.size() + masqDel.size() + rejDel.size()
                + backAdd.size() + svcAdd.size() + masqAdd.size() + rejAdd.size();
        return new Diff(s.toString(), changes, false, staleUdp(before, after));
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
                    stale.add(new StaleUdp(old.vip().getHostAddress(), old.port(), b.address().getHostAddress()));
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

    private static List<String> newOrChanged(SortedMap<String, String> a, SortedMap<String, String> b) {
        List<String> out = new ArrayList<>();
        b.forEach((k, v) -> {
            if (!v.equals(a.get(k))) {
                out.add(k + " : " + v);
            }
        });
        return out;
    }

    private static List<String> gone(SortedSet<String> a, SortedSet<String> b) {
        return a.stream().filter(k -> !b.contains(k)).toList();
    }

    private static List<String> mapElements(Map<String, String> m) {
        return m.entrySet().stream().map(en -> en.getKey() + " : " + en.getValue()).toList();
    }

    private static void elements(StringBuilder s, String verb, String set, Collection<String> elements) {
        List<String> list = List.copyOf(elements);
        for (int i = 0; i < list.size(); i += CHUNK) {
            s.append(verb).append(" element ").append(t()).append(' ').append(set).append(" { ")
                    .append(String.join(", ", list.subList(i, Math.min(list.size(), i + CHUNK)))).append(" }\n");
        }
    }

    /** Script removing the table (and with it every chain, map and set lbmode made). */
    static String remove() {
        return "add table " + t() + "\ndelete table " + t() + "\n";
    }
}
