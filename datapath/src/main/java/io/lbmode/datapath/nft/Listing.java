package io.lbmode.datapath.nft;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What drift detection compares: the elements of every set/map and the number of rules of every chain, read from
 * {@code nft list table} text. Element order (hash buckets), handles and nft's re-formatting of rules don't matter;
 * a flushed table, a deleted chain or rule, and an added/removed/changed element do.
 */
record Listing(Map<String, Set<String>> elements, Map<String, Integer> ruleCounts) {

    static Listing parse(String listing) {
        Map<String, Set<String>> elements = new TreeMap<>();
        Map<String, Integer> rules = new TreeMap<>();
        String set = null;
        String chain = null;
        StringBuilder elementText = null;
        boolean skipElements = false;
        for (String raw : listing.split("\n")) {
            String line = raw.strip();
            if (elementText != null) {
                elementText.append(' ').append(line);
                if (line.endsWith("}")) {
                    if (!skipElements) {
                        addElements(elements, set, elementText);
                    }
                    elementText = null;
                    skipElements = false;
                }
                continue;
            }
            if (line.startsWith("map ") || line.startsWith("set ")) {
                set = line.split("\\s+")[1];
                chain = null;
                elements.put(set, new TreeSet<>());
            } else if (line.startsWith("chain ")) {
                chain = line.split("\\s+")[1];
                set = null;
                rules.put(chain, 0);
            } else if (line.startsWith("counter ") && line.endsWith("{")) {
                set = null; // a named counter's block: its values change with traffic, and are not compared
                chain = null;
            } else if (set != null && set.startsWith(SnatRuleset.AFFINITY_PREFIX)) {
                // an affinity set's elements are the clients the kernel remembers (update @set), not ours to compare
                if (line.startsWith("elements = {") && !line.endsWith("}")) {
                    elementText = new StringBuilder();
                    skipElements = true;
                }
            } else if (set != null && line.startsWith("elements = {")) {
                elementText = new StringBuilder(line.substring("elements = {".length()));
                if (line.endsWith("}")) {
                    addElements(elements, set, elementText);
                    elementText = null;
                }
            } else if (chain != null && !line.isEmpty() && !line.equals("}") && !line.startsWith("type ")
                    && !line.startsWith("comment ") && !line.startsWith("policy ")) {
                rules.merge(chain, 1, Integer::sum);
            }
        }
        return new Listing(elements, rules);
    }

    private static void addElements(Map<String, Set<String>> elements, String set, StringBuilder text) {
        String body = text.toString().strip();
        if (body.endsWith("}")) {
            body = body.substring(0, body.length() - 1);
        }
        Arrays.stream(body.split(",")).map(String::strip).filter(e -> !e.isEmpty()).forEach(elements.get(set)::add);
    }

    /**
     * The listing a table holding exactly {@code objects} gives: each set's and map's elements (as nft lists them:
     * {@code key} or {@code key : value}), each chain's number of rules.
     */
    static Listing of(List<NftObject> objects) {
        Map<String, Set<String>> elements = new TreeMap<>();
        Map<String, Integer> rules = new TreeMap<>();
        for (NftObject o : objects) {
            switch (o) {
                case NftObject.NftSet set -> elements.putIfAbsent(set.name(), new TreeSet<>());
                case NftObject.Chain chain -> rules.putIfAbsent(chain.name(), 0);
                case NftObject.Rule rule -> rules.merge(rule.chain(), 1, Integer::sum);
                case NftObject.Element e -> elements.computeIfAbsent(e.set(), k -> new TreeSet<>()).add(e.body());
                case NftObject.Table t -> {
                }
                case NftObject.Counter c -> {
                }
            }
        }
        return new Listing(elements, rules);
    }
}
