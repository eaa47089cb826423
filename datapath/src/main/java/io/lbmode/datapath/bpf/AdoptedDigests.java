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
    private final Map<Integer, Digest> live = new HashMap<>();
    private AdoptedTable table = AdoptedTable.NONE;
    /** Each adopted digest's two halves, at its slot in {@link #table}. */
    private long[] high = new long[0];
    private long[] low = new long[0];

    /** Makes room for {@code n} adopted digests; only before the first {@link #adopt}. */
    void expect(int n) {
        if (table.count() != 0) {
            throw new IllegalStateException("expect before adopting");
        }
        table = AdoptedTable.forEntries(n);
        high = new long[table.capacity()];
        low = new long[table.capacity()];
    }

    /** A digest read from lb_maglev_inputs. */
    void adopt(int offset, long hi, long lo) {
        int slot = table.insert(offset);
        high[slot] = hi;
        low[slot] = lo;
    }

    private int slotOf(Object o) {
        return o instanceof Integer offset ? table.find(offset) : -1;
    }

    /** Takes {@code o}'s adopted digest out of the table (null when it has none there). */
    private Digest take(Object o) {
        int slot = slotOf(o);
        if (slot < 0) {
            return null;
        }
        table.take(slot);
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
        return live.size() + table.count();
    }

    @Override
    public void clear() {
        live.clear();
        forgetTable();
    }

    private void forgetTable() {
        table = AdoptedTable.NONE;
        high = new long[0];
        low = new long[0];
    }

    /** Every entry, the adopted ones created now. */
    @Override
    public Set<Entry<Integer, Digest>> entrySet() {
        if (table.count() > 0) {
            for (int i = 0; i < table.capacity(); i++) {
                if (table.holds(i)) {
                    live.putIfAbsent((int) table.key(i), new Digest(high[i], low[i]));
                }
            }
            forgetTable();
        }
        return live.entrySet();
    }
}
