package io.lbmode.datapath.bpf;

import io.lbmode.datapath.bpf.DsrProgrammer.Digest;
import java.util.AbstractMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * A table range's first slot -> the digest of its inputs, as lb_maglev_inputs holds them: a map like any other, except
 * that the digests a restarted agent adopts stay in a table of numbers (slot -> two longs). A lookup of one creates
 * a {@link Digest} that dies young; {@code put} and {@code remove} take it out of the table; iterating moves the rest
 * into the ordinary map. At 10,000 services the adoption creates no object per digest (10,000 boxed slots, digests and
 * map nodes of a restart's live set, copied by the young collections of a 4 MB young generation).
 */
final class AdoptedDigests extends AbstractMap<Integer, Digest> {
    private static final byte EMPTY = 0;
    private static final byte FULL = 1;
    private static final byte TAKEN = 2;

    private final Map<Integer, Digest> live = new HashMap<>();
    /** Open addressing, linear probing; fixed size from {@link #expect}: only adoption inserts here. */
    private int[] offsets = new int[0];
    private long[] high = new long[0];
    private long[] low = new long[0];
    private byte[] state = new byte[0];
    private int pinned;

    /** Makes room for {@code n} adopted digests; only before the first {@link #adopt}. */
    void expect(int n) {
        if (pinned != 0) {
            throw new IllegalStateException("expect before adopting");
        }
        int capacity = Integer.highestOneBit(Math.max(4, n + n / 2)) << 1; // load factor at most 2/3
        offsets = new int[capacity];
        high = new long[capacity];
        low = new long[capacity];
        state = new byte[capacity];
    }

    /** A digest read from lb_maglev_inputs. */
    void adopt(int offset, long hi, long lo) {
        int slot = find(offset);
        if (slot < 0) {
            int mask = offsets.length - 1;
            slot = hash(offset) & mask;
            while (state[slot] != EMPTY) {
                slot = (slot + 1) & mask;
            }
            offsets[slot] = offset;
            state[slot] = FULL;
            pinned++;
        }
        high[slot] = hi;
        low[slot] = lo;
    }

    private static int hash(int key) {
        int h = key * 0x9e37_79b9;
        return h ^ h >>> 16;
    }

    /** The slot of {@code offset}, or -1. */
    private int find(int offset) {
        if (pinned == 0) {
            return -1;
        }
        int mask = offsets.length - 1;
        for (int i = hash(offset) & mask; state[i] != EMPTY; i = (i + 1) & mask) {
            if (state[i] == FULL && offsets[i] == offset) {
                return i;
            }
        }
        return -1;
    }

    private int slotOf(Object o) {
        return o instanceof Integer offset ? find(offset) : -1;
    }

    /** Takes {@code o}'s adopted digest out of the table (null when it has none there). */
    private Digest take(Object o) {
        int slot = slotOf(o);
        if (slot < 0) {
            return null;
        }
        state[slot] = TAKEN;
        pinned--;
        return new Digest(high[slot], low[slot]);
    }

    @Override
    public Digest get(Object o) {
        Digest d = live.get(o);
        if (d == null) {
            int slot = slotOf(o);
            if (slot >= 0) {
                d = new Digest(high[slot], low[slot]);
            }
        }
        return d;
    }

    @Override
    public boolean containsKey(Object o) {
        return live.containsKey(o) || slotOf(o) >= 0;
    }

    @Override
    public Digest put(Integer offset, Digest d) {
        Digest adopted = take(offset);
        Digest before = live.put(offset, d);
        return before != null ? before : adopted;
    }

    @Override
    public Digest remove(Object o) {
        Digest d = live.remove(o);
        return d != null ? d : take(o);
    }

    @Override
    public int size() {
        return live.size() + pinned;
    }

    @Override
    public void clear() {
        live.clear();
        forgetTable();
    }

    private void forgetTable() {
        offsets = new int[0];
        high = new long[0];
        low = new long[0];
        state = new byte[0];
        pinned = 0;
    }

    /** Every entry, the adopted ones created now. */
    @Override
    public Set<Entry<Integer, Digest>> entrySet() {
        if (pinned > 0) {
            for (int i = 0; i < offsets.length; i++) {
                if (state[i] == FULL) {
                    live.putIfAbsent(offsets[i], new Digest(high[i], low[i]));
                }
            }
            forgetTable();
        }
        return live.entrySet();
    }
}
