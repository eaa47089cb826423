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
 * @param valueSize bytes per value (per CPU for per-CPU maps, whose lookups fill {@link #valueBytes()})
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

    /** BPF_MAP_TYPE_PERCPU_HASH, _PERCPU_ARRAY, _LRU_PERCPU_HASH, _PERCPU_CGROUP_STORAGE: a value per possible CPU. */
    private static final java.util.Set<Integer> PER_CPU_TYPES = java.util.Set.of(5, 6, 10, 21);

    /**
     * Bytes one entry's value takes in a lookup: {@code valueSize}, or for a per-CPU map one value per possible CPU,
     * each padded to 8 bytes (the kernel's layout: lb_drops' 8-byte counters on 2 CPUs are 16 bytes).
     */
    int valueBytes() {
        int type = LibBpf.mapType(fd);
        if (type < 0) {
            throw new BpfException("map " + name + ": reading its type failed: " + LibBpf.errno(type));
        }
        return PER_CPU_TYPES.contains(type) ? ((valueSize + 7) & ~7) * LibBpf.numPossibleCpus() : valueSize;
    }

    /** True and {@code value} ({@link #valueBytes()} long) filled when the key exists. */
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
    /** At most this many bytes of values per batched call (4,096 per-CPU counters on 256 CPUs would be 8 MB). */
    static final int MAX_BATCH_VALUE_BYTES = 1 << 20;

    /**
     * Calls {@code each} with every key and its value (entries deleted meanwhile are skipped); a per-CPU map's value
     * is {@link #valueBytes()} long, the CPUs' values one after the other. Hash maps are read a batch of entries per
     * system call (10,000 services: 3 calls instead of 20,000); maps without batch lookup (LPM tries) a key and a
     * value at a time.
     */
    public void forEach(BiConsumer<byte[], byte[]> each) {
        int valueBytes = valueBytes();
        if (!forEachBatched(each, valueBytes)) {
            forEachByKey(each, valueBytes);
        }
    }

    /** False when the map type has no batch lookup (nothing was passed to {@code each} then). */
    private boolean forEachBatched(BiConsumer<byte[], byte[]> each, int valueBytes) {
        try (Arena a = Arena.ofConfined()) {
            // the position is a bucket number for hash maps, a key for others: room for either
            MemorySegment in = a.allocate(Math.max(8, keySize), 8);
            MemorySegment out = a.allocate(Math.max(8, keySize), 8);
            int batch = Math.max(1, Math.min(BATCH, MAX_BATCH_VALUE_BYTES / valueBytes)); // per-CPU maps on many CPUs
            MemorySegment keys = a.allocate((long) keySize * batch, 8);
            MemorySegment values = a.allocate((long) valueBytes * batch, 8);
            MemorySegment n = a.allocate(java.lang.foreign.ValueLayout.JAVA_INT);
            boolean first = true;
            while (true) {
                n.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, batch);
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
                byte[] v = values.asSlice(0, (long) got * valueBytes).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                for (int i = 0; i < got; i++) {
                    each.accept(Arrays.copyOfRange(k, i * keySize, (i + 1) * keySize),
                            Arrays.copyOfRange(v, i * valueBytes, (i + 1) * valueBytes));
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

    private void forEachByKey(BiConsumer<byte[], byte[]> each, int valueBytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(keySize);
            MemorySegment v = a.allocate(valueBytes);
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
