package io.lbmode.datapath.bpf;

/**
 * The numbers half of {@link AdoptedBackendIds} and {@link AdoptedDigests}: an open-addressing table (linear probing)
 * of long keys, each at a slot index the owner uses for its own parallel arrays of values. Sized once, before
 * adoption, which is the only time entries are inserted; taking one out leaves a marker so later probes pass it.
 */
final class AdoptedTable {
    private static final byte EMPTY = 0;
    private static final byte FULL = 1;
    private static final byte TAKEN = 2;

    static final AdoptedTable NONE = new AdoptedTable(new long[0], new byte[0]);

    private final long[] keys;
    private final byte[] state;
    private int count;

    private AdoptedTable(long[] keys, byte[] state) {
        this.keys = keys;
        this.state = state;
    }

    /** Room for {@code n} entries (load factor at most 2/3). */
    static AdoptedTable forEntries(int n) {
        int capacity = Integer.highestOneBit(Math.max(4, n + n / 2)) << 1;
        return new AdoptedTable(new long[capacity], new byte[capacity]);
    }

    /** Slots, for the owner's arrays of values. */
    int capacity() {
        return keys.length;
    }

    /** Entries held (inserted, not taken). */
    int count() {
        return count;
    }

    /** The slot of {@code key}: the one it has, or a new one. */
    int insert(long key) {
        int slot = find(key);
        if (slot >= 0) {
            return slot;
        }
        int mask = keys.length - 1;
        for (int i = hash(key) & mask; ; i = (i + 1) & mask) {
            if (state[i] == EMPTY) {
                keys[i] = key;
                state[i] = FULL;
                count++;
                return i;
            }
        }
    }

    /** The slot of {@code key}, or -1. */
    int find(long key) {
        if (count == 0) {
            return -1;
        }
        int mask = keys.length - 1;
        for (int i = hash(key) & mask; state[i] != EMPTY; i = (i + 1) & mask) {
            if (state[i] == FULL && keys[i] == key) {
                return i;
            }
        }
        return -1;
    }

    /** Takes the entry at {@code slot} (found by {@link #find}) out. */
    void take(int slot) {
        state[slot] = TAKEN;
        count--;
    }

    /** True when {@code slot} holds an entry. */
    boolean holds(int slot) {
        return state[slot] == FULL;
    }

    long key(int slot) {
        return keys[slot];
    }

    private static int hash(long key) {
        long h = key * 0x9e37_79b9_7f4a_7c15L;
        return (int) (h ^ h >>> 32);
    }
}
