package io.lbmode.datapath.nft;

import java.util.Optional;

/**
 * The nftables objects lbmode writes, as data: a table, its sets and maps, chains, rules and set/map elements. One
 * table holds them all, so an object names only what is inside the table. {@link NftTransaction} turns them into
 * {@code nft -f} statements and reads those statements back (the fake kernel in the tests), so the text form of each
 * object is written down once, here.
 */
sealed interface NftObject {

    /** The keyword after the verb: {@code add table}, {@code add map}, ... */
    String keyword();

    /** What follows {@code VERB KEYWORD FAMILY TABLE}, without a leading space; empty for the table itself. */
    String body();

    /** The table; {@code comment} only where it is created. */
    record Table(Optional<String> comment) implements NftObject {
        static final Table ANY = new Table(Optional.empty());

        @Override
        public String keyword() {
            return "table";
        }

        @Override
        public String body() {
            return comment.map(c -> "{ comment \"" + c + "\"; }").orElse("");
        }
    }

    /**
     * A set ({@code map == false}) or a map, with its declaration ({@code type ...} or {@code typeof ...}).
     */
    record NftSet(String name, boolean map, String declaration) implements NftObject {
        @Override
        public String keyword() {
            return map ? "map" : "set";
        }

        @Override
        public String body() {
            return name + " { " + declaration + "; }";
        }
    }

    /** A chain; {@code base} is the hook declaration of a base chain ({@code type nat hook ... policy accept;}). */
    record Chain(String name, Optional<String> base) implements NftObject {
        static Chain regular(String name) {
            return new Chain(name, Optional.empty());
        }

        static Chain base(String name, String declaration) {
            return new Chain(name, Optional.of(declaration));
        }

        @Override
        public String keyword() {
            return "chain";
        }

        @Override
        public String body() {
            return base.map(b -> name + " { " + b + " }").orElse(name);
        }
    }

    /**
     * A named counter; {@code packets} and {@code bytes} are its starting values where it is created (a full replace
     * of the table carries the old values over, so a restart does not reset what the status reports).
     */
    record Counter(String name, long packets, long bytes) implements NftObject {
        static Counter named(String name) {
            return new Counter(name, 0, 0);
        }

        @Override
        public String keyword() {
            return "counter";
        }

        @Override
        public String body() {
            return packets == 0 && bytes == 0 ? name : name + " { packets " + packets + " bytes " + bytes + " }";
        }
    }

    /** A rule at the end of {@code chain}, in nft's expression syntax. */
    record Rule(String chain, String expression) implements NftObject {
        @Override
        public String keyword() {
            return "rule";
        }

        @Override
        public String body() {
            return chain + " " + expression;
        }
    }

    /**
     * An element of set or map {@code set}: {@code key}, and for a map its {@code value}. Consecutive elements of one
     * set share a statement ({@code add element ip lbmode S { k1 : v1, k2 : v2 }}), so {@link #body} is one item.
     */
    record Element(String set, String key, Optional<String> value) implements NftObject {
        static Element of(String set, String key) {
            return new Element(set, key, Optional.empty());
        }

        static Element of(String set, String key, String value) {
            return new Element(set, key, Optional.of(value));
        }

        @Override
        public String keyword() {
            return "element";
        }

        /** The item as nft writes it inside the braces: {@code key} or {@code key : value}. */
        @Override
        public String body() {
            return value.map(v -> key + " : " + v).orElse(key);
        }
    }
}
