package io.lbmode.datapath.nft;

import io.lbmode.datapath.nft.NftObject.Chain;
import io.lbmode.datapath.nft.NftObject.Counter;
import io.lbmode.datapath.nft.NftObject.Element;
import io.lbmode.datapath.nft.NftObject.NftSet;
import io.lbmode.datapath.nft.NftObject.Rule;
import io.lbmode.datapath.nft.NftObject.Table;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * One nftables transaction on one table, as a list of typed operations ({@code add}, {@code delete}, {@code flush}
 * of an {@link NftObject}): the kernel applies all of them or none. {@link #script} renders the {@code nft -f} text
 * the kernel boundary sends; {@link #parse} reads such text back into operations (what the fake kernel executes).
 */
final class NftTransaction {
    /** Elements per {@code add element} statement: keeps single lines reasonable for the nft parser. */
    static final int ELEMENTS_PER_STATEMENT = 2000;

    enum Verb {
        ADD, DELETE, FLUSH;

        String word() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** One operation: {@code VERB} the object in table {@code FAMILY NAME}. */
    record Op(Verb verb, String family, String table, NftObject object) {
    }

    private final String family;
    private final String table;
    private final List<Op> ops = new ArrayList<>();

    NftTransaction(String family, String table) {
        this.family = family;
        this.table = table;
    }

    NftTransaction add(NftObject object) {
        ops.add(new Op(Verb.ADD, family, table, object));
        return this;
    }

    NftTransaction add(Iterable<? extends NftObject> objects) {
        objects.forEach(this::add);
        return this;
    }

    NftTransaction delete(NftObject object) {
        ops.add(new Op(Verb.DELETE, family, table, object));
        return this;
    }

    /** {@code flush chain}: removes its rules (and so their references to sets and chains), keeps the chain. */
    NftTransaction flush(NftObject object) {
        ops.add(new Op(Verb.FLUSH, family, table, object));
        return this;
    }

    List<Op> ops() {
        return List.copyOf(ops);
    }

    /** Element operations: what an incremental change costs. */
    int elementChanges() {
        return (int) ops.stream().filter(op -> op.object() instanceof Element).count();
    }

    boolean isEmpty() {
        return ops.isEmpty();
    }

    /**
     * The {@code nft -f} script: one statement per operation, except that consecutive element operations with the
     * same verb and set share statements of up to {@value #ELEMENTS_PER_STATEMENT} elements.
     */
    String script() {
        StringBuilder s = new StringBuilder(64 + ops.size() * 48);
        int i = 0;
        while (i < ops.size()) {
            Op op = ops.get(i);
            String head = op.verb().word() + " " + op.object().keyword() + " " + op.family() + " " + op.table();
            if (op.object() instanceof Element first) {
                int end = i;
                List<String> items = new ArrayList<>();
                while (end < ops.size() && items.size() < ELEMENTS_PER_STATEMENT && ops.get(end).verb() == op.verb()
                        && ops.get(end).object() instanceof Element e && e.set().equals(first.set())) {
                    items.add(op.verb() == Verb.DELETE ? e.key() : e.body());
                    end++;
                }
                s.append(head).append(' ').append(first.set()).append(" { ").append(String.join(", ", items)).append(" }\n");
                i = end;
                continue;
            }
            String body = op.verb() == Verb.ADD ? op.object().body() : name(op.object());
            s.append(head).append(body.isEmpty() ? "" : " " + body).append('\n');
            i++;
        }
        return s.toString();
    }

    /** What {@code delete} and {@code flush} name: the object without its declaration. */
    private static String name(NftObject o) {
        return switch (o) {
            case Table t -> "";
            case NftSet set -> set.name();
            case Chain c -> c.name();
            case Counter c -> c.name();
            case Rule r -> r.body();
            case Element e -> e.set() + " { " + e.key() + " }";
        };
    }

    /**
     * Reads a script in the form {@link #script} writes back into operations (any family and table).
     *
     * @throws NftException naming the line when a statement is not one lbmode writes
     */
    static List<Op> parse(String script) {
        List<Op> out = new ArrayList<>();
        int lineNo = 0;
        for (String raw : script.split("\n")) {
            lineNo++;
            String line = raw.strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] w = line.split(" ", 5);
            if (w.length < 4) {
                throw new NftException("line " + lineNo + ": not an lbmode nft statement: " + line);
            }
            Verb verb;
            try {
                verb = Verb.valueOf(w[0].toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new NftException("line " + lineNo + ": unknown verb in: " + line);
            }
            String family = w[2], table = w[3], rest = w.length > 4 ? w[4].strip() : "";
            for (NftObject o : objects(w[1], rest, line, lineNo)) {
                out.add(new Op(verb, family, table, o));
            }
        }
        return out;
    }

    private static List<NftObject> objects(String keyword, String rest, String line, int lineNo) {
        String name = rest.split(" ", 2)[0];
        String after = rest.length() > name.length() ? rest.substring(name.length()).strip() : "";
        return switch (keyword) {
            case "table" -> List.of(new Table(rest.isEmpty() ? Optional.empty()
                    : Optional.of(braces(rest, line, lineNo).replaceFirst("^comment \"", "").replaceFirst("\";$", ""))));
            case "map", "set" -> List.of(new NftSet(name, keyword.equals("map"),
                    after.isEmpty() ? "" : braces(after, line, lineNo).replaceFirst(";$", "")));
            case "chain" -> List.of(new Chain(name, after.isEmpty() ? Optional.empty() : Optional.of(braces(after, line, lineNo))));
            case "counter" -> {
                String values = after.isEmpty() ? "" : braces(after, line, lineNo);
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("packets (\\d+) bytes (\\d+)").matcher(values);
                yield List.of(m.find() ? new Counter(name, Long.parseLong(m.group(1)), Long.parseLong(m.group(2)))
                        : Counter.named(name));
            }
            case "rule" -> List.of(new Rule(name, after));
            case "element" -> {
                List<NftObject> elements = new ArrayList<>();
                for (String item : braces(after, line, lineNo).split(",")) {
                    String[] kv = item.split(" : ", 2);
                    elements.add(new Element(name, kv[0].strip(), kv.length > 1 ? Optional.of(kv[1].strip()) : Optional.empty()));
                }
                yield elements;
            }
            default -> throw new NftException("line " + lineNo + ": fake nft does not understand: " + line);
        };
    }

    /** The text between {@code { } and {@code }}, stripped. */
    private static String braces(String text, String line, int lineNo) {
        if (!text.startsWith("{") || !text.endsWith("}")) {
            throw new NftException("line " + lineNo + ": expected { ... } in: " + line);
        }
        return text.substring(1, text.length() - 1).strip();
    }
}
