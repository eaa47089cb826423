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
 * SNAT mode: the table {@code ip lbmode} (see {@link SnatRuleset} for its layout). The first apply replaces any
 * existing table atomically (adoption after a restart: conntrack keeps established connections on their backends
 * since NAT bindings live in conntrack, not in the rules); later applies send only element changes.
 */
public final class SnatProgrammer implements ModeProgrammer {
    private final NftRunner nft;
    private final Conntrack conntrack;
    private Optional<NodeState> applied = Optional.empty();
    private final SortedSet<Integer> picks = new TreeSet<>();
    /** The ruleset generation after our last transaction or last clean drift check (see {@link #drifted}). */
    private OptionalLong knownGeneration = OptionalLong.empty();

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
            SnatRuleset.Diff diff = applied.isEmpty() ? null : SnatRuleset.diff(applied.get(), desired, picks);
            if (diff == null || diff.needsFullReplace()) {
                SnatRuleset.Elements elements = SnatRuleset.Elements.of(desired);
                nft.run(SnatRuleset.full(desired, dropCounter()));
                picks.clear();
                picks.addAll(SnatRuleset.picksFor(elements));
                remember(desired);
                knownGeneration = nft.generation();
                return new Applied(true, elements.size(), Duration.ofNanos(System.nanoTime() - start));
            }
            if (!diff.isEmpty()) {
                nft.run(diff.script());
                knownGeneration = nft.generation();
                diff.staleUdp().forEach(st -> conntrack.deleteUdp(st.vip(), st.port(), st.backend()));
            }
            remember(desired);
            return new Applied(false, diff.changes(), Duration.ofNanos(System.nanoTime() - start));
        } catch (NftException e) {
            // A failed incremental change may mean someone else changed the table: next apply starts from scratch.
            applied = Optional.empty();
            knownGeneration = OptionalLong.empty();
            throw new ProgrammingException("SNAT rules for node " + desired.node().name() + ": " + e.getMessage(), e);
        }
    }

    private void remember(NodeState desired) {
        applied = Optional.of(desired); // no read-back here: a change must cost O(change), drift checks read the kernel
    }

    @Override
    public String render(NodeState desired) {
        return SnatRuleset.full(desired);
    }

    /**
     * Lists the table and compares it only when the kernel's ruleset generation moved since our last transaction (or
     * last clean check): at 10,000 services a listing costs about a second and 100 MB of libnftables memory, a
     * generation one netlink round trip. A generation that moved for another table's sake costs one listing. (An
     * edit committed between our transaction and our reading of the generation right after it would go unseen until
     * the next change of any table: a window of microseconds.)
     */
    @Override
    public boolean drifted() {
        if (applied.isEmpty()) {
            return false;
        }
        OptionalLong generation = nft.generation();
        if (generation.isPresent() && generation.equals(knownGeneration)) {
            return false;
        }
        Optional<String> listing = nft.listTable(SnatRuleset.FAMILY, SnatRuleset.TABLE);
        if (listing.isEmpty()) {
            return true;
        }
        NodeState last = applied.get();
        boolean drifted = !Listing.parse(listing.get()).equals(Listing.of(SnatRuleset.objects(last.node().name(),
                SnatRuleset.Elements.of(last), picks, NftObject.Counter.named(SnatRuleset.SOURCE_RANGE_DROPS))));
        if (!drifted) {
            knownGeneration = generation; // read before the listing: an edit during it moves the generation again
        }
        return drifted;
    }

    @Override
    public void repair() {
        Optional<NodeState> last = applied;
        if (last.isEmpty()) {
            return;
        }
        applied = Optional.empty();
        apply(last.get());
    }

    @Override
    public void cleanup() {
        try {
            nft.run(SnatRuleset.remove());
        } catch (NftException e) {
            throw new ProgrammingException("removing table " + SnatRuleset.FAMILY + " " + SnatRuleset.TABLE + ": " + e.getMessage(), e);
        }
        applied = Optional.empty();
        knownGeneration = OptionalLong.empty();
        picks.clear();
    }

    /**
     * Packets dropped because their client is outside the port's {@code loadBalancerSourceRanges} (key
     * {@value SnatRuleset#SOURCE_RANGE_DROP_REASON}, as DSR names its drop reasons); only when there were any.
     * Connections to ports without endpoints are answered (reset/unreachable), not dropped, so they are not here.
     */
    @Override
    public Map<String, Long> dropCounters() {
        try {
            long packets = dropCounter().packets();
            return packets == 0 ? Map.of() : Map.of(SnatRuleset.SOURCE_RANGE_DROP_REASON, packets);
        } catch (NftException e) {
            return Map.of();
        }
    }

    /** The drop counter as the kernel has it now; zero when there is no table (yet). */
    private NftObject.Counter dropCounter() {
        return nft.listCounter(SnatRuleset.FAMILY, SnatRuleset.TABLE, SnatRuleset.SOURCE_RANGE_DROPS)
                .map(listing -> {
                    java.util.regex.Matcher m = COUNTER_VALUES.matcher(listing);
                    return m.find() ? new NftObject.Counter(SnatRuleset.SOURCE_RANGE_DROPS, Long.parseLong(m.group(1)),
                            Long.parseLong(m.group(2))) : null;
                })
                .orElse(NftObject.Counter.named(SnatRuleset.SOURCE_RANGE_DROPS));
    }

    private static final java.util.regex.Pattern COUNTER_VALUES = java.util.regex.Pattern.compile("packets (\\d+) bytes (\\d+)");
}
