package io.lbmode.datapath.bpf;

import java.util.AbstractMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * A map like any other, except that the entries a restarted agent adopts from a pinned map wait in a table of numbers
 * until they are asked for: a long key per slot (open addressing, linear probing; sized once by {@link #expect}, since
 * only adoption inserts there), the subclass's values in arrays at the same slots. A lookup reads an adopted entry in
 * place; {@code put} and {@code remove} take it out of the table; iterating moves the rest into the ordinary map. At
 * 10,000 services the adoption then creates no object per entry (keys, boxed values and map nodes of a restart's
 * live set, which every young collection of a 4 MB young generation would copy).
 */
abstract class AdoptedMap<K, V> extends AbstractMap<K, V> {
    private static final byte EMPTY = 0;
    private static final byte FULL = 1;
    private static final byte TAKEN = 2;

    private final Map<K, V> live = new HashMap<>();
    private long[] keys = new long[0];
    private byte[] state = new byte[0];
    private int adopted;

    /** Makes room for {@code n} adopted entries; only before the first adoption. */
    final void expect(int n) {
        if (adopted != 0) {
            throw new IllegalStateException("expect before adopting");
        }
        int capacity = Integer.highestOneBit(Math.max(4, n + n / 2)) << 1; // load factor at most 2/3
        keys = new long[capacity];
        state = new byte[capacity];
        sizeValues(capacity);
    }

    /** The slot for an adopted entry of {@code key}: the one it has (a later adoption wins, as with put), or a new one. */
    final int adoptSlot(long key) {
        int slot = find(key);
        if (slot >= 0) {
            return slot;
        }
        int mask = keys.length - 1;
        for (int i = hash(key) & mask; ; i = (i + 1) & mask) {
            if (state[i] == EMPTY) {
                keys[i] = key;
                state[i] = FULL;
                adopted++;
                return i;
            }
        }
    }

    /** The slot of the adopted entry of {@code key}, or -1. */
    final int find(long key) {
        if (adopted == 0) {
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

    private static int hash(long key) {
        long h = key * 0x9e37_79b9_7f4a_7c15L;
        return (int) (h ^ h >>> 32);
    }

    /** Sizes the subclass's arrays of values for {@code capacity} slots (0: the table is gone). */
    abstract void sizeValues(int capacity);

    /** The slot of {@code o}'s adopted entry ({@link #find} of its table key), or -1 (also for keys no table holds). */
    abstract int slotOf(Object o);

    /** The map key of the table key {@code key}. */
    abstract K keyOf(long key);

    /** The value at {@code slot}. */
    abstract V valueAt(int slot);

    /** Takes {@code o}'s adopted entry out of the table; its value, or null when it has none there. */
    private V take(Object o) {
        int slot = adopted == 0 ? -1 : slotOf(o);
        if (slot < 0) {
            return null;
        }
        state[slot] = TAKEN;
        adopted--;
        return valueAt(slot);
    }

    @Override
    public final V get(Object o) {
        V v = live.get(o);
        if (v == null && adopted > 0) {
            int slot = slotOf(o);
            v = slot >= 0 ? valueAt(slot) : null;
        }
        return v;
    }

    @Override
    public final boolean containsKey(Object o) {
        return live.containsKey(o) || adopted > 0 && slotOf(o) >= 0;
    }

    @Override
    public final V put(K key, V value) {
        V was = take(key);
        V before = live.put(key, value);
        return before != null ? before : was;
    }

    @Override
    public final V remove(Object o) {
        V v = live.remove(o);
        return v != null ? v : take(o);
    }

    @Override
    public final int size() {
        return live.size() + adopted;
    }

    @Override
    public final void clear() {
        live.clear();
        dropTable();
    }

    /** Every entry, the adopted ones not taken yet created now. */
    @Override
    public final Set<Entry<K, V>> entrySet() {
        if (adopted > 0) {
            for (int i = 0; i < keys.length; i++) {
                if (state[i] == FULL) {
                    live.putIfAbsent(keyOf(keys[i]), valueAt(i));
                }
            }
            dropTable();
        }
        return live.entrySet();
    }

    private void dropTable() {
        keys = new long[0];
        state = new byte[0];
        adopted = 0;
        sizeValues(0);
    }
}
