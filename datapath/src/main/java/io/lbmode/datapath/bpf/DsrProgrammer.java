package io.lbmode.datapath.bpf;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.maglev.Maglev;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.program.Applied;
import io.lbmode.datapath.program.ModeProgrammer;
import io.lbmode.datapath.program.ProgrammingException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.function.IntUnaryOperator;

/**
 * DSR mode: a {@link NodeState} -> the maps of the DSR programs ({@link DsrDatapath}).
 *
 * <ul>
 *   <li>lb_backends: one id per (pod address, port, local-or-not); ids are reused while referenced.</li>
 *   <li>lb_maglev: one Maglev table per service port, written through shared memory, only the slots that change.
 *       Table memory is the map's fixed size (4 Mi slots, 16 MiB): a service gets the configured size M (default
 *       16381, 64 KiB) while that fits, else the smallest size above 100 x its backends ({@link Maglev#compactSize}),
 *       else above 10 x its backends ({@link Maglev#minimalSize}: 10,000 services of 4 backends fit).
 *       A service keeps its size while it exists: changing M would move almost every flow.</li>
 *   <li>lb_services: (VIP, port, protocol) -> its table's slot range and backend count; written last, so a new
 *       service only becomes visible when its table is complete.</li>
 * </ul>
 * IPv6 service ports take the same path into the IPv6 twins (lb_services6, lb_backends6, lb_src_ranges6); backend ids
 * are one id space and the tables share lb_maglev, so a dual-stack Service is two service ports like any other two.
 * Backends for a service are all its endpoints, or only this node's with {@code externalTrafficPolicy: Local}.
 * The first apply of a process adopts the maps a previous agent pinned and rewrites only what differs, so
 * established flows keep their backends and reverse entries across restarts. lb_maglev_inputs keeps a digest of each
 * table range's inputs beside it, so a restarted agent does not even compute the tables whose inputs did not change.
 * Later applies look only at the service ports {@link NodeState#changesFrom} the applied state gives: a change costs in
 * proportion to itself, not to the number of services.
 */
public final class DsrProgrammer implements ModeProgrammer {
    private final String interfaceName;
    private final Path bpffs;
    private final int maglevTableSize;

    private Optional<DsrDatapath> datapath = Optional.empty();
    private Optional<NodeState> applied = Optional.empty();
    private SlotAllocator slots;
    private int seed32;
    /** What lb_services and lb_services6 hold (by us): key -> entry. */
    private final Map<SvcKey, SvcEntry> services = new HashMap<>();
    /** Backend ids in lb_backends and lb_backends6. */
    private final AdoptedBackendIds backendIds = new AdoptedBackendIds();
    /**
     * Each backend's two Maglev name hashes ({@link Maglev#offsetHash}, {@link Maglev#skipHash}) under
     * {@link #hashesSeed}: computed once instead of once per table the backend is in; pruned with its id.
     */
    private final Map<BackendVal, long[]> nameHashes = new HashMap<>();
    private long hashesSeed;
    /**
     * In how many tables of the applied state's service ports each backend is (before any settling for lack of room;
     * a counter to increment in place): its id goes when that reaches none.
     */
    private final Map<BackendVal, int[]> references = new HashMap<>();
    /**
     * Draining service ports left with one table for lack of room, and what they want: tried again on every apply
     * (a change is applied without looking at the unchanged ports, these excepted).
     */
    private final Map<SvcKey, Desired> settledForRoom = new HashMap<>();
    /**
     * New service ports of the applied state that found no room in lb_maglev even at the minimal size: left out, so
     * every other port is programmed (they have no lb_services entry, no slots, no source ranges, and their backends
     * are not counted in {@link #references}). Reported in {@link Applied#notProgrammed}; tried again, in the state's
     * order, on every apply that may have room for them.
     */
    private final Map<SvcKey, ServicePort> leftOut = new HashMap<>();
    /** The last apply failed part way: the next one goes over every service port. */
    private boolean incomplete;
    /** Service ports the last apply built the desired tables of (all of them, or only the changed ones): for tests. */
    private int examined;
    /** Reused by {@link #writeTable} and {@link #copyRange}: the fill, the slots before, hashes, ids, fill scratch. */
    private int[] slotBuffer = new int[0];
    private int[] currentBuffer = new int[0];
    private long[] hashBuffer = new long[0];
    private int[] idBuffer = new int[0];
    private int[] fillScratch = new int[0];
    /** Inputs each service's tables were last built from; equal inputs skip the Maglev computation. */
    private final Map<SvcKey, Tables> built = new HashMap<>();
    /** What lb_source_ranges holds (by us): service -> allowed client prefixes. */
    private final Map<SvcKey, Set<Cidr>> ranges = new HashMap<>();
    /** What lb_maglev_inputs holds (by us): a table range's first slot -> digest of the inputs it holds the tables of. */
    private final AdoptedDigests digests = new AdoptedDigests();
    private int nextBackendId = 1;

    /*
     * equals and hashCode written out in the records used as hash keys and compared per service on every apply: a
     * record's generated ones go through method handles, which a fresh JVM interprets (an agent's first programming
     * of 10,000 services makes some 100,000 such calls).
     */

    /** A service port's key: an IPv4 VIP's goes to lb_services, an IPv6 VIP's to lb_services6. */
    record SvcKey(InetAddress vip, int port, int proto) {
        @Override
        public boolean equals(Object o) {
            return o instanceof SvcKey k && port == k.port && proto == k.proto && vip.equals(k.vip);
        }

        @Override
        public int hashCode() {
            return (vip.hashCode() * 31 + port) * 31 + proto;
        }

        boolean ipv6() {
            return vip instanceof Inet6Address;
        }

        String mapName() {
            return ipv6() ? DsrDatapath.SERVICES6 : DsrDatapath.SERVICES;
        }

        String rangesMapName() {
            return ipv6() ? DsrDatapath.SOURCE_RANGES6 : DsrDatapath.SOURCE_RANGES;
        }

        String text() {
            return Addresses.text(vip) + ":" + port;
        }
    }

    /**
     * @param size  Maglev table size M
     * @param flags {@code svc_value.flags}; with {@link BpfLayout#SVC_F_DRAINING} the range holds two tables
     */
    record SvcEntry(int offset, int size, int backends, int flags) {
        @Override
        public boolean equals(Object o) {
            return o instanceof SvcEntry e && offset == e.offset && size == e.size && backends == e.backends && flags == e.flags;
        }

        @Override
        public int hashCode() {
            return ((offset * 31 + size) * 31 + backends) * 31 + flags;
        }

        /** Slots the service holds in lb_maglev. */
        int length() {
            return (flags & BpfLayout.SVC_F_DRAINING) != 0 ? 2 * size : size;
        }
    }

    /**
     * What a service's tables are built from.
     *
     * @param fresh       where new connections go: the new-connection table
     * @param established while endpoints drain (TCP): the ready and the serving-terminating ones, in the order every
     *                    node uses, i.e. the backends the table had before they began terminating; else empty
     */
    record Tables(List<BackendVal> fresh, List<BackendVal> established) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Tables t && fresh.equals(t.fresh) && established.equals(t.established);
        }

        @Override
        public int hashCode() {
            return fresh.hashCode() * 31 + established.hashCode();
        }

        boolean draining() {
            return !established.isEmpty();
        }

        int length(int size) {
            return draining() ? 2 * size : size;
        }

        Tables settled() {
            return new Tables(fresh, List.of());
        }
    }

    /** What one service port should look like in the maps. */
    record Desired(Tables tables, int flags, Set<Cidr> ranges) {
    }

    /**
     * A 128-bit digest of a table range's inputs ({@link #digestOf}). Not a cryptographic hash: SHA-256 cost a restarted
     * agent more than the tables it let it skip (10,000 digests in a fresh JVM, before the JIT compiles SHA-256:
     * 100-200 ms). A collision needs two input sets of the same service port, both from the cluster's own endpoints,
     * and could only leave that service its own previous table; about 2^-128 by chance.
     */
    record Digest(long high, long low) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Digest d && high == d.high && low == d.low;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(high ^ low);
        }

        void writeTo(byte[] b, int off) {
            BpfLayout.putHost64(b, off, high);
            BpfLayout.putHost64(b, off + 8, low);
        }

    }

    /**
     * Names the way {@link Maglev#table} fills a table: part of every digest, so a build that fills tables differently
     * (MaglevTest's golden checksums would change with it) rewrites the tables an older agent left instead of trusting
     * their digests. Change it together with the algorithm.
     */
    static final long MAGLEV_FILL = 0x6c62_6d67_6c76_0001L; // "lbmglv" v1

    /** Two independent 64-bit lanes, each word multiplied in, rotated and folded (the Maglev name hash's mixing). */
    private static final class Digester {
        private long high = 0x243f_6a88_85a3_08d3L;
        private long low = 0x1319_8a2e_0370_7344L;

        Digester add(long word) {
            high = lane(high, word, 0x9e37_79b9_7f4a_7c15L);
            low = lane(low, word, 0xc2b2_ae3d_27d4_eb4fL);
            return this;
        }

        private static long lane(long h, long word, long k) {
            h ^= word * k;
            h = Long.rotateLeft(h, 29) * 0xbf58_476d_1ce4_e5b9L;
            return h ^ (h >>> 32);
        }

        Digest digest() {
            return new Digest(fmix(high ^ low >>> 1), fmix(low ^ high << 1));
        }

        private static long fmix(long h) {
            h ^= h >>> 33;
            h *= 0xff51_afd7_ed55_8ccdL;
            h ^= h >>> 33;
            h *= 0xc4ce_b9fe_1a85_ec53L;
            return h ^ (h >>> 33);
        }
    }

    /** A backend: an IPv4 pod's goes to lb_backends, an IPv6 pod's to lb_backends6 (one id space for both). */
    record BackendVal(InetAddress addr, int port, boolean local) {
        @Override
        public boolean equals(Object o) {
            return o instanceof BackendVal b && port == b.port && local == b.local && addr.equals(b.addr);
        }

        @Override
        public int hashCode() {
            return (addr.hashCode() * 31 + port) * 2 + (local ? 1 : 0);
        }

        /** What the Maglev table is built from: the same text on every node (IPv6 in brackets, RFC 5952 form). */
        String name() {
            return addr instanceof Inet6Address ? "[" + Addresses.text(addr) + "]:" + port : addr.getHostAddress() + ":" + port;
        }

        String mapName() {
            return addr instanceof Inet6Address ? DsrDatapath.BACKENDS6 : DsrDatapath.BACKENDS;
        }
    }

    /**
     * @param interfaceName   where to attach; empty: the interface that holds the node's InternalIP
     * @param bpffs           bpffs directory for the pins
     * @param maglevTableSize M for services while table memory allows, one of {@link Maglev#TABLE_SIZES}
     */
    public DsrProgrammer(String interfaceName, Path bpffs, int maglevTableSize) {
        this.interfaceName = Objects.requireNonNull(interfaceName, "interfaceName");
        this.bpffs = Objects.requireNonNull(bpffs, "bpffs");
        if (!Maglev.TABLE_SIZES.contains(maglevTableSize)) {
            throw new IllegalArgumentException("Maglev table size must be one of " + Maglev.TABLE_SIZES + ", not " + maglevTableSize);
        }
        this.maglevTableSize = maglevTableSize;
    }

    static int fold(long seed) {
        return (int) (seed ^ (seed >>> 32));
    }

    @Override
    public ForwardMode mode() {
        return ForwardMode.DSR;
    }

    /** The loaded datapath (after the first apply), for status, metrics and tests. */
    public Optional<DsrDatapath> datapath() {
        return datapath;
    }

    @Override
    public Applied apply(NodeState desired) {
        long start = System.nanoTime();
        try {
            boolean full = datapath.isEmpty();
            if (full) {
                adopt(desired.node());
            }
            int changes;
            try {
                changes = program(desired);
                incomplete = false;
                applied = Optional.of(desired);
                if (roomForLeftOut()) {
                    // Room the apply freed after placing the new tables (services gone, drains ended): the ports
                    // left out get it now, not at some later change.
                    changes += program(desired);
                }
            } catch (RuntimeException e) {
                incomplete = true; // what we hold of the ports may be half updated: the next apply goes over all
                throw e;
            }
            return new Applied(full, changes, Duration.ofNanos(System.nanoTime() - start), notProgrammed());
        } catch (BpfException e) {
            // What we believe is programmed may now differ from the kernel: the next apply reads it back first.
            datapath.ifPresent(DsrDatapath::close);
            datapath = Optional.empty();
            applied = Optional.empty();
            throw new ProgrammingException("DSR programs for node " + desired.node().name() + ": " + e.getMessage(), e);
        } catch (LinkageError e) {
            throw new ProgrammingException("DSR programs for node " + desired.node().name() + ": " + LIBBPF_MISSING, e);
        }
    }

    private static final String LIBBPF_MISSING = LibBpf.LIBRARY + " cannot be loaded: install libbpf1 (apt-get install libbpf1) "
            + "and run java with --enable-native-access=ALL-UNNAMED";

    /** Without libbpf nothing of DSR can have been programmed by us; checked without initialising LibBpf. */
    private static boolean libbpfPresent() {
        try {
            java.lang.foreign.SymbolLookup.libraryLookup(LibBpf.LIBRARY, Arena.global());
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Loads (adopting pins), attaches, and reads back what an earlier agent programmed. */
    private void adopt(NodeInfo node) {
        String iface = resolveInterface(node);
        DsrDatapath dp = DsrDatapath.load(bpffs);
        FutureTask<BpfMap.Entries[]> reading = null;
        try {
            dp.attach(iface);
            services.clear();
            backendIds.clear();
            nameHashes.clear();
            built.clear();
            ranges.clear();
            digests.clear();
            slots = new SlotAllocator(dp.maglevSlotCount());
            // The kernel reads a hash map's batch a bucket at a time (about 0.3 us per entry): lb_maglev_inputs and the
            // backend maps are read on a second thread while this one reads and claims the services.
            reading = new FutureTask<>(() -> new BpfMap.Entries[]{
                    dp.map(DsrDatapath.MAGLEV_INPUTS).entries(), dp.map(DsrDatapath.BACKENDS).entries(),
                    dp.map(DsrDatapath.BACKENDS6).entries()});
            Thread.ofPlatform().name("lbmode-dsr-adopt").daemon().start(reading);
            long[] starts = adoptServices(dp);
            PinnedRanges pinned = PinnedRanges.in(dp);
            try (Arena a = Arena.ofConfined()) {
                pinned.malformed().forEach((name, keys) -> keys.forEach(
                        key -> dp.map(name).delete(a.allocateFrom(ValueLayout.JAVA_BYTE, key))));
            }
            ranges.putAll(pinned.ranges());
            BpfMap.Entries[] read = entries(reading);
            adoptDigests(dp, read[0], starts);
            adoptBackends(read[1], read[2]);
            datapath = Optional.of(dp);
        } catch (RuntimeException e) {
            if (reading != null) {
                try {
                    reading.get(); // done with the maps before their fds are closed (and their numbers reused)
                } catch (ExecutionException | RuntimeException ignored) {
                    // the failure at hand is the one to report
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
            dp.close();
            throw e;
        }
    }

    /** What {@code reading} read, or its exception. */
    private static BpfMap.Entries[] entries(FutureTask<BpfMap.Entries[]> reading) {
        try {
            return reading.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new BpfException("reading the pinned maps failed: " + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BpfException("interrupted while reading the pinned maps");
        }
    }

    /**
     * Takes over the pinned service entries whose table ranges can be trusted, claiming the ranges in lb_maglev; deletes
     * the others (a range that overlaps another, or leaves the table memory), so the apply that follows builds those
     * as new services.
     *
     * @return the first slots of the adopted ranges, as a bitmap of lb_maglev's slots (a fresh JVM sorts 10,000 ints
     *         for a binary search in milliseconds)
     */
    private long[] adoptServices(DsrDatapath dp) {
        PinnedServices pinned = PinnedServices.in(dp);
        int n = pinned.count();
        int[] offsets = new int[n];
        long[] lengths = new long[n];
        for (int i = 0; i < n; i++) {
            offsets[i] = pinned.offset(i);
            lengths[i] = pinned.length(i);
        }
        boolean[] claimed = slots.claimAll(offsets, lengths, n);
        long[] starts = new long[(slots.capacity() + 63) >>> 6];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.SVC6_KEY_SIZE);
            for (int i = 0; i < n; i++) {
                if (claimed[i]) {
                    services.put(pinned.key(i), pinned.entry(i));
                    starts[offsets[i] >>> 6] |= 1L << offsets[i]; // claimed: inside the table memory
                } else {
                    pinned.delete(dp, i, key); // cannot be trusted: rebuilt as a new service
                }
            }
        }
        return starts;
    }

    /**
     * Takes over the backend ids of lb_backends (as numbers, until the apply asks for them: {@link AdoptedBackendIds})
     * and lb_backends6.
     */
    private void adoptBackends(BpfMap.Entries v4, BpfMap.Entries v6) {
        byte[] keys = v4.keys();
        byte[] values = v4.values();
        backendIds.expect(v4.count());
        for (int i = 0; i < v4.count(); i++) {
            int id = BpfLayout.host32(keys, 4 * i);
            int off = i * v4.valueBytes();
            backendIds.adopt4(BpfLayout.be32(values, off), BpfLayout.u16(values, off + 4),
                    (values[off + 6] & BpfLayout.BACKEND_F_LOCAL) != 0, id);
            nextBackendId = Math.max(nextBackendId, id + 1);
        }
        keys = v6.keys();
        values = v6.values();
        for (int i = 0; i < v6.count(); i++) {
            int id = BpfLayout.host32(keys, 4 * i);
            int off = i * v6.valueBytes();
            backendIds.put(new BackendVal(BpfLayout.getAddr6(values, off), BpfLayout.u16(values, off + 16),
                    (values[off + 18] & BpfLayout.BACKEND_F_LOCAL) != 0), id);
            nextBackendId = Math.max(nextBackendId, id + 1);
        }
    }

    /**
     * Keeps the pinned digests of ranges an adopted service starts at ({@code starts}, a bitmap of slots); deletes the others
     * (left by a service the previous agent removed without getting to its digest, or by one dropped as overlapping),
     * so a later service allocated there cannot match a stale digest.
     */
    private void adoptDigests(DsrDatapath dp, BpfMap.Entries all, long[] starts) {
        BpfMap map = dp.map(DsrDatapath.MAGLEV_INPUTS);
        byte[] keys = all.keys();
        byte[] values = all.values();
        List<Integer> stale = new ArrayList<>();
        digests.expect(all.count());
        for (int i = 0; i < all.count(); i++) {
            int offset = BpfLayout.host32(keys, 4 * i);
            if (offset >= 0 && offset >>> 6 < starts.length && (starts[offset >>> 6] & 1L << offset) != 0) {
                int off = BpfLayout.MAGLEV_DIGEST_SIZE * i;
                digests.adopt(offset, BpfLayout.host64(values, off), BpfLayout.host64(values, off + 8));
            } else {
                stale.add(offset);
            }
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(4, 4);
            for (int offset : stale) {
                key.set(BpfLayout.HOST32, 0, offset);
                map.delete(key);
            }
        }
    }

    /** Removes the digest of the range at {@code offset} from lb_maglev_inputs, before the range changes. */
    private void forgetDigest(BpfMap map, MemorySegment key4, int offset) {
        if (digests.remove(offset) != null) {
            key4.set(BpfLayout.HOST32, 0, offset);
            map.delete(key4);
        }
    }

    /**
     * Digest of everything a service's table range is computed from: the fill algorithm, seed, size M, and each table's
     * backends in order (address family and bytes, port, local flag) with the ids its slots hold. Equal digests: equal
     * slots. The VIP's family is not an input: a range's slots depend only on these, whichever map points at it.
     */
    private Digest digestOf(Tables tables, int size, long seed) {
        Digester d = new Digester().add(MAGLEV_FILL).add(seed).add(size);
        for (List<BackendVal> bes : List.of(tables.fresh(), tables.established())) {
            d.add(bes.size());
            for (BackendVal be : bes) {
                byte[] a = be.addr().getAddress();
                long portLocal = (long) be.port() << 1 | (be.local() ? 1 : 0);
                if (a.length == 4) {
                    long addr = (a[0] & 0xffL) << 24 | (a[1] & 0xffL) << 16 | (a[2] & 0xffL) << 8 | (a[3] & 0xffL);
                    d.add(addr << 32 | portLocal);
                } else {
                    // family marker in bits an IPv4 word leaves zero (port << 1 | local < 2^17), then the 16 bytes:
                    // an IPv6 backend never digests like an IPv4 one or like a run of them
                    d.add(IPV6_BACKEND << 24 | portLocal).add(bigEndian64(a, 0)).add(bigEndian64(a, 8));
                }
                d.add(backendIds.get(be));
            }
        }
        return d.digest();
    }

    /** Marks an IPv6 backend's first digest word (an IPv4 one's bits 24-31 are zero). */
    private static final long IPV6_BACKEND = 6;

    private static long bigEndian64(byte[] b, int off) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = v << 8 | (b[off + i] & 0xffL);
        }
        return v;
    }

    /**
     * What lb_services and lb_services6 hold, as read (each in batches): entry i of either (IPv4 first), decoded when
     * asked for, so a restart creates objects only for the entries it keeps.
     */
    private record PinnedServices(BpfMap.Entries v4, BpfMap.Entries v6, int[] words4, int[] words6) {
        static PinnedServices in(DsrDatapath dp) {
            BpfMap.Entries v4 = dp.map(DsrDatapath.SERVICES).entries();
            BpfMap.Entries v6 = dp.map(DsrDatapath.SERVICES6).entries();
            return new PinnedServices(v4, v6, v4.valueWords(), v6.valueWords());
        }

        int count() {
            return v4.count() + v6.count();
        }

        SvcKey key(int i) {
            if (i < v4.count()) {
                byte[] k = v4.keys();
                int off = i * BpfLayout.SVC_KEY_SIZE;
                return new SvcKey(BpfLayout.getAddr(k, off), BpfLayout.u16(k, off + 4), k[off + 6]);
            }
            byte[] k = v6.keys();
            int off = (i - v4.count()) * BpfLayout.SVC6_KEY_SIZE;
            return new SvcKey(BpfLayout.getAddr6(k, off), BpfLayout.u16(k, off + 16), k[off + 18]);
        }

        /** struct svc_value's word {@code field} of entry i: slot_offset, slot_count, backends, flags. */
        private int word(int i, int field) {
            return i < v4.count() ? words4[4 * i + field] : words6[4 * (i - v4.count()) + field];
        }

        SvcEntry entry(int i) {
            return new SvcEntry(word(i, 0), word(i, 1), word(i, 2), word(i, 3));
        }

        /** svc_value.slot_offset. */
        int offset(int i) {
            return word(i, 0);
        }

        /** Slots the entry's range spans ({@link SvcEntry#length}), without overflowing for garbage. */
        long length(int i) {
            long size = word(i, 1);
            return (word(i, 3) & BpfLayout.SVC_F_DRAINING) != 0 ? 2 * size : size;
        }

        /** Deletes entry i from its map; {@code scratch} holds an lb_services6 key. */
        void delete(DsrDatapath dp, int i, MemorySegment scratch) {
            boolean ipv4 = i < v4.count();
            int keySize = ipv4 ? BpfLayout.SVC_KEY_SIZE : BpfLayout.SVC6_KEY_SIZE;
            MemorySegment.copy(ipv4 ? v4.keys() : v6.keys(), (ipv4 ? i : i - v4.count()) * keySize, scratch,
                    ValueLayout.JAVA_BYTE, 0, keySize);
            dp.map(ipv4 ? DsrDatapath.SERVICES : DsrDatapath.SERVICES6).delete(scratch.asSlice(0, keySize));
        }

        /** True when the maps hold exactly {@code services}. */
        boolean holdExactly(Map<SvcKey, SvcEntry> services) {
            if (count() != services.size()) {
                return false;
            }
            for (int i = 0; i < count(); i++) {
                if (!entry(i).equals(services.get(key(i)))) {
                    return false;
                }
            }
            return true;
        }
    }

    private String resolveInterface(NodeInfo node) {
        if (!interfaceName.isEmpty()) {
            return interfaceName;
        }
        if (node.address().equals(NodeInfo.UNKNOWN_ADDRESS)) {
            throw new BpfException("node " + node.name() + ": its InternalIP is not known yet, so the interface to attach to "
                    + "is not either; pass --interface");
        }
        try {
            NetworkInterface nif = NetworkInterface.getByInetAddress(node.address());
            if (nif == null) {
                throw new BpfException("node " + node.name() + ": no interface holds its InternalIP " + node.address().getHostAddress()
                        + "; pass --interface");
            }
            return nif.getName();
        } catch (SocketException e) {
            throw new BpfException("node " + node.name() + ": listing interfaces failed (" + e.getMessage() + "); pass --interface");
        }
    }

    /** Per service port: the backends, in the order every node uses. */
    private static List<BackendVal> backendsOf(ServicePort s) {
        return backendVals(s.backends(), s.localOnly());
    }

    private static List<BackendVal> backendVals(List<Backend> backends, boolean localOnly) {
        // ServicePort's lists are sorted and distinct already (same order on every node); addresses are unique
        // per node, so address and port identify a backend.
        List<BackendVal> out = new ArrayList<>(backends.size());
        for (Backend b : backends) {
            if (!localOnly || b.local()) {
                out.add(new BackendVal(b.address(), b.port(), b.local())); // of the VIP's family (ServicePort checks)
            }
        }
        return out;
    }

    /**
     * Tables, flags and source ranges of a service port. Draining endpoints matter for TCP only: a UDP datagram carries
     * nothing that tells a new flow from an old one, so UDP uses the new-connection table for every packet (datagrams
     * stop going to a terminating endpoint at once, as its other UDP traffic would with kube-proxy's conntrack flush
     * for endpoints that stop serving).
     */
    static Desired desiredOf(ServicePort s) {
        List<BackendVal> fresh = backendsOf(s);
        List<BackendVal> established = List.of();
        if (s.protocol() == Protocol.TCP && !fresh.isEmpty() && !backendVals(s.draining(), s.localOnly()).isEmpty()) {
            List<Backend> all = new ArrayList<>(s.backends());
            all.addAll(s.draining());
            all.sort(null); // the order ServicePort gave them while they were all ready
            established = backendVals(all, s.localOnly());
        }
        int flags = (s.policy().restricted() ? BpfLayout.SVC_F_SOURCE_RANGES : 0)
                | (s.policy().affinity() ? BpfLayout.SVC_F_AFFINITY : 0)
                | (established.isEmpty() ? 0 : BpfLayout.SVC_F_DRAINING);
        // The VIP's own family's prefixes: restricted with none of them (only IPv6 ranges) admits no client.
        return new Desired(new Tables(fresh, established), flags, Set.copyOf(s.sourceRanges()));
    }

    private static SvcKey keyOf(ServicePort s) {
        return new SvcKey(s.vip(), s.port(), s.protocol() == Protocol.TCP ? BpfLayout.PROTO_TCP : BpfLayout.PROTO_UDP);
    }

    /** Service ports the last apply built the desired tables of: all after a (re)start or a seed change, else the changed ones. */
    int examined() {
        return examined;
    }

    /**
     * Brings the maps to {@code desired}; returns the number of map entries and slots written or deleted. The first
     * apply of a programmer (after adopting the pins) and one with a new seed go over every service port; later ones
     * over the ports {@link NodeState#changesFrom} the applied state gives, so a change costs in proportion to itself.
     */
    private int program(NodeState desired) {
        DsrDatapath dp = datapath.orElseThrow();
        BpfMap svcMap = dp.map(DsrDatapath.SERVICES);
        MemorySegment table = dp.maglevSlots();
        int changes = 0;
        int newSeed = fold(desired.hashSeed());
        boolean seedChanged = newSeed != seed32 || applied.isEmpty();
        boolean everything = applied.isEmpty() || incomplete || applied.get().hashSeed() != desired.hashSeed();
        if (newSeed != seed32) {
            built.clear(); // every table depends on the seed
        }
        seed32 = newSeed;
        if (desired.hashSeed() != hashesSeed) {
            nameHashes.clear();
            hashesSeed = desired.hashSeed();
        }

        try (Arena a = Arena.ofConfined()) {
            MemorySegment key4 = a.allocate(4);
            MemorySegment cfg = a.allocate(BpfLayout.CONFIG_SIZE);
            MemorySegment cur = a.allocate(BpfLayout.CONFIG_SIZE);
            key4.set(ValueLayout.JAVA_INT, 0, 0);
            cfg.set(BpfLayout.HOST32, 0, seed32);
            cfg.set(BpfLayout.HOST32, 4, 0);
            BpfMap cfgMap = dp.map(DsrDatapath.CONFIG);
            if (seedChanged && (!cfgMap.lookup(key4, cur) || cur.get(BpfLayout.HOST32, 0) != seed32)) {
                cfgMap.update(key4, cfg);
                changes++;
            }

            // The service ports to bring up to date (want) and those that went (dropped): all of them, or the changes.
            Map<SvcKey, Desired> want = new LinkedHashMap<>();
            Set<SvcKey> dropped = new HashSet<>();
            List<Tables> unreferencing = new ArrayList<>(); // the tables of the ports before the change
            if (everything) {
                for (ServicePort s : desired.services()) {
                    want.put(keyOf(s), desiredOf(s)); // IPv4 VIPs to lb_services, IPv6 ones to lb_services6
                }
                for (SvcKey sk : services.keySet()) {
                    if (!want.containsKey(sk)) {
                        dropped.add(sk);
                    }
                }
                settledForRoom.clear();
                leftOut.clear();
            } else {
                NodeState.Changes changed = desired.changesFrom(applied.get());
                List<ServicePort> after = changed.after();
                for (ServicePort s : changed.before()) {
                    if (!leftOut.isEmpty() && leftOut.remove(keyOf(s)) != null) {
                        continue; // held no references (and if it is in after, it is new again)
                    }
                    unreferencing.add(desiredOf(s).tables());
                }
                if (!leftOut.isEmpty()) {
                    after = withLeftOutThatMayFit(after);
                }
                for (ServicePort s : after) {
                    want.put(keyOf(s), desiredOf(s));
                }
                for (ServicePort s : changed.before()) {
                    SvcKey sk = keyOf(s);
                    if (!want.containsKey(sk)) {
                        dropped.add(sk);
                    }
                }
            }
            Collection<Desired> referencing = everything ? want.values() : List.copyOf(want.values());
            if (!everything) {
                settledForRoom.forEach((sk, d) -> {
                    if (!dropped.contains(sk)) {
                        want.putIfAbsent(sk, d); // tried again; what it references did not change
                    }
                });
            }
            examined = want.size();

            // 1. Backends first, so every id a table will point at exists (one batched system call per family).
            //    Each backend counts the tables it is in; ids of backends no table is in any more go in step 6.
            MemorySegment beKey = a.allocate(4);
            Set<BackendVal> unreferenced = new HashSet<>();
            if (everything) {
                references.clear();
            }
            for (Tables t : unreferencing) {
                unreference(t, unreferenced);
            }
            Set<BackendVal> added4 = new LinkedHashSet<>();
            Set<BackendVal> added6 = new LinkedHashSet<>();
            for (Desired d : referencing) {
                reference(d.tables().fresh(), added4, added6);
                reference(d.tables().established(), added4, added6);
            }
            for (Set<BackendVal> added : List.of(added4, added6)) { // lb_backends, lb_backends6
                if (added.isEmpty()) {
                    continue;
                }
                boolean v6 = added == added6;
                int valueSize = v6 ? BpfLayout.BACKEND6_VALUE_SIZE : BpfLayout.BACKEND_VALUE_SIZE;
                byte[] keys = new byte[4 * added.size()];
                byte[] values = new byte[valueSize * added.size()];
                int i = 0;
                for (BackendVal b : added) {
                    BpfLayout.putHost32(keys, 4 * i, nextBackendId);
                    BpfLayout.backendValue(values, valueSize * i, b.addr(), b.port(), b.local());
                    backendIds.put(b, nextBackendId++);
                    i++;
                }
                dp.map(v6 ? DsrDatapath.BACKENDS6 : DsrDatapath.BACKENDS).updateBatch(keys, values, added.size());
                changes += added.size();
            }

            // 2. Source ranges a service will check: added before its entry says to check them.
            changes += addSourceRanges(dp, want);

            // 3. Tables and service entries. New services get the configured size M when all of them fit into the
            //    free table memory, else the compact size (M above 100 x backends), else the minimal one (M above
            //    10 x backends): decided for the whole batch so 10,000 services do not leave the first few hundred
            //    with 64 KiB tables and the rest with nothing.
            List<Tables> newTables = want.entrySet().stream().filter(w -> !services.containsKey(w.getKey()))
                    .map(w -> w.getValue().tables()).toList();
            IntUnaryOperator newSize = newTables.stream().mapToLong(t -> t.length(maglevTableSize)).sum() <= slots.freeSlots()
                    ? backends -> maglevTableSize
                    : newTables.stream().mapToLong(t -> t.length(Maglev.compactSize(t.fresh().size(), maglevTableSize))).sum()
                            <= slots.freeSlots()
                    ? backends -> Maglev.compactSize(backends, maglevTableSize)
                    : backends -> Maglev.minimalSize(backends, maglevTableSize);
            MemorySegment svcKey = a.allocate(BpfLayout.SVC6_KEY_SIZE);
            // one batch per family (the key sizes differ): [0] lb_services, [1] lb_services6
            // built in arrays, copied to native memory once per batch (BpfLayout's array writers say why)
            // (on first use: a restarted agent's apply of an unchanged state writes none)
            byte[][] svcKeys = new byte[2][];
            byte[][] svcVals = new byte[2][];
            int[] svcUpdates = new int[2];
            BpfMap digestMap = dp.map(DsrDatapath.MAGLEV_INPUTS);
            MemorySegment key4b = a.allocate(4, 4);
            Map<Integer, Digest> written = new LinkedHashMap<>();
            Map<Digest, Integer> writtenAt = new HashMap<>(); // a range written above with these inputs
            List<SvcEntry> superseded = new ArrayList<>();
            for (Map.Entry<SvcKey, Desired> w : want.entrySet()) {
                SvcKey sk = w.getKey();
                Tables tables = w.getValue().tables();
                int flags = w.getValue().flags();
                SvcEntry e = services.get(sk);
                if (e != null && tables.equals(built.get(sk)) && e.flags() == flags) {
                    continue;
                }
                int size = e != null ? e.size() : newSize.applyAsInt(tables.fresh().size());
                OptionalInt offset = e != null && e.length() == tables.length(size) ? OptionalInt.of(e.offset())
                        : slots.allocate(tables.length(size));
                settledForRoom.remove(sk);
                if (offset.isEmpty() && tables.draining()) {
                    // No room for a second table: this service drains its terminating endpoints abruptly for now.
                    settledForRoom.put(sk, w.getValue());
                    tables = tables.settled();
                    flags &= ~BpfLayout.SVC_F_DRAINING;
                    offset = e != null && e.length() == size ? OptionalInt.of(e.offset()) : slots.allocate(size);
                }
                if (offset.isEmpty() && e == null) {
                    for (int smaller : new int[]{Maglev.compactSize(tables.fresh().size(), maglevTableSize),
                            Maglev.minimalSize(tables.fresh().size(), maglevTableSize)}) {
                        if (offset.isEmpty() && smaller < size) {
                            size = smaller;
                            offset = slots.allocate(tables.length(size));
                        }
                    }
                }
                if (offset.isEmpty() && e == null) {
                    // No room even at the minimal size: left out, so that every other port is programmed.
                    changes += leaveOut(dp, sk, w.getValue(), desired, unreferenced);
                    continue;
                }
                if (offset.isEmpty() && e != null && e.length() > tables.length(size)) {
                    // A drain ended without room for a fresh range: the table is rewritten in place over the first
                    // part of the range (the new-connection table it replaces), and the rest freed after the entry
                    // stops using it, as a superseded range is.
                    offset = OptionalInt.of(e.offset());
                    superseded.add(new SvcEntry(e.offset() + tables.length(size), e.length() - tables.length(size), 0, 0));
                }
                if (offset.isEmpty()) {
                    // Not reached (a new port without room is left out, an existing one keeps all or part of its
                    // range); should it be, the next apply reads the maps back and starts over.
                    throw new BpfException("service " + sk.text() + ": Maglev table memory is full ("
                            + slots.capacity() + " slots, " + slots.freeSlots() + " free); fewer LoadBalancer service ports "
                            + "(or fewer endpoints per port) on this node free room");
                }
                SvcEntry entry = new SvcEntry(offset.getAsInt(), size, tables.fresh().size(), flags);
                boolean moved = e != null && e.offset() != entry.offset();
                if (moved || !tables.equals(built.get(sk))) {
                    Digest inputs = digestOf(tables, size, desired.hashSeed());
                    // Equal digest: the range holds these tables already (a restarted agent, whose built is empty).
                    if (!inputs.equals(digests.get(entry.offset()))) {
                        forgetDigest(digestMap, key4b, entry.offset());
                        Integer same = writtenAt.get(inputs);
                        if (same != null) {
                            // Equal inputs (services with the same endpoints): equal slots, computed once.
                            changes += copyRange(table, same, entry.offset(), tables.length(size));
                        } else {
                            changes += writeTable(table, entry.offset(), size, tables.fresh());
                            if (tables.draining()) {
                                changes += writeTable(table, entry.offset() + size, size, tables.established());
                            }
                            writtenAt.put(inputs, entry.offset());
                        }
                        written.put(entry.offset(), inputs);
                    }
                }
                if (!entry.equals(e)) {
                    int f = sk.ipv6() ? 1 : 0;
                    int keySize = BpfLayout.svcKeySize(sk.vip());
                    if (svcKeys[f] == null) {
                        svcKeys[f] = new byte[keySize * want.size()];
                        svcVals[f] = new byte[BpfLayout.SVC_VALUE_SIZE * want.size()];
                    }
                    BpfLayout.svcKey(svcKeys[f], svcUpdates[f] * keySize, sk.vip(), sk.port(), sk.proto());
                    BpfLayout.svcValue(svcVals[f], svcUpdates[f] * BpfLayout.SVC_VALUE_SIZE,
                            entry.offset(), entry.size(), entry.backends(), entry.flags());
                    svcUpdates[f]++;
                    changes++;
                }
                if (moved) {
                    superseded.add(e);
                }
                services.put(sk, entry);
                built.put(sk, tables);
            }
            // Service entries last, in one system call: a service becomes visible only with its table complete.
            if (svcUpdates[0] > 0) {
                svcMap.updateBatch(svcKeys[0], svcVals[0], svcUpdates[0]);
            }
            if (svcUpdates[1] > 0) {
                dp.map(DsrDatapath.SERVICES6).updateBatch(svcKeys[1], svcVals[1], svcUpdates[1]);
            }
            // Digests of the ranges written, after them (one system call for both families: they share lb_maglev).
            if (!written.isEmpty()) {
                byte[] offsets = new byte[4 * written.size()];
                byte[] values = new byte[BpfLayout.MAGLEV_DIGEST_SIZE * written.size()];
                int i = 0;
                for (Map.Entry<Integer, Digest> w : written.entrySet()) {
                    BpfLayout.putHost32(offsets, 4 * i, w.getKey());
                    w.getValue().writeTo(values, BpfLayout.MAGLEV_DIGEST_SIZE * i);
                    i++;
                }
                digestMap.updateBatch(offsets, values, written.size());
                digests.putAll(written);
            }
            // Ranges a service moved away from (a drain began or ended) are free once no entry points at them.
            for (SvcEntry old : superseded) {
                forgetDigest(digestMap, key4b, old.offset());
                table.asSlice((long) old.offset() * Integer.BYTES, (long) old.length() * Integer.BYTES).fill((byte) 0);
                slots.release(old.offset(), old.length());
            }

            // 4. Services that went away: entry first (stops lookups), then their slots.
            for (SvcKey sk : dropped) {
                SvcEntry e = services.remove(sk);
                settledForRoom.remove(sk);
                if (e != null) {
                    BpfLayout.svcKey(svcKey, sk.vip(), sk.port(), sk.proto());
                    dp.map(sk.mapName()).delete(svcKey.asSlice(0, BpfLayout.svcKeySize(sk.vip())));
                    forgetDigest(digestMap, key4b, e.offset());
                    table.asSlice((long) e.offset() * Integer.BYTES, (long) e.length() * Integer.BYTES).fill((byte) 0);
                    slots.release(e.offset(), e.length());
                    built.remove(sk);
                    changes++;
                }
            }

            // 5. Source ranges no entry checks any more.
            changes += removeSourceRanges(dp, want, everything ? null : dropped);

            // 6. Backends no table points at any more.
            // after a full count every backend is a candidate; after a change those it left without references
            for (BackendVal b : everything ? new ArrayList<>(backendIds.keySet()) : unreferenced) {
                Integer id = backendIds.get(b);
                if (id != null && !references.containsKey(b)) {
                    beKey.set(BpfLayout.HOST32, 0, id);
                    dp.map(b.mapName()).delete(beKey);
                    backendIds.remove(b);
                    nameHashes.remove(b);
                    changes++;
                }
            }
        }
        return changes;
    }

    /**
     * Leaves out the new service port {@code sk}, for which {@link #program} found no room: takes back what steps 1-3
     * did for it (its backends' references, so ids no table needs go in step 6; its source ranges; a wish to drain),
     * and remembers it in {@link #leftOut}. Returns the map entries removed.
     */
    private int leaveOut(DsrDatapath dp, SvcKey sk, Desired d, NodeState desired, Set<BackendVal> unreferenced) {
        unreference(d.tables(), unreferenced);
        settledForRoom.remove(sk);
        int changes = 0;
        Set<Cidr> added = ranges.remove(sk);
        if (added != null) {
            for (Cidr c : added) {
                updateRange(dp, sk, c, false);
                changes++;
            }
        }
        leftOut.put(sk, portOf(desired, sk));
        return changes;
    }

    /** The port of {@code state} with key {@code sk} (the state's ports are sorted by key). */
    private static ServicePort portOf(NodeState state, SvcKey sk) {
        ServicePort.Key key = new ServicePort.Key(sk.vip(), sk.proto() == BpfLayout.PROTO_TCP ? Protocol.TCP : Protocol.UDP, sk.port());
        List<ServicePort> ports = state.services();
        int low = 0;
        int high = ports.size() - 1;
        while (low <= high) {
            int mid = (low + high) >>> 1;
            int c = ports.get(mid).key().compareTo(key);
            if (c == 0) {
                return ports.get(mid);
            }
            if (c < 0) {
                low = mid + 1;
            } else {
                high = mid - 1;
            }
        }
        throw new IllegalStateException("service port " + sk.text() + " is not in the state being applied");
    }

    /**
     * Whether a left-out port might fit now: lb_maglev has at least its minimal size free (fragmentation aside).
     * Those that cannot are not tried, so they cost an apply nothing and do not push its new ports to smaller sizes.
     */
    private boolean mayFit(ServicePort s, int freeSlots) {
        return Maglev.minimalSize(backendCount(s), maglevTableSize) <= freeSlots;
    }

    private boolean roomForLeftOut() {
        if (leftOut.isEmpty()) {
            return false;
        }
        int free = slots.freeSlots();
        return leftOut.values().stream().anyMatch(s -> mayFit(s, free));
    }

    /** {@code backendsOf(s).size()} without building the list. */
    private static int backendCount(ServicePort s) {
        if (!s.localOnly()) {
            return s.backends().size();
        }
        int n = 0;
        for (Backend b : s.backends()) {
            n += b.local() ? 1 : 0;
        }
        return n;
    }

    /**
     * {@code after} with the left-out ports that may fit now, all in the state's order: when ports compete for the
     * room, the first in that order get it, whichever came first in time, so a restarted agent (which goes over every
     * port in that order) leaves out the same ones. They leave {@link #leftOut}; those that still find no room go back.
     */
    private List<ServicePort> withLeftOutThatMayFit(List<ServicePort> after) {
        int free = slots.freeSlots();
        List<ServicePort> retry = leftOut.values().stream().filter(s -> mayFit(s, free)).toList();
        if (retry.isEmpty()) {
            return after;
        }
        retry.forEach(s -> leftOut.remove(keyOf(s)));
        List<ServicePort> all = new ArrayList<>(after);
        all.addAll(retry);
        all.sort(null);
        return all;
    }

    /** {@link #leftOut} for {@link Applied}: in the state's order, with a reason that stays the same while the port does. */
    private List<Applied.NotProgrammed> notProgrammed() {
        if (leftOut.isEmpty()) {
            return List.of();
        }
        // No counts that move with the port's endpoints or other ports: the Event is sent again when the text changes.
        String reason = "the node's Maglev table memory is full: lb_maglev (" + slots.capacity() + " slots) has no room "
                + "for this port's table even at its smallest size (above 10 x its endpoints, at most " + maglevTableSize
                + "); free room with fewer LoadBalancer service ports (or fewer endpoints per port) on this node. "
                + "The other service ports are programmed; this one will be as soon as room is freed";
        return leftOut.values().stream().sorted()
                .map(s -> new Applied.NotProgrammed(s.namespace(), s.name(), s.key() + " (" + s.displayName() + ")", reason))
                .toList();
    }

    /** Counts a reference to each of {@code bes}; those without an id yet into {@code added4} or {@code added6}. */
    private void reference(List<BackendVal> bes, Set<BackendVal> added4, Set<BackendVal> added6) {
        for (int i = 0; i < bes.size(); i++) {
            BackendVal b = bes.get(i);
            int[] count = references.get(b);
            if (count != null) {
                count[0]++;
            } else {
                references.put(b, new int[]{1});
                if (!backendIds.containsKey(b)) {
                    (b.addr() instanceof Inet6Address ? added6 : added4).add(b);
                }
            }
        }
    }

    /** Takes {@code tables}' backends' references back (see {@link #references}); those left with none into {@code unreferenced}. */
    private void unreference(Tables tables, Set<BackendVal> unreferenced) {
        for (List<BackendVal> bes : List.of(tables.fresh(), tables.established())) {
            for (BackendVal b : bes) {
                int[] count = references.get(b);
                if (count != null && --count[0] == 0) {
                    references.remove(b);
                    unreferenced.add(b);
                }
            }
        }
    }

    /** Grows the reused buffers to hold a table of {@code size} slots of {@code n} backends. */
    private void buffers(int size, int n) {
        if (slotBuffer.length < size) {
            slotBuffer = new int[size];
            currentBuffer = new int[size];
        }
        if (idBuffer.length < n) {
            idBuffer = new int[n];
            hashBuffer = new long[2 * n];
            fillScratch = new int[2 * n];
        }
    }

    /**
     * Writes one Maglev table of {@code size} slots at {@code offset} (seed: {@link #hashesSeed}); returns the number
     * of slots that changed. No allocation per table: an agent's first programming fills 10,000 of them.
     */
    private int writeTable(MemorySegment table, int offset, int size, List<BackendVal> bes) {
        int n = bes.size();
        buffers(size, n);
        for (int i = 0; i < n; i++) {
            BackendVal b = bes.get(i);
            long[] h = nameHashes.computeIfAbsent(b, x -> {
                byte[] name = x.name().getBytes(StandardCharsets.UTF_8);
                return new long[]{Maglev.offsetHash(name, hashesSeed), Maglev.skipHash(name, hashesSeed)};
            });
            hashBuffer[2 * i] = h[0];
            hashBuffer[2 * i + 1] = h[1];
            idBuffer[i] = backendIds.get(b);
        }
        int[] next = slotBuffer;
        if (n == 0) {
            Arrays.fill(next, 0, size, Maglev.NONE);
        } else {
            // ServicePort's backend lists are distinct (Maglev.table checks that of its callers' names)
            Maglev.fill(hashBuffer, n, size, next, fillScratch);
        }
        for (int i = 0; i < size; i++) {
            next[i] = next[i] == Maglev.NONE ? 0 : idBuffer[next[i]];
        }
        return store(table, offset, size);
    }

    /** Copies the {@code length} slots at {@code from} to {@code to}; returns the number of slots that changed. */
    private int copyRange(MemorySegment table, int from, int to, int length) {
        buffers(length, 0);
        MemorySegment.copy(table, ValueLayout.JAVA_INT, (long) from * Integer.BYTES, slotBuffer, 0, length);
        return store(table, to, length);
    }

    /** Writes {@link #slotBuffer}'s first {@code length} slots at {@code offset} if any differs; returns how many do. */
    private int store(MemorySegment table, int offset, int length) {
        int[] next = slotBuffer;
        int[] current = currentBuffer;
        MemorySegment.copy(table, ValueLayout.JAVA_INT, (long) offset * Integer.BYTES, current, 0, length);
        int differ = 0;
        for (int i = 0; i < length; i++) {
            differ += next[i] != current[i] ? 1 : 0;
        }
        if (differ > 0) {
            // Slots that do not change are rewritten with the value they hold: invisible to packets.
            MemorySegment.copy(next, 0, table, ValueLayout.JAVA_INT, (long) offset * Integer.BYTES, length);
        }
        return differ;
    }

    private int addSourceRanges(DsrDatapath dp, Map<SvcKey, Desired> want) {
        int changes = 0;
        for (Map.Entry<SvcKey, Desired> w : want.entrySet()) {
            Set<Cidr> have = ranges.getOrDefault(w.getKey(), Set.of());
            for (Cidr c : w.getValue().ranges()) {
                if (!have.contains(c)) {
                    updateRange(dp, w.getKey(), c, true);
                    ranges.computeIfAbsent(w.getKey(), k -> new HashSet<>()).add(c);
                    changes++;
                }
            }
        }
        return changes;
    }

    /** Removes the prefixes {@code want} no longer admits; of every service port, or of want's and {@code dropped}'s only. */
    private int removeSourceRanges(DsrDatapath dp, Map<SvcKey, Desired> want, Set<SvcKey> dropped) {
        int changes = 0;
        List<Map.Entry<SvcKey, Set<Cidr>>> check = new ArrayList<>();
        if (dropped == null) {
            check.addAll(ranges.entrySet());
        } else {
            for (SvcKey sk : want.keySet()) {
                Set<Cidr> have = ranges.get(sk);
                if (have != null) {
                    check.add(Map.entry(sk, have));
                }
            }
            for (SvcKey sk : dropped) {
                Set<Cidr> have = ranges.get(sk);
                if (have != null) {
                    check.add(Map.entry(sk, have));
                }
            }
        }
        for (Map.Entry<SvcKey, Set<Cidr>> r : check) {
            Desired d = want.get(r.getKey());
            Set<Cidr> keep = d == null ? Set.of() : d.ranges();
            for (Cidr c : List.copyOf(r.getValue())) {
                if (!keep.contains(c)) {
                    updateRange(dp, r.getKey(), c, false);
                    r.getValue().remove(c);
                    changes++;
                }
            }
            if (r.getValue().isEmpty()) {
                ranges.remove(r.getKey());
            }
        }
        return changes;
    }

    private static void updateRange(DsrDatapath dp, SvcKey sk, Cidr c, boolean add) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.srcRangeKeySize(sk.vip()), 4);
            BpfLayout.srcRangeKey(key, sk.vip(), sk.port(), sk.proto(), c.network(), c.length());
            BpfMap map = dp.map(sk.rangesMapName());
            if (add) {
                MemorySegment one = a.allocate(4, 4);
                one.set(BpfLayout.HOST32, 0, 1);
                map.update(key, one);
            } else {
                map.delete(key);
            }
        }
    }

    @Override
    public String render(NodeState desired) {
        StringBuilder out = new StringBuilder();
        out.append("# DSR: tc programs dsr_ingress/dsr_egress on ")
                .append(interfaceName.isEmpty() ? "the interface holding " + desired.node().address().getHostAddress() : interfaceName)
                .append(", pins under ").append(DsrDatapath.pinDir(bpffs)).append('\n');
        out.append("# hash seed ").append(Integer.toUnsignedString(fold(desired.hashSeed()))).append(", Maglev table size ")
                .append(maglevTableSize).append('\n');
        for (ServicePort s : desired.services()) {
            List<BackendVal> bes = backendsOf(s);
            out.append("service ").append(s.key()).append(" (").append(s.displayName()).append(s.localOnly() ? ", local only" : "")
                    .append(")");
            if (bes.isEmpty()) {
                out.append(": no backends (packets dropped, counted as noBackend)\n");
                continue;
            }
            Desired d = desiredOf(s);
            if (s.policy().restricted()) {
                out.append(d.ranges().isEmpty() ? ", from no client (no source range of the VIP's family)"
                                : ", only from " + String.join(" ", s.sourceRanges().stream().map(Cidr::toString).toList()))
                        .append(" (others dropped, counted as notInSourceRanges)");
            }
            if (s.policy().affinity()) {
                out.append(", session affinity by client address");
            }
            int[] maglev = Maglev.table(bes.stream().map(BackendVal::name).toList(), maglevTableSize, desired.hashSeed());
            int[] counts = new int[bes.size()];
            for (int i : maglev) {
                counts[i]++;
            }
            out.append('\n');
            for (int i = 0; i < bes.size(); i++) {
                out.append("  backend ").append(bes.get(i).name()).append(bes.get(i).local() ? " (this node, no option)" : "")
                        .append(": ").append(counts[i]).append(" of ").append(maglevTableSize).append(" slots\n");
            }
            if (d.tables().draining()) {
                List<BackendVal> draining = d.tables().established().stream().filter(b -> !bes.contains(b)).toList();
                for (BackendVal b : draining) {
                    out.append("  backend ").append(b.name()).append(": terminating, established connections only\n");
                }
            }
        }
        return out.toString();
    }

    @Override
    public boolean drifted() {
        if (applied.isEmpty() || datapath.isEmpty()) {
            return false;
        }
        DsrDatapath dp = datapath.get();
        if (!dp.stillAttached()) {
            return true;
        }
        PinnedRanges pinned = PinnedRanges.in(dp);
        return !PinnedServices.in(dp).holdExactly(services) || !pinned.ranges().equals(ranges) || !pinned.malformed().isEmpty();
    }

    /**
     * What lb_source_ranges and lb_src_ranges6 hold, read in one pass over each: service -> allowed client prefixes,
     * and the keys no agent writes (map name -> keys): a prefix shorter than the service part of the key (it would
     * match every service it covers, admitting clients to Services that restrict them) or longer than the key.
     * {@link #drifted} counts those; adoption deletes them (so {@link #repair} removes them too).
     */
    private record PinnedRanges(Map<SvcKey, Set<Cidr>> ranges, Map<String, List<byte[]>> malformed) {
        static PinnedRanges in(DsrDatapath dp) {
            Map<SvcKey, Set<Cidr>> ranges = new HashMap<>();
            Map<String, List<byte[]>> malformed = new LinkedHashMap<>();
            for (String name : List.of(DsrDatapath.SOURCE_RANGES, DsrDatapath.SOURCE_RANGES6)) {
                boolean v6 = name.equals(DsrDatapath.SOURCE_RANGES6);
                int svcBits = v6 ? BpfLayout.SRC_RANGE6_SVC_BITS : BpfLayout.SRC_RANGE_SVC_BITS;
                int addrBits = v6 ? 128 : 32;
                int keySize = v6 ? BpfLayout.SRC_RANGE6_KEY_SIZE : BpfLayout.SRC_RANGE_KEY_SIZE;
                BpfMap.Entries all = dp.map(name).entries();
                byte[] k = all.keys();
                for (int i = 0; i < all.count(); i++) {
                    int off = i * keySize;
                    int length = BpfLayout.host32(k, off) - svcBits;
                    if (length < 0 || length > addrBits) {
                        malformed.computeIfAbsent(name, x -> new ArrayList<>()).add(Arrays.copyOfRange(k, off, off + keySize));
                        continue;
                    }
                    SvcKey sk = v6
                            ? new SvcKey(BpfLayout.getAddr6(k, off + 4), BpfLayout.u16(k, off + 20), k[off + 22])
                            : new SvcKey(BpfLayout.getAddr(k, off + 4), BpfLayout.u16(k, off + 8), k[off + 10]);
                    InetAddress client = v6 ? BpfLayout.getAddr6(k, off + 24) : BpfLayout.getAddr(k, off + 12);
                    ranges.computeIfAbsent(sk, x -> new HashSet<>()).add(new Cidr(client, length));
                }
            }
            return new PinnedRanges(ranges, malformed);
        }
    }

    @Override
    public void repair() {
        if (applied.isEmpty()) {
            return;
        }
        NodeState last = applied.get();
        datapath.ifPresent(DsrDatapath::close);
        datapath = Optional.empty();
        applied = Optional.empty();
        apply(last);
    }

    @Override
    public void cleanup() {
        datapath.ifPresent(DsrDatapath::close);
        datapath = Optional.empty();
        applied = Optional.empty();
        services.clear();
        backendIds.clear();
        nameHashes.clear();
        built.clear();
        references.clear();
        settledForRoom.clear();
        leftOut.clear();
        ranges.clear();
        digests.clear();
        if (!libbpfPresent()) {
            return;
        }
        try {
            DsrDatapath.cleanup(bpffs);
        } catch (BpfException e) {
            throw new ProgrammingException("removing DSR state: " + e.getMessage(), e);
        }
    }

    @Override
    public Map<String, Long> dropCounters() {
        Map<DropReason, Long> drops;
        try {
            drops = datapath.map(DsrDatapath::drops).orElseGet(() -> DsrDatapath.pinnedDrops(bpffs));
        } catch (BpfException | LinkageError e) {
            return Map.of();
        }
        Map<String, Long> out = new TreeMap<>();
        drops.forEach((r, n) -> {
            if (n > 0) {
                out.put(r.statusName(), n);
            }
        });
        return out;
    }

    @Override
    public void close() {
        datapath.ifPresent(DsrDatapath::close);
        datapath = Optional.empty();
        applied = Optional.empty();
    }
}
