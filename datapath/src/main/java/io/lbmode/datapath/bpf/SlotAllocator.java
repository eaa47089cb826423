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

    int freeSlots() {
        return free.values().stream().mapToInt(Integer::intValue).sum();
    }

    /** Marks a range adopted from the map as used; false when it overlaps something already used. */
    boolean claim(int offset, int length) {
        Map.Entry<Integer, Integer> e = free.floorEntry(offset);
        if (e == null || offset + (long) length > e.getKey() + (long) e.getValue()) {
            return false;
        }
        int start = e.getKey();
        int end = e.getKey() + e.getValue();
        free.remove(start);
        if (offset > start) {
            free.put(start, offset - start);
        }
        if (offset + length < end) {
            free.put(offset + length, end - offset - length);
        }
        return true;
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
