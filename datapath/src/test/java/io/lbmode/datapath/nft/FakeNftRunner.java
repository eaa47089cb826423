package io.lbmode.datapath.nft;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * In-memory stand-in for the kernel, for tests without root: understands the statements lbmode renders
 * (tables, maps, sets, chains, rules, element add/delete) with nft's transaction semantics (all or nothing) and
 * element rules (adding a key that exists with another value, or deleting a missing key, fails the transaction).
 */
public final class FakeNftRunner implements NftRunner {
    /** One table: sets/maps by name (element key -> value, "" for sets), chains by name (rules in order). */
    private record Table(Map<String, TreeMap<String, String>> sets, Map<String, List<String>> chains) {
        Table copy() {
            Map<String, TreeMap<String, String>> s = new LinkedHashMap<>();
            sets.forEach((k, v) -> s.put(k, new TreeMap<>(v)));
            Map<String, List<String>> c = new LinkedHashMap<>();
            chains.forEach((k, v) -> c.put(k, new ArrayList<>(v)));
            return new Table(s, c);
        }
    }

    private Map<String, Table> tables = new LinkedHashMap<>();
    private final List<String> scripts = new ArrayList<>();

    private static final Pattern STMT = Pattern.compile(
            "^(add|delete|flush) (table|map|set|chain|rule|element) (\\S+) (\\S+)(?: (\\S+))?(.*)$");

    @Override
    public synchronized void run(String script) {
        Map<String, Table> work = new LinkedHashMap<>();
        tables.forEach((k, v) -> work.put(k, v.copy()));
        int lineNo = 0;
        for (String line : script.split("\n")) {
            lineNo++;
            if (line.isBlank()) {
                continue;
            }
            Matcher m = STMT.matcher(line.strip());
            if (!m.matches()) {
                throw new NftException("line " + lineNo + ": fake nft does not understand: " + line);
            }
            String verb = m.group(1), what = m.group(2), table = m.group(3) + " " + m.group(4);
            String name = m.group(5) == null ? "" : m.group(5);
            String rest = m.group(6).strip();
            Table t = work.get(table);
            if (what.equals("table")) {
                switch (verb) {
                    case "add" -> work.putIfAbsent(table, new Table(new LinkedHashMap<>(), new LinkedHashMap<>()));
                    case "delete" -> {
                        if (work.remove(table) == null) {
                            throw new NftException("line " + lineNo + ": No such file or directory: table " + table);
                        }
                    }
                    default -> {
                        requireTable(t, table, lineNo);
                        t.sets().values().forEach(Map::clear);
                        t.chains().values().forEach(List::clear);
                    }
                }
                continue;
            }
            requireTable(t, table, lineNo);
            switch (what) {
                case "map", "set" -> t.sets().putIfAbsent(name, new TreeMap<>());
                case "chain" -> t.chains().putIfAbsent(name, new ArrayList<>());
                case "rule" -> {
                    List<String> chain = t.chains().get(name);
                    if (chain == null) {
                        throw new NftException("line " + lineNo + ": No such file or directory: chain " + name);
                    }
                    chain.add(rest);
                }
                case "element" -> element(t, verb, name, rest, lineNo);
                default -> throw new NftException("line " + lineNo + ": unsupported " + what);
            }
        }
        tables = work;
        scripts.add(script);
    }

    private static void requireTable(Table t, String table, int lineNo) {
        if (t == null) {
            throw new NftException("line " + lineNo + ": No such file or directory: table " + table);
        }
    }

    private static void element(Table t, String verb, String set, String rest, int lineNo) {
        TreeMap<String, String> elements = t.sets().get(set);
        if (elements == null) {
            throw new NftException("line " + lineNo + ": No such file or directory: set " + set);
        }
        String body = rest.replaceFirst("^\\{", "").replaceFirst("}$", "").strip();
        for (String e : body.split(",")) {
            String[] kv = e.split(" : ", 2);
            String key = kv[0].strip();
            String value = kv.length > 1 ? kv[1].strip() : "";
            if (verb.equals("add")) {
                String old = elements.get(key);
                if (old != null && !old.equals(value)) {
                    throw new NftException("line " + lineNo + ": File exists: element " + key + " in " + set);
                }
                elements.put(key, value);
            } else if (elements.remove(key) == null) {
                throw new NftException("line " + lineNo + ": No such file or directory: element " + key + " in " + set);
            }
        }
    }

    @Override
    public synchronized Optional<String> listTable(String family, String table) {
        Table t = tables.get(family + " " + table);
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
        Table t = tables.get(family + " " + table);
        return t == null || !t.sets().containsKey(set) ? Map.of() : Map.copyOf(t.sets().get(set));
    }

    /** Rules of a chain, for assertions. */
    public synchronized List<String> rules(String family, String table, String chain) {
        Table t = tables.get(family + " " + table);
        return t == null || !t.chains().containsKey(chain) ? List.of() : List.copyOf(t.chains().get(chain));
    }

    public synchronized boolean hasTable(String family, String table) {
        return tables.containsKey(family + " " + table);
    }
}
