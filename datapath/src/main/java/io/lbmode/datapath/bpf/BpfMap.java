package io.lbmode.datapath.bpf;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * A BPF map by file descriptor: update/lookup/delete/iterate with one native call each. Keys and values are raw
 * bytes in the layout of the C structs (see {@link BpfLayout}). Not thread-safe (one scratch buffer per map).
 *
 * @param name      map name, for messages
 * @param fd        file descriptor (owned by whoever opened the map)
 * @param keySize   bytes
 * @param valueSize bytes per value (per CPU for per-CPU maps)
 */
public record BpfMap(String name, int fd, int keySize, int valueSize, int maxEntries) {

    /** Inserts or replaces. */
    public void update(MemorySegment key, MemorySegment value) {
        int rc = LibBpf.mapUpdate(fd, key, value, LibBpf.BPF_ANY);
        if (rc < 0) {
            throw new BpfException("map " + name + ": update failed: " + LibBpf.errno(rc)
                    + (rc == -7 ? "; the map is full (" + maxEntries + " entries)" : ""));
        }
    }

    /**
     * Inserts or replaces {@code count} entries in one system call: keys and values packed back to back.
     */
    public void updateBatch(MemorySegment keys, MemorySegment values, int count) {
        if (count == 0) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(java.lang.foreign.ValueLayout.JAVA_INT);
            n.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, count);
            int rc = LibBpf.mapUpdateBatch(fd, keys, values, n);
            if (rc < 0) {
                throw new BpfException("map " + name + ": batch update failed after " + n.get(java.lang.foreign.ValueLayout.JAVA_INT, 0)
                        + " of " + count + " entries: " + LibBpf.errno(rc)
                        + (rc == -7 ? "; the map is full (" + maxEntries + " entries)" : ""));
            }
        }
    }

    /** {@link #updateBatch(MemorySegment, MemorySegment, int)} of keys and values built in arrays (see {@link BpfLayout}'s writers). */
    public void updateBatch(byte[] keys, byte[] values, int count) {
        if (count == 0) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate((long) keySize * count, 8);
            MemorySegment v = a.allocate((long) valueSize * count, 8);
            MemorySegment.copy(keys, 0, k, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, keySize * count);
            MemorySegment.copy(values, 0, v, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, valueSize * count);
            updateBatch(k, v, count);
        }
    }

    /** True and {@code value} filled when the key exists. */
    public boolean lookup(MemorySegment key, MemorySegment value) {
        int rc = LibBpf.mapLookup(fd, key, value);
        if (rc == -LibBpf.ENOENT) {
            return false;
        }
        if (rc < 0) {
            throw new BpfException("map " + name + ": lookup failed: " + LibBpf.errno(rc));
        }
        return true;
    }

    /** True when the key existed. */
    public boolean delete(MemorySegment key) {
        int rc = LibBpf.mapDelete(fd, key);
        if (rc == -LibBpf.ENOENT) {
            return false;
        }
        if (rc < 0) {
            throw new BpfException("map " + name + ": delete failed: " + LibBpf.errno(rc));
        }
        return true;
    }

    /** All keys (a snapshot; entries may change meanwhile in maps the programs write). */
    public List<byte[]> keys() {
        List<byte[]> keys = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cur = a.allocate(keySize);
            MemorySegment next = a.allocate(keySize);
            int rc = LibBpf.mapNextKey(fd, MemorySegment.NULL, next);
            while (rc == 0) {
                keys.add(next.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                MemorySegment.copy(next, 0, cur, 0, keySize);
                rc = LibBpf.mapNextKey(fd, cur, next);
            }
            if (rc != -LibBpf.ENOENT) {
                throw new BpfException("map " + name + ": iteration failed: " + LibBpf.errno(rc));
            }
        }
        return keys;
    }

    /** Entries read per batched system call. */
    static final int BATCH = 4096;

    /**
     * Calls {@code each} with every key and its value (entries deleted meanwhile are skipped). Hash maps are read a
     * batch of entries per system call (10,000 services: 3 calls instead of 20,000); maps without batch lookup (LPM
     * tries) a key and a value at a time.
     */
    public void forEach(BiConsumer<byte[], byte[]> each) {
        if (!forEachBatched(each)) {
            forEachByKey(each);
        }
    }

    /** False when the map type has no batch lookup (nothing was passed to {@code each} then). */
    private boolean forEachBatched(BiConsumer<byte[], byte[]> each) {
        try (Arena a = Arena.ofConfined()) {
            // the position is a bucket number for hash maps, a key for others: room for either
            MemorySegment in = a.allocate(Math.max(8, keySize), 8);
            MemorySegment out = a.allocate(Math.max(8, keySize), 8);
            MemorySegment keys = a.allocate((long) keySize * BATCH, 8);
            MemorySegment values = a.allocate((long) valueSize * BATCH, 8);
            MemorySegment n = a.allocate(java.lang.foreign.ValueLayout.JAVA_INT);
            boolean first = true;
            while (true) {
                n.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, BATCH);
                int rc = LibBpf.mapLookupBatch(fd, first ? MemorySegment.NULL : in, out, keys, values, n);
                if (first && (rc == -EINVAL || rc == -ENOTSUPP || rc == -EOPNOTSUPP)) {
                    return false;
                }
                if (rc < 0 && rc != -LibBpf.ENOENT) {
                    throw new BpfException("map " + name + ": batch lookup failed: " + LibBpf.errno(rc));
                }
                int got = n.get(java.lang.foreign.ValueLayout.JAVA_INT, 0);
                // one copy per batch, then plain array copies: cheap before the JIT compiles segment accesses
                byte[] k = keys.asSlice(0, (long) got * keySize).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                byte[] v = values.asSlice(0, (long) got * valueSize).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                for (int i = 0; i < got; i++) {
                    each.accept(Arrays.copyOfRange(k, i * keySize, (i + 1) * keySize),
                            Arrays.copyOfRange(v, i * valueSize, (i + 1) * valueSize));
                }
                if (rc == -LibBpf.ENOENT) {
                    return true;
                }
                MemorySegment.copy(out, 0, in, 0, in.byteSize());
                first = false;
            }
        }
    }

    private static final int EINVAL = 22;
    private static final int EOPNOTSUPP = 95;
    /** The kernel's internal "operation not supported" (524), which bpf(2) passes on for some map types. */
    private static final int ENOTSUPP = 524;

    private void forEachByKey(BiConsumer<byte[], byte[]> each) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(keySize);
            MemorySegment v = a.allocate(valueSize);
            for (byte[] key : keys()) {
                MemorySegment.copy(MemorySegment.ofArray(key), 0, k, 0, keySize);
                if (lookup(k, v)) {
                    each.accept(key, v.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                }
            }
        }
    }

    /** Number of entries (by iteration). */
    public int count() {
        return keys().size();
    }
}
