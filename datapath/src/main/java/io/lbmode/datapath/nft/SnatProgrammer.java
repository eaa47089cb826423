package io.lbmode.datapath.nft;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.program.Applied;
import io.lbmode.datapath.program.ModeProgrammer;
import io.lbmode.datapath.program.ProgrammingException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * SNAT mode: the table {@code ip lbmode} (see {@link SnatRuleset} for its layout) and, once the node has IPv6
 * service ports, the table {@code ip6 lbmode} with the same layout. The first apply loads each table whole: its
 * elements go as one netlink batch ({@link BulkElements}) into a table just created or into the table a previous
 * agent left when it has the same layout (a restart: its sets are flushed and refilled in that one transaction);
 * any other table is replaced atomically in one nft transaction. Established connections survive either way (NAT
 * bindings live in conntrack, not in the rules). Later applies send only element changes. Both tables change in
 * one transaction, so a dual-stack Service appears in both families at once.
 */
public final class SnatProgrammer implements ModeProgrammer {
    private final NftRunner nft;
    private final Conntrack conntrack;
    /** The IPv4 table, always programmed (an IPv4-only node sees exactly what it saw before IPv6 existed). */
    private final FamilyTable ipv4 = new FamilyTable(SnatRuleset.Family.IPV4);
    /** The IPv6 table: loaded the first time the node has an IPv6 service port, kept (maybe empty) after that. */
    private final FamilyTable ipv6 = new FamilyTable(SnatRuleset.Family.IPV6);
    /** The ruleset generation after our last transaction or last clean drift check (see {@link #drifted}). */
    private OptionalLong knownGeneration = OptionalLong.empty();

    /** What is programmed in one family's table. */
    private static final class FamilyTable {
        final SnatRuleset.Family family;
        Optional<NodeState> applied = Optional.empty();
        final SortedSet<Integer> picks = new TreeSet<>();
        /** The table may exist in the kernel (loaded once, not cleaned up since): it stays managed. */
        boolean loaded;

        FamilyTable(SnatRuleset.Family family) {
            this.family = family;
        }

        /** The IPv4 table always; the IPv6 one when it was loaded before or {@code desired} needs it. */
        boolean wanted(NodeState desired) {
            return family == SnatRuleset.Family.IPV4 || loaded || SnatRuleset.uses(family, desired);
        }

        /** After a failure: the next apply loads the table whole again. */
        void forget() {
            applied = Optional.empty();
            picks.clear();
        }
    }

    /**
     * One family's part of a change, before it runs: {@code script}, then (a full load into a table that did not
     * exist) {@code bulk}, the elements sent over netlink; {@code picks} are the pick chains of a full load.
     */
    private record Step(FamilyTable table, boolean full, String script, Optional<BulkElements> bulk, int changes,
                        SortedSet<Integer> picks, java.util.List<SnatRuleset.StaleUdp> staleUdp) {
        /** The same step with its elements as nft text, in its script. */
        Step inText() {
            return new Step(table, full, script + bulk.map(BulkElements::script).orElse(""), Optional.empty(), changes,
                    picks, staleUdp);
        }
    }

    private Optional<Step> step(FamilyTable t, NodeState desired) {
        if (!t.wanted(desired)) {
            return Optional.empty();
        }
        SnatRuleset.Diff diff = t.applied.isEmpty() ? null : SnatRuleset.diff(t.family, t.applied.get(), desired, t.picks);
        if (diff != null && !diff.needsFullReplace()) {
            return Optional.of(new Step(t, false, diff.script(), Optional.empty(), diff.changes(), null, diff.staleUdp()));
        }
        Optional<Boolean> exists = nft.tableExists(t.family.nft, SnatRuleset.TABLE);
        if (exists.equals(Optional.of(false))) {
            // No table to replace, so no forwarding to keep atomic: the elements skip nft's parser (BulkElements).
            SnatRuleset.BulkLoad load = SnatRuleset.bulkLoad(t.family, desired);
            return Optional.of(new Step(t, true, load.script(), Optional.of(load.bulk()), load.changes(), load.picks(),
                    java.util.List.of()));
        }
        if (exists.isPresent()) {
            // The table this load would create is there already (a restarted agent): swap its elements in one
            // transaction and keep the rest, affinity sets and their clients included.
            SnatRuleset.BulkLoad load = SnatRuleset.bulkReplace(t.family, desired);
            if (nft.tableLayout(t.family.nft, SnatRuleset.TABLE).filter(l -> l.matches(load.layout(), load.fingerprint())).isPresent()) {
                return Optional.of(new Step(t, true, "", Optional.of(load.bulk()), load.changes(), load.picks(),
                        java.util.List.of()));
            }
        }
        SnatRuleset.Elements elements = SnatRuleset.Elements.of(t.family, desired);
        return Optional.of(new Step(t, true, SnatRuleset.fullTransaction(t.family, desired, elements, dropCounter(t.family)).script(),
                Optional.empty(), elements.size(), SnatRuleset.picksFor(elements), java.util.List.of()));
    }

    /** Without conntrack cleanup: for tests on the fake kernel and dry runs. */
    public SnatProgrammer(NftRunner nft) {
        this(nft, Conntrack.NONE);
    }

    public SnatProgrammer(NftRunner nft, Conntrack conntrack) {
        this.nft = nft;
        this.conntrack = conntrack;
    }

    @Override
    public ForwardMode mode() {
        return ForwardMode.SNAT;
    }

    @Override
    public Applied apply(NodeState desired) {
        long start = System.nanoTime();
        try {
            java.util.List<Step> steps = new java.util.ArrayList<>();
            step(ipv4, desired).ifPresent(steps::add);
            step(ipv6, desired).ifPresent(steps::add);
            if (steps.stream().anyMatch(st -> !st.full() && !st.script().isEmpty())) {
                // A change of one table with a full load of the other (a node's first IPv6 port): one transaction,
                // so that a dual-stack Service appears in both families at once.
                steps.replaceAll(Step::inText);
            }
            String script = steps.stream().map(Step::script).collect(java.util.stream.Collectors.joining());
            boolean ran = !script.isEmpty();
            if (ran) {
                nft.run(script);
            }
            java.util.List<BulkElements> bulk = steps.stream().flatMap(st -> st.bulk().stream()).toList();
            if (!bulk.isEmpty()) {
                BulkElements all = BulkElements.of(bulk); // both tables' elements in one transaction
                if (!nft.addElements(all)) {
                    nft.run(all.script());
                }
            }
            if (ran || !bulk.isEmpty()) {
                knownGeneration = nft.generation();
            }
            for (Step st : steps) {
                if (st.full()) {
                    st.table().picks.clear();
                    st.table().picks.addAll(st.picks());
                } else {
                    st.staleUdp().forEach(u -> conntrack.deleteUdp(u.vip(), u.port(), u.backend()));
                }
                // no read-back here: a change must cost O(change), drift checks read the kernel
                st.table().applied = Optional.of(desired);
                st.table().loaded = true;
            }
            boolean full = steps.stream().anyMatch(Step::full);
            return new Applied(full, steps.stream().mapToInt(Step::changes).sum(), Duration.ofNanos(System.nanoTime() - start));
        } catch (NftException e) {
            // A failed incremental change may mean someone else changed the table: next apply starts from scratch.
            ipv4.forget();
            ipv6.forget(); // still "loaded": reloaded next time, since it may hold IPv6 ports
            knownGeneration = OptionalLong.empty();
            throw new ProgrammingException("SNAT rules for node " + desired.node().name() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String render(NodeState desired) {
        return SnatRuleset.full(desired) + (SnatRuleset.uses(SnatRuleset.Family.IPV6, desired)
                ? SnatRuleset.full(SnatRuleset.Family.IPV6, desired) : "");
    }

    /**
     * Lists the tables and compares them only when the kernel's ruleset generation moved since our last transaction
     * (or last clean check): at 10,000 services a listing costs about a second and 100 MB of libnftables memory, a
     * generation one netlink round trip. A generation that moved for another table's sake costs one listing. (An
     * edit committed between our transaction and our reading of the generation right after it would go unseen until
     * the next change of any table: a window of microseconds.)
     */
    @Override
    public boolean drifted() {
        if (ipv4.applied.isEmpty()) {
            return false;
        }
        OptionalLong generation = nft.generation();
        if (generation.isPresent() && generation.equals(knownGeneration)) {
            return false;
        }
        boolean drifted = drifted(ipv4) || (ipv6.applied.isPresent() && drifted(ipv6));
        if (!drifted) {
            knownGeneration = generation; // read before the listing: an edit during it moves the generation again
        }
        return drifted;
    }

    private boolean drifted(FamilyTable t) {
        Optional<String> listing = nft.listTable(t.family.nft, SnatRuleset.TABLE);
        if (listing.isEmpty()) {
            return true;
        }
        NodeState last = t.applied.get();
        return !Listing.parse(listing.get()).equals(Listing.of(
                SnatRuleset.objects(t.family, last.node().name(), SnatRuleset.Elements.of(t.family, last), t.picks,
                        NftObject.Counter.named(SnatRuleset.SOURCE_RANGE_DROPS))));
    }

    @Override
    public void repair() {
        Optional<NodeState> last = ipv4.applied;
        if (last.isEmpty()) {
            return;
        }
        ipv4.forget();
        ipv6.forget();
        apply(last.get());
    }

    @Override
    public void cleanup() {
        for (SnatRuleset.Family family : SnatRuleset.Family.values()) {
            try {
                nft.run(SnatRuleset.remove(family));
            } catch (NftException e) {
                throw new ProgrammingException("removing table " + family.nft + " " + SnatRuleset.TABLE + ": " + e.getMessage(), e);
            }
        }
        ipv4.forget();
        ipv6.forget();
        ipv6.loaded = false;
        knownGeneration = OptionalLong.empty();
    }

    /**
     * Packets dropped because their client is outside the port's {@code loadBalancerSourceRanges} (key
     * {@value SnatRuleset#SOURCE_RANGE_DROP_REASON}, as DSR names its drop reasons); only when there were any.
     * Connections to ports without endpoints are answered (reset/unreachable), not dropped, so they are not here.
     */
    @Override
    public Map<String, Long> dropCounters() {
        try {
            long packets = 0;
            for (SnatRuleset.Family family : SnatRuleset.Family.values()) {
                packets += dropCounter(family).packets(); // one counter per family table, one key
            }
            return packets == 0 ? Map.of() : Map.of(SnatRuleset.SOURCE_RANGE_DROP_REASON, packets);
        } catch (NftException e) {
            return Map.of();
        }
    }

    /** {@code family}'s drop counter as the kernel has it now; zero when there is no such table (yet). */
    private NftObject.Counter dropCounter(SnatRuleset.Family family) {
        return nft.listCounter(family.nft, SnatRuleset.TABLE, SnatRuleset.SOURCE_RANGE_DROPS)
                .map(listing -> {
                    java.util.regex.Matcher m = COUNTER_VALUES.matcher(listing);
                    return m.find() ? new NftObject.Counter(SnatRuleset.SOURCE_RANGE_DROPS, Long.parseLong(m.group(1)),
                            Long.parseLong(m.group(2))) : null;
                })
                .orElse(NftObject.Counter.named(SnatRuleset.SOURCE_RANGE_DROPS));
    }

    private static final java.util.regex.Pattern COUNTER_VALUES = java.util.regex.Pattern.compile("packets (\\d+) bytes (\\d+)");
}
