package io.lbmode.datapath.maglev;

import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * Many Maglev tables at once: a full load (the first apply, a restart, a new seed) builds one per service port, and
 * at 10,000 service ports that is millions of slots. Tables are independent, so a large batch is built on every core;
 * a small one (the usual change: a few services) stays on the calling thread.
 */
public final class MaglevTables {
    private MaglevTables() {
    }

    /** Below this many slots in a batch, splitting it costs more than it saves. */
    static final long PARALLEL_SLOTS = 200_000;

    /** One table to build: its backends, in the order every node uses, and its size (a prime of {@link Maglev#TABLE_SIZES}). */
    public record Request(List<String> backendNames, int size) {
        public Request {
            backendNames = List.copyOf(backendNames);
        }
    }

    /** The tables, in the order of {@code requests}; each as {@link Maglev#table}. */
    public static List<int[]> build(List<Request> requests, long seed) {
        Objects.requireNonNull(requests, "requests");
        long slots = requests.stream().mapToLong(Request::size).sum();
        IntStream indices = IntStream.range(0, requests.size());
        if (slots >= PARALLEL_SLOTS && Runtime.getRuntime().availableProcessors() > 1) {
            indices = indices.parallel();
        }
        int[][] tables = new int[requests.size()][];
        indices.forEach(i -> tables[i] = Maglev.table(requests.get(i).backendNames(), requests.get(i).size(), seed));
        return List.of(tables);
    }
}
