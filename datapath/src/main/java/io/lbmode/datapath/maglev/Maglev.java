package io.lbmode.datapath.maglev;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table of prime size M in which every backend owns
 * about M/N slots, and which changes little when a backend comes or goes, so most flows keep their backend. The DSR
 * programs hash a packet's 5-tuple to a slot and send it to the slot's backend; every node builds the same table
 * from the same backends and seed, so any LB node picks the same backend for a flow.
 *
 * <p>Each backend gets a permutation of the slots from two hashes of its name: {@code offset = h1 % M},
 * {@code skip = h2 % (M - 1) + 1}, slot j of its preference list {@code (offset + j * skip) % M} (M prime, so every
 * skip visits every slot). Backends take turns claiming their next free preferred slot until the table is full.
 */
public final class Maglev {
    private Maglev() {
    }

    /** Cilium's default table size. */
    public static final int DEFAULT_TABLE_SIZE = 16381;

    /** Table sizes lbmode accepts (primes, as Cilium's list); M should stay above 100 x backends. */
    public static final List<Integer> TABLE_SIZES = List.of(251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071);

    /** Marks an empty table (no backends). */
    public static final int NONE = -1;

    /**
     * Builds the table.
     *
     * @param backendNames distinct names (e.g. {@code 10.0.1.5:8080}); the caller sorts them so every node passes the
     *                     same order
     * @param size         a prime from {@link #TABLE_SIZES}
     * @param seed         hash seed shared by every node
     * @return slot -> index into {@code backendNames}; all {@link #NONE} when there are no backends
     */
    public static int[] table(List<String> backendNames, int size, long seed) {
        if (!TABLE_SIZES.contains(size)) {
            throw new IllegalArgumentException("Maglev table size must be one of " + TABLE_SIZES + ", not " + size);
        }
        int n = backendNames.size();
        int[] table = new int[size];
        Arrays.fill(table, NONE);
        if (n == 0) {
            return table;
        }
        if (!distinct(backendNames)) {
            throw new IllegalArgumentException("Maglev backend names must be distinct: " + backendNames);
        }
        long[] hashes = new long[2 * n];
        for (int i = 0; i < n; i++) {
            byte[] name = backendNames.get(i).getBytes(StandardCharsets.UTF_8);
            hashes[2 * i] = offsetHash(name, seed);
            hashes[2 * i + 1] = skipHash(name, seed);
        }
        fill(hashes, n, size, table, new int[2 * n]);
        return table;
    }

    /** Backend name's hash that gives its first preferred slot ({@code % M}); with {@link #skipHash}, all a table needs of the name. */
    public static long offsetHash(byte[] name, long seed) {
        return hash(name, seed);
    }

    /** Backend name's hash that gives the step of its preference list ({@code % (M - 1) + 1}). */
    public static long skipHash(byte[] name, long seed) {
        return hash(name, Long.rotateLeft(seed, 32) ^ 0x9e3779b97f4a7c15L);
    }

    /**
     * {@link #table}'s fill, into arrays the caller owns and reuses (an agent fills 10,000 tables in its first
     * programming; no allocation per table): backend i's {@link #offsetHash} and {@link #skipHash} at
     * {@code hashes[2 i]} and {@code hashes[2 i + 1]}, names distinct (not checked here), {@code size} from
     * {@link #TABLE_SIZES} (not checked here), n > 0. Writes slot -> backend index to {@code table[0, size)};
     * {@code scratch} holds at least 2 n ints.
     */
    public static void fill(long[] hashes, int n, int size, int[] table, int[] scratch) {
        Arrays.fill(table, 0, size, NONE);
        // Backend i's preference list is offset, offset + skip, offset + 2 skip, ... (mod M): kept as the slot it has
        // reached (scratch[2 i]), advanced by one addition and a conditional subtraction. A division per probe (the
        // textbook (offset + j * skip) % M) made the fill twice as slow in a fresh JVM, and a table of M = 251 with 2
        // backends takes ~1,500 probes: most of an agent's first programming of 10,000 services.
        for (int i = 0; i < n; i++) {
            scratch[2 * i] = (int) Long.remainderUnsigned(hashes[2 * i], size);
            scratch[2 * i + 1] = (int) Long.remainderUnsigned(hashes[2 * i + 1], size - 1) + 1;
        }
        int filled = 0;
        while (true) {
            for (int i = 0; i < n; i++) {
                int c = scratch[2 * i];
                int step = scratch[2 * i + 1];
                while (table[c] != NONE) {
                    c += step; // < 2 M: no overflow
                    if (c >= size) {
                        c -= size;
                    }
                }
                table[c] = i;
                c += step;
                scratch[2 * i] = c >= size ? c - size : c;
                if (++filled == size) {
                    return;
                }
            }
        }
    }

    /** Pairwise for the usual handful of backends (no set to build per table), a set for more. */
    private static boolean distinct(List<String> names) {
        int n = names.size();
        if (n > 16) {
            return new java.util.HashSet<>(names).size() == n;
        }
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                if (names.get(i).equals(names.get(j))) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * The smallest allowed size that keeps M above 100 x backends, capped at {@code max}: the size used for a service
     * when the node's table memory does not allow {@code max}.
     */
    public static int compactSize(int backends, int max) {
        return smallestAbove(100L * backends, max);
    }

    /**
     * The smallest allowed size that keeps M above 10 x backends, capped at {@code max}: the last resort, used for new
     * services when the node's table memory does not allow even {@link #compactSize} for all of them (10,000 services
     * of 4 backends: 509 slots each would not fit, 251 do). Each backend still gets its share of the slots within
     * about 10%, and 1 slot in 251 for 1-2 backends as before; only services of 3-25 backends get a smaller table.
     */
    public static int minimalSize(int backends, int max) {
        return smallestAbove(10L * backends, max);
    }

    private static int smallestAbove(long floor, int max) {
        for (int m : TABLE_SIZES) {
            if (m >= max) {
                return max;
            }
            if (m >= floor) {
                return m;
            }
        }
        return max;
    }

    /** 64-bit FNV-1a of the name, seeded, with a splitmix64 finaliser (FNV alone mixes the low bits poorly). */
    static long hash(byte[] data, long seed) {
        long h = 0xcbf29ce484222325L ^ seed;
        for (byte b : data) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        h ^= h >>> 30;
        h *= 0xbf58476d1ce4e5b9L;
        h ^= h >>> 27;
        h *= 0x94d049bb133111ebL;
        h ^= h >>> 31;
        return h;
    }
}
