package io.lbmode.datapath.bpf;

import io.lbmode.datapath.bpf.DsrProgrammer.Digest;

/**
 * A table range's first slot -> the digest of its inputs, as lb_maglev_inputs holds them, with the digests a
 * restarted agent adopts held as numbers ({@link AdoptedMap}: slot -> two longs); a lookup of one creates a
 * {@link Digest} that dies young.
 */
final class AdoptedDigests extends AdoptedMap<Integer, Digest> {
    /** Each adopted digest's two halves, at its slot. */
    private long[] high = new long[0];
    private long[] low = new long[0];

    /** A digest read from lb_maglev_inputs. */
    void adopt(int offset, long hi, long lo) {
        int slot = adoptSlot(offset);
        high[slot] = hi;
        low[slot] = lo;
    }

    @Override
    void sizeValues(int capacity) {
        high = new long[capacity];
        low = new long[capacity];
    }

    @Override
    int slotOf(Object o) {
        return o instanceof Integer offset ? find(offset) : -1;
    }

    @Override
    Integer keyOf(long key) {
        return (int) key;
    }

    @Override
    Digest valueAt(int slot) {
        return new Digest(high[slot], low[slot]);
    }
}
