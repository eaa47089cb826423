package io.lbmode.datapath.nft;

import io.lbmode.datapath.nft.NftObject.Chain;
import io.lbmode.datapath.nft.NftObject.Counter;
import io.lbmode.datapath.nft.NftObject.Element;
import io.lbmode.datapath.nft.NftObject.NftSet;
import io.lbmode.datapath.nft.NftObject.Rule;
import io.lbmode.datapath.nft.NftObject.Table;
import io.lbmode.datapath.nft.NftTransaction.Op;
import io.lbmode.datapath.nft.NftTransaction.Verb;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * In-memory stand-in for the kernel, for tests without root. It reads scripts with {@link NftTransaction#parse} (the
 * grammar the agent writes with, so the two can't disagree) and applies the typed operations with nft's transaction
 * semantics (all or nothing) and element rules (adding a key that exists with another value, or deleting a missing
 * key, fails the transaction).
 */
public final class FakeNftRunner implements NftRunner {
    /**
     * One table: sets/maps by name (element key -> value, "" for sets), chains by name (rules in order), counters by
     * name (packets; the fake sees no packets, {@link #count} stands in for them).
     */
    private record State(Map<String, TreeMap<String, String>> sets, Map<String, List<String>> chains,
                         Map<String, Long> counters, List<String> comment) {
        static State empty() {
            return new State(new LinkedHashMap<>(), new LinkedHashMap<>(), new LinkedHashMap<>(), new ArrayList<>());
        }

        State copy() {
            State c = empty();
            c.comment().addAll(comment);
            sets.forEach((k, v) -> c.sets().put(k, new TreeMap<>(v)));
            chains.forEach((k, v) -> c.chains().put(k, new ArrayList<>(v)));
            c.counters().putAll(counters);
            return c;
        }
    }

    private Map<String, State> tables = new LinkedHashMap<>();
    private final List<String> scripts = new ArrayList<>();
    private long generation;
    private int listings;

    private final List<String> elementBatches = new ArrayList<>();
    private boolean netlink;

    /**
     * Answers {@link #tableExists} and takes {@link #addElements}, as libnftables with netlink does (a full load into
     * a missing table then sends its bulk of elements apart, see {@link BulkElements}).
     */
    public FakeNftRunner withNetlink() {
        netlink = true;
        return this;
    }

    @Override
    public synchronized void run(String script) {
        commit(script);
        scripts.add(script);
    }

    private void commit(String script) {
        Map<String, State> work = new LinkedHashMap<>();
        tables.forEach((k, v) -> work.put(k, v.copy()));
        for (Op op : NftTransaction.parse(script)) {
            apply(work, op);
        }
        tables = work;
        generation++; // as the kernel: every committed transaction, of any table
    }

    @Override
    public synchronized Optional<Boolean> tableExists(String family, String table) {
        return netlink ? Optional.of(hasTable(family, table)) : Optional.empty();
    }

    /** The table's comment, chains (number of rules) and sets, when {@link #withNetlink}. */
    @Override
    public synchronized Optional<TableLayout> tableLayout(String family, String table) {
        State t = tables.get(family + " " + table);
        if (!netlink || t == null) {
            return Optional.empty();
        }
        Map<String, Integer> rules = new TreeMap<>();
        t.chains().forEach((name, r) -> rules.put(name, r.size()));
        return Optional.of(new TableLayout(t.comment().isEmpty() ? "" : t.comment().getFirst(), rules,
                new java.util.TreeSet<>(t.sets().keySet())));
    }

    /** Applies the batch's elements (as their text form) in one transaction; recorded in {@link #elementBatches}. */
    @Override
    public synchronized boolean addElements(BulkElements elements) {
        if (!netlink) {
            return false;
        }
        String script = elements.script();
        commit(script);
        elementBatches.add(script);
        return true;
    }

    /** The element batches {@link #addElements} committed, as text. */
    public synchronized List<String> elementBatches() {
        return List.copyOf(elementBatches);
    }

    @Override
    public synchronized java.util.OptionalLong generation() {
        return java.util.OptionalLong.of(generation);
    }

    /** How many times a table was listed. */
    public synchronized int listings() {
        return listings;
    }

    private static void apply(Map<String, State> work, Op op) {
        String table = op.family() + " " + op.table();
        if (op.object() instanceof Table newTable) {
            switch (op.verb()) {
                case ADD -> {
                    if (!work.containsKey(table)) { // as the kernel: a table's comment is set where it is created
                        State created = State.empty();
                        newTable.comment().ifPresent(created.comment()::add);
                        work.put(table, created);
                    }
                }
                case DELETE -> {
                    if (work.remove(table) == null) {
                        throw missing("table " + table);
                    }
                }
                case FLUSH -> {
                    State t = existing(work, table);
                    t.sets().values().forEach(Map::clear);
                    t.chains().values().forEach(List::clear);
                }
            }
            return;
        }
        State t = existing(work, table);
        switch (op.object()) {
            case NftSet set -> apply(op.verb(), t.sets(), set.name(), TreeMap::new, Map::clear, "set");
            case Chain chain -> apply(op.verb(), t.chains(), chain.name(), ArrayList::new, List::clear, "chain");
            case Rule rule -> {
                if (op.verb() != Verb.ADD) {
                    throw new NftException("fake nft: only add rule is supported");
                }
                List<String> rules = t.chains().get(rule.chain());
                if (rules == null) {
                    throw missing("chain " + rule.chain());
                }
                for (String ref : references(rule.expression())) {
                    if (!t.sets().containsKey(ref) && !t.chains().containsKey(ref)) {
                        throw missing("set or chain " + ref + " (referenced by a rule of " + rule.chain() + ")");
                    }
                }
                rules.add(rule.expression());
            }
            case Element e -> element(t, op.verb(), e);
            case Counter c -> {
                switch (op.verb()) {
                    case ADD -> t.counters().putIfAbsent(c.name(), c.packets());
                    case DELETE -> {
                        if (t.counters().remove(c.name()) == null) {
                            throw missing("counter " + c.name());
                        }
                    }
                    case FLUSH -> throw new NftException("fake nft: flush counter is not nft syntax");
                }
            }
            case Table ignored -> throw new IllegalStateException("handled above");
        }
    }

    /** Sets ({@code @name}) and chains ({@code goto name}) a rule refers to: they must exist when it is added. */
    private static List<String> references(String expression) {
        List<String> refs = new ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("@([A-Za-z][\\w.-]*)|goto ([A-Za-z][\\w.-]*)").matcher(expression);
        while (m.find()) {
            refs.add(m.group(1) != null ? m.group(1) : m.group(2));
        }
        return refs;
    }

    /** Stands in for packets the kernel would have counted. */
    public synchronized void count(String family, String table, String counter, long packets) {
        State t = existing(tables, family + " " + table);
        if (!t.counters().containsKey(counter)) {
            throw missing("counter " + counter);
        }
        t.counters().merge(counter, packets, Long::sum);
    }

    @Override
    public synchronized Optional<String> listCounter(String family, String table, String counter) {
        State t = tables.get(family + " " + table);
        if (t == null || !t.counters().containsKey(counter)) {
            return Optional.empty();
        }
        return Optional.of("table " + family + " " + table + " {\n\tcounter " + counter + " {\n\t\tpackets "
                + t.counters().get(counter) + " bytes 0\n\t}\n}\n");
    }

    private static <T> void apply(Verb verb, Map<String, T> objects, String name, java.util.function.Supplier<T> create,
                                  java.util.function.Consumer<T> flush, String what) {
        switch (verb) {
            case ADD -> objects.putIfAbsent(name, create.get());
            case DELETE -> {
                if (objects.remove(name) == null) {
                    throw missing(what + " " + name);
                }
            }
            case FLUSH -> {
                T o = objects.get(name);
                if (o == null) {
                    throw missing(what + " " + name);
                }
                flush.accept(o);
            }
        }
    }

    private static void element(State t, Verb verb, Element e) {
        TreeMap<String, String> elements = t.sets().get(e.set());
        if (elements == null) {
            throw missing("set " + e.set());
        }
        String value = e.value().orElse("");
        switch (verb) {
            case ADD -> {
                String old = elements.get(e.key());
                if (old != null && !old.equals(value)) {
                    throw new NftException("File exists: element " + e.key() + " in " + e.set());
                }
                elements.put(e.key(), value);
            }
            case DELETE -> {
                if (elements.remove(e.key()) == null) {
                    throw missing("element " + e.key() + " in " + e.set());
                }
            }
            case FLUSH -> throw new NftException("fake nft: flush element is not nft syntax");
        }
    }

    private static State existing(Map<String, State> work, String table) {
        State t = work.get(table);
        if (t == null) {
            throw missing("table " + table);
        }
        return t;
    }

    private static NftException missing(String what) {
        return new NftException("No such file or directory: " + what);
    }

    @Override
    public synchronized Optional<String> listTable(String family, String table) {
        listings++;
        State t = tables.get(family + " " + table);
        if (t == null) {
            return Optional.empty();
        }
        StringBuilder s = new StringBuilder("table " + family + " " + table + " {\n");
        t.sets().forEach((name, el) -> {
            s.append("\tset ").append(name).append(" {\n");
            if (!el.isEmpty()) {
                List<String> items = new ArrayList<>();
                el.forEach((k, v) -> items.add(v.isEmpty() ? k : k + " : " + v));
                s.append("\t\telements = { ").append(String.join(",\n\t\t\t", items)).append(" }\n");
            }
            s.append("\t}\n");
        });
        t.chains().forEach((name, rules) -> {
            s.append("\tchain ").append(name).append(" {\n");
            rules.forEach(r -> s.append("\t\t").append(r).append('\n'));
            s.append("\t}\n");
        });
        return Optional.of(s.append("}\n").toString());
    }

    @Override
    public String describe() {
        return "fake (in memory)";
    }

    /** Every script that committed, in order. */
    public synchronized List<String> scripts() {
        return List.copyOf(scripts);
    }

    /** Elements of a set or map (key -> value; value "" for sets), for assertions. */
    public synchronized Map<String, String> elements(String family, String table, String set) {
        State t = tables.get(family + " " + table);
        return t == null || !t.sets().containsKey(set) ? Map.of() : Map.copyOf(t.sets().get(set));
    }

    /** Rules of a chain, for assertions. */
    public synchronized List<String> rules(String family, String table, String chain) {
        State t = tables.get(family + " " + table);
        return t == null || !t.chains().containsKey(chain) ? List.of() : List.copyOf(t.chains().get(chain));
    }

    public synchronized boolean hasTable(String family, String table) {
        return tables.containsKey(family + " " + table);
    }
}
