package io.lbmode.datapath.bpf;

import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;

/**
 * Hands out ranges of lb_maglev (one per service's Maglev table) first-fit, merging neighbours on free. The ranges
 * themselves live in lb_services (slot_offset, slot_count), so a restarted agent rebuilds this from the map.
 */
final class SlotAllocator {
    private final int capacity;
    /** offset -> length of each free range, non-adjacent. */
    private final TreeMap<Integer, Integer> free = new TreeMap<>();

    SlotAllocator(int capacity) {
        this.capacity = capacity;
        free.put(0, capacity);
    }

    int capacity() {
        return capacity;
    }

    /** offset -> length of each free range, ascending (a copy: for tests). */
    Map<Integer, Integer> freeRanges() {
        return new TreeMap<>(free);
    }

    int freeSlots() {
        return free.values().stream().mapToInt(Integer::intValue).sum();
    }

    /**
     * Claims the ranges adopted from the maps (offsets and lengths in slots, {@code n} of them) in a fresh allocator, as
     * claiming them one after the other would: a range is claimed unless it is empty, leaves the table memory or
     * overlaps one claimed before it. Marks the ranges in a bitmap of the slots and then builds the free list once from
     * its gaps, where a claim at a time splits a free range of the tree (10,000 services: 40,000 tree operations).
     *
     * @return which ranges were claimed (false: it cannot be trusted)
     */
    boolean[] claimAll(int[] offsets, long[] lengths, int n) {
        if (free.size() != 1 || free.firstEntry().getValue() != capacity) {
            throw new IllegalStateException("claimAll needs a fresh allocator");
        }
        long[] used = new long[(capacity + 63) >>> 6];
        boolean[] claimed = new boolean[n];
        long first = capacity;
        long last = 0; // end of the claimed range that ends last
        long total = 0;
        for (int i = 0; i < n; i++) {
            claimed[i] = offsets[i] >= 0 && lengths[i] > 0 && offsets[i] + lengths[i] <= capacity
                         && mark(used, offsets[i], (int) (offsets[i] + lengths[i]));
            if (claimed[i]) {
                first = Math.min(first, offsets[i]);
                last = Math.max(last, offsets[i] + lengths[i]);
                total += lengths[i];
            }
        }
        free.clear();
        if (total == last - first) {
            // no gap between the claimed ranges (they never overlap): free before the first and after the last
            if (first > 0 && total > 0) {
                free.put(0, (int) first);
            }
            if (last < capacity) {
                free.put((int) last, (int) (capacity - last));
            }
            return claimed;
        }
        int pos = 0;
        while (pos < capacity) {
            int start = nextBit(used, pos, false);
            if (start >= capacity) {
                break;
            }
            int end = Math.min(capacity, nextBit(used, start, true));
            free.put(start, end - start);
            pos = end;
        }
        return claimed;
    }

    /** Marks the slots [from, to) used when none of them is; false (nothing marked) when one is. */
    private static boolean mark(long[] used, int from, int to) {
        int first = from >>> 6;
        int last = (to - 1) >>> 6;
        long firstMask = -1L << from;
        long lastMask = -1L >>> -to;
        if (first == last) {
            long m = firstMask & lastMask;
            if ((used[first] & m) != 0) {
                return false;
            }
            used[first] |= m;
            return true;
        }
        if ((used[first] & firstMask) != 0 || (used[last] & lastMask) != 0) {
            return false;
        }
        for (int w = first + 1; w < last; w++) {
            if (used[w] != 0) {
                return false;
            }
        }
        used[first] |= firstMask;
        used[last] |= lastMask;
        for (int w = first + 1; w < last; w++) {
            used[w] = -1L;
        }
        return true;
    }

    /** The first slot at or after {@code from} that is used ({@code set}) or free; past the bitmap's end if none. */
    private static int nextBit(long[] used, int from, boolean set) {
        int w = from >>> 6;
        if (w >= used.length) {
            return used.length << 6;
        }
        long word = (set ? used[w] : ~used[w]) & (-1L << from);
        while (word == 0) {
            if (++w == used.length) {
                return used.length << 6;
            }
            word = set ? used[w] : ~used[w];
        }
        return (w << 6) + Long.numberOfTrailingZeros(word);
    }

    OptionalInt allocate(int length) {
        for (Map.Entry<Integer, Integer> e : free.entrySet()) {
            int rest = e.getValue() - length;
            if (rest >= 0) {
                // the start of the first range that fits: no lookup for it (an agent's first programming allocates
                // 10,000 ranges)
                int offset = e.getKey();
                free.remove(offset);
                if (rest > 0) {
                    free.put(offset + length, rest);
                }
                return OptionalInt.of(offset);
            }
        }
        return OptionalInt.empty();
    }

    void release(int offset, int length) {
        int start = offset;
        int len = length;
        Map.Entry<Integer, Integer> before = free.lowerEntry(offset);
        if (before != null && before.getKey() + before.getValue() == offset) {
            start = before.getKey();
            len += before.getValue();
            free.remove(before.getKey());
        }
        Integer afterLen = free.remove(offset + length);
        if (afterLen != null) {
            len += afterLen;
        }
        free.put(start, len);
    }
}
