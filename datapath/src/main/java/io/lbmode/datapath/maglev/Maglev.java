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
        if (n == 0) {
            Arrays.fill(table, NONE);
            return table;
        }
        if (!distinct(backendNames)) {
            throw new IllegalArgumentException("Maglev backend names must be distinct: " + backendNames);
        }
        long[] hashes = new long[2 * n];
        int[] values = new int[n];
        for (int i = 0; i < n; i++) {
            byte[] name = backendNames.get(i).getBytes(StandardCharsets.UTF_8);
            nameHashes(name, name.length, seed, hashes, 2 * i);
            values[i] = i + 1; // fill's values are not 0
        }
        fill(hashes, values, n, size, table, 0, new int[2 * n]);
        for (int s = 0; s < size; s++) {
            table[s]--; // value i + 1 -> index i
        }
        return table;
    }

    /** Backend name's hash that gives its first preferred slot ({@code % M}); with {@link #skipHash}, all a table needs of the name. */
    public static long offsetHash(byte[] name, long seed) {
        return hash(name, seed);
    }

    /** Backend name's hash that gives the step of its preference list ({@code % (M - 1) + 1}). */
    public static long skipHash(byte[] name, long seed) {
        return hash(name, skipSeed(seed));
    }

    private static long skipSeed(long seed) {
        return Long.rotateLeft(seed, 32) ^ 0x9e3779b97f4a7c15L;
    }

    /**
     * {@link #offsetHash} and {@link #skipHash} of the name {@code name[0, length)} in one pass over its bytes, into
     * {@code out[at]} and {@code out[at + 1]}: the name may sit in a buffer the caller reuses (no String, no array per
     * backend; an agent's first programming hashes 20,000 names).
     */
    public static void nameHashes(byte[] name, int length, long seed, long[] out, int at) {
        long offset = FNV_OFFSET ^ seed;
        long skip = FNV_OFFSET ^ skipSeed(seed);
        for (int i = 0; i < length; i++) {
            int b = name[i] & 0xff;
            offset = (offset ^ b) * FNV_PRIME;
            skip = (skip ^ b) * FNV_PRIME;
        }
        out[at] = finish(offset);
        out[at + 1] = finish(skip);
    }

    /**
     * {@link #table}'s fill, into arrays the caller owns and reuses (an agent fills 10,000 tables in its first
     * programming; no allocation per table): backend i's {@link #offsetHash} and {@link #skipHash} at
     * {@code hashes[2 i]} and {@code hashes[2 i + 1]}, names distinct (not checked here), {@code size} from
     * {@link #TABLE_SIZES} (not checked here), n > 0. Writes {@code values[i]}, which must not be 0, to each slot
     * backend i owns, into {@code table[offset, offset + size)}, which must hold zeros; {@code scratch} holds at least
     * 2 n ints. The caller's values are what its slots hold (the DSR programmer's backend ids), so the table goes where
     * it is wanted without a pass to translate indices.
     */
    public static void fill(long[] hashes, int[] values, int n, int size, int[] table, int offset, int[] scratch) {
        // Backend i's preference list is offset, offset + skip, offset + 2 skip, ... (mod M): kept as the slot it has
        // reached (scratch[2 i], an index into table), advanced by adding skip - M and adding M back when that went
        // below the table's first slot. A division per probe (the textbook (offset + j * skip) % M) made the fill twice
        // as slow in a fresh JVM, and a table of M = 251 with 2 backends takes ~470 probes: most of an agent's first
        // programming of 10,000 services. The wrap is computed without a branch: whether a probe wraps is a coin toss,
        // and C1 (the agent's only compiler) compiles a conditional subtraction as a branch, mispredicted half the time
        // (the fill took 1.5 times as long).
        for (int i = 0; i < n; i++) {
            scratch[2 * i] = offset + (int) Long.remainderUnsigned(hashes[2 * i], size);
            scratch[2 * i + 1] = (int) Long.remainderUnsigned(hashes[2 * i + 1], size - 1) + 1 - size; // skip - M < 0
        }
        int filled = 0;
        while (true) {
            for (int i = 0; i < n; i++) {
                int back = scratch[2 * i + 1];
                int c = firstFree(table, scratch[2 * i], back, offset, size);
                table[c] = values[i];
                c += back;
                scratch[2 * i] = c + (size & ((c - offset) >> 31)); // below the first slot: M back
                if (++filled == size) {
                    return;
                }
            }
        }
    }

    /**
     * The first free slot of a preference list from slot {@code c} on ({@link #fill}'s probe loop). A method of its own:
     * a fresh JVM compiles it after a table's worth of calls, where a loop inside fill ran interpreted until fill had
     * been called ~100 times (~70 us a table interpreted, ~2 us compiled).
     */
    private static int firstFree(int[] table, int c, int back, int offset, int size) {
        while (table[c] != 0) {
            c += back;
            c += size & ((c - offset) >> 31);
        }
        return c;
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

    /** {@link #TABLE_SIZES} as an array: looked through for every new service of a full programming. */
    private static final int[] SIZES = TABLE_SIZES.stream().mapToInt(Integer::intValue).toArray();

    private static int smallestAbove(long floor, int max) {
        for (int m : SIZES) {
            if (m >= max) {
                return max;
            }
            if (m >= floor) {
                return m;
            }
        }
        return max;
    }

    private static final long FNV_OFFSET = 0xcbf29ce484222325L;
    private static final long FNV_PRIME = 0x100000001b3L;

    /** 64-bit FNV-1a of the name, seeded, with a splitmix64 finaliser (FNV alone mixes the low bits poorly). */
    static long hash(byte[] data, long seed) {
        long h = FNV_OFFSET ^ seed;
        for (byte b : data) {
            h ^= b & 0xff;
            h *= FNV_PRIME;
        }
        return finish(h);
    }

    private static long finish(long h) {
        h ^= h >>> 30;
        h *= 0xbf58476d1ce4e5b9L;
        h ^= h >>> 27;
        h *= 0x94d049bb133111ebL;
        h ^= h >>> 31;
        return h;
    }
}
