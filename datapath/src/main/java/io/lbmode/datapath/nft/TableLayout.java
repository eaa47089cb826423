package io.lbmode.datapath.nft;

import java.util.Map;
import java.util.Set;

/**
 * What a table in the kernel is made of, without its elements: its comment, its chains with their number of rules,
 * its named sets and maps (as {@link Listing} has them). Enough to tell whether a full load may keep the table and
 * replace only its elements ({@link BulkElements#replacing}).
 */
record TableLayout(String comment, Map<String, Integer> ruleCounts, Set<String> sets) {

    /** Whether this is the layout of {@code expected} (a table listing without elements), with {@code fingerprint}. */
    boolean matches(Listing expected, String fingerprint) {
        return SnatRuleset.hasLayout(comment, fingerprint) && ruleCounts.equals(expected.ruleCounts())
                && sets.equals(expected.elements().keySet());
    }
}
