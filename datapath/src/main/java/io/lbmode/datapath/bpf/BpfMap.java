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

    /** {@link #updateBatch(MemorySegment, MemorySegment, int)} of keys and values built in arrays (see {@link BpfLayout}'s writers); not for per-CPU maps. */
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
     * Calls {@code each} with every key and its value (a copy of each; {@link #entries()} without the copies); a
     * per-CPU map's value is {@link #valueBytes()} long, the CPUs' values one after the other.
     */
    public void forEach(BiConsumer<byte[], byte[]> each) {
        Entries all = entries();
        for (int i = 0; i < all.count(); i++) {
            each.accept(Arrays.copyOfRange(all.keys(), i * keySize, (i + 1) * keySize),
                    Arrays.copyOfRange(all.values(), i * all.valueBytes(), (i + 1) * all.valueBytes()));
        }
    }

    /**
     * Every entry of a map, keys and values each packed back to back in one array (entry i's key at
     * {@code i * keySize}, its value at {@code i * valueBytes}).
     *
     * @param valueBytes bytes per value ({@link #valueBytes()}: per CPU for per-CPU maps)
     */
    public record Entries(byte[] keys, byte[] values, int count, int valueBytes) {
        /**
         * The values as host-order u32 words (value i's word j at {@code i * valueBytes / 4 + j}), converted in one bulk
         * copy: a fresh JVM interprets a loop of byte shifts over 10,000 values.
         */
        public int[] valueWords() {
            int[] words = new int[count * valueBytes / 4];
            java.nio.ByteBuffer.wrap(values, 0, words.length * 4).order(java.nio.ByteOrder.nativeOrder()).asIntBuffer().get(words);
            return words;
        }
    }

    /**
     * All entries (a snapshot; entries deleted meanwhile are skipped). Hash maps are read a batch of entries per system
     * call (10,000 services: 3 calls instead of 20,000), each batch copied into the arrays at once: no array or object
     * per entry. Maps without batch lookup (LPM tries) are read a key and a value at a time.
     */
    public Entries entries() {
        int valueBytes = valueBytes();
        Entries all = entriesBatched(valueBytes);
        return all != null ? all : entriesByKey(valueBytes);
    }

    /** Null when the map type has no batch lookup. */
    private Entries entriesBatched(int valueBytes) {
        try (Arena a = Arena.ofConfined()) {
            // the position is a bucket number for hash maps, a key for others: room for either
            MemorySegment in = a.allocate(Math.max(8, keySize), 8);
            MemorySegment out = a.allocate(Math.max(8, keySize), 8);
            int batch = Math.max(1, Math.min(BATCH, MAX_BATCH_VALUE_BYTES / valueBytes)); // per-CPU maps on many CPUs
            MemorySegment keys = a.allocate((long) keySize * batch, 8);
            MemorySegment values = a.allocate((long) valueBytes * batch, 8);
            MemorySegment n = a.allocate(java.lang.foreign.ValueLayout.JAVA_INT);
            byte[] allKeys = new byte[0];
            byte[] allValues = new byte[0];
            int count = 0;
            boolean first = true;
            while (true) {
                n.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, batch);
                int rc = LibBpf.mapLookupBatch(fd, first ? MemorySegment.NULL : in, out, keys, values, n);
                if (first && (rc == -EINVAL || rc == -ENOTSUPP || rc == -EOPNOTSUPP)) {
                    return null;
                }
                if (rc < 0 && rc != -LibBpf.ENOENT) {
                    throw new BpfException("map " + name + ": batch lookup failed: " + LibBpf.errno(rc));
                }
                int got = n.get(java.lang.foreign.ValueLayout.JAVA_INT, 0);
                if (got > 0) {
                    if ((long) (count + got) * Math.max(keySize, valueBytes) > Integer.MAX_VALUE - 16) {
                        throw new BpfException("map " + name + ": too many entries to read at once");
                    }
                    if ((count + got) * keySize > allKeys.length) {
                        // first batch: what it holds (a map's size is unknown ahead); later ones: double
                        int room = Math.max(count + got, first ? got : 2 * count);
                        allKeys = Arrays.copyOf(allKeys, room * keySize);
                        allValues = Arrays.copyOf(allValues, room * valueBytes);
                    }
                    MemorySegment.copy(keys, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, allKeys, count * keySize, got * keySize);
                    MemorySegment.copy(values, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, allValues, count * valueBytes, got * valueBytes);
                    count += got;
                }
                if (rc == -LibBpf.ENOENT) {
                    return new Entries(allKeys, allValues, count, valueBytes);
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

    private Entries entriesByKey(int valueBytes) {
        List<byte[]> keys = keys();
        byte[] allKeys = new byte[keys.size() * keySize];
        byte[] allValues = new byte[keys.size() * valueBytes];
        int count = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(keySize);
            MemorySegment v = a.allocate(valueBytes);
            for (byte[] key : keys) {
                MemorySegment.copy(key, 0, k, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, keySize);
                if (lookup(k, v)) {
                    System.arraycopy(key, 0, allKeys, count * keySize, keySize);
                    MemorySegment.copy(v, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, allValues, count * valueBytes, valueBytes);
                    count++;
                }
            }
        }
        return new Entries(allKeys, allValues, count, valueBytes);
    }

    /** Number of entries (by iteration). */
    public int count() {
        return keys().size();
    }
}
