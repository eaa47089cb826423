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
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;

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
    private Map<SvcKey, SvcEntry> services = new HashMap<>();
    /**
     * Backend ids adopted from lb_backends and lb_backends6 that no pass has asked for yet (IPv4 ones as numbers:
     * {@link AdoptedBackendIds}); a pass moves each backend it wants into {@link #backends}, and deletes those left.
     */
    private final AdoptedBackendIds backendIds = new AdoptedBackendIds();
    /**
     * What lb_backends and lb_backends6 hold (by us): each backend's id and references, in one entry (one
     * lookup per backend of a port, where an agent's first programming of 10,000 ports made five in three maps).
     */
    private Map<BackendVal, KnownBackend> backends = new HashMap<>();
    /**
     * Numbers the passes over every service port: a backend's {@link KnownBackend#references} count for the pass
     * whose number it carries (an older number: none yet), so a pass does not reset every backend's count first.
     */
    private int countingPass;
    /** Backends counted in this {@link #countingPass} so far: all of them means none lost its last reference. */
    private int counted;
    /**
     * Draining service ports left with one table for lack of room, and what they want: tried again on every apply
     * (a change is applied without looking at the unchanged ports, these excepted).
     */
    private final Map<SvcKey, Wanted> settledForRoom = new HashMap<>();
    /**
     * New service ports of the applied state that found no room in lb_maglev even at the minimal size: left out, so
     * every other port is programmed (they have no lb_services entry, no slots, no source ranges, and their backends
     * are not counted in {@link KnownBackend#references}). Reported in {@link Applied#notProgrammed}; tried again, in
     * the state's order, on every apply that may have room for them.
     */
    private final Map<SvcKey, ServicePort> leftOut = new HashMap<>();
    /** The last apply failed part way: the next one goes over every service port. */
    private boolean incomplete;
    /** Service ports the last apply built the desired tables of (all of them, or only the changed ones): for tests. */
    private int examined;
    /** How long the last apply's pass over the service ports took (after loading and adopting): for the benchmark. */
    private long passNanos;
    /** Maglev tables the last apply computed, and table ranges it copied from an equal one written before it: for tests. */
    private int tablesComputed;
    private int rangesCopied;
    /**
     * Reused by the table writers ({@link Pass}): a table computed for a range that is live, the slots it held, the
     * backends' hashes and ids, the fill's scratch, a name's bytes, and the tables of new ranges next to each other
     * (written to lb_maglev in one copy per run of ranges).
     */
    private int[] slotBuffer = new int[0];
    private int[] currentBuffer = new int[0];
    private long[] hashBuffer = new long[0];
    private int[] idBuffer = new int[0];
    private int[] fillScratch = new int[0];
    private final byte[] nameBuffer = new byte[BackendVal.IPV4_NAME_MAX];
    private int[] stageBuffer = new int[0];
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
        boolean draining() {
            return !established.isEmpty();
        }
    }

    /** What one service port should look like in the maps (for {@link #render} and tests; {@link Wanted} for programming). */
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

        /** Bytes of the longest IPv4 {@link #name}: {@code 255.255.255.255:65535}. */
        static final int IPV4_NAME_MAX = 21;

        /**
         * The UTF-8 bytes of an IPv4 backend's {@link #name}, of address {@code addr} (network order, as an int) and
         * {@code port}, written into {@code buffer} (at least {@link #IPV4_NAME_MAX} bytes) without a String, the digits as
         * {@link InetAddress#getHostAddress} writes them (an agent's first programming names 20,000 backends); returns
         * how many bytes.
         */
        static int ipv4Name(int addr, int port, byte[] buffer) {
            int n = 0;
            for (int shift = 24; shift >= 0; shift -= 8) {
                n = decimal(buffer, n, addr >>> shift & 0xff);
                buffer[n++] = (byte) (shift > 0 ? '.' : ':');
            }
            return decimal(buffer, n, port);
        }

        /** Writes {@code v} (0-65535) in decimal at {@code at}; returns the index after it. */
        private static int decimal(byte[] b, int at, int v) {
            int digits = v >= 10_000 ? 5 : v >= 1_000 ? 4 : v >= 100 ? 3 : v >= 10 ? 2 : 1;
            for (int i = at + digits - 1; i >= at; i--) {
                b[i] = (byte) ('0' + v % 10);
                v /= 10;
            }
            return at + digits;
        }
    }

    /**
     * A backend that has an id in lb_backends or lb_backends6, and what the programmer keeps of it: one entry per
     * backend ({@link #backends}).
     */
    static final class KnownBackend {
        final BackendVal val;
        final int id;
        /**
         * In how many tables of the applied state's service ports the backend is (before any settling for lack of
         * room), counted in pass {@link #countedIn}: its id goes when that reaches none.
         */
        int references;
        int countedIn;
        final boolean ipv6;
        /** An IPv4 backend's address, network order as an int (its bytes read once: names and values are written from it). */
        final int ipv4;

        // Nothing else is kept (the name hashes, the digest words): a first programming keeps 20,000 of these, and
        // each byte of them is copied by the young collections of the 4 MB young generation while they are made.
        KnownBackend(BackendVal val, int id) {
            this.val = val;
            this.id = id;
            byte[] a = val.addr().getAddress();
            ipv6 = a.length != 4;
            ipv4 = ipv6 ? 0 : (a[0] & 0xff) << 24 | (a[1] & 0xff) << 16 | (a[2] & 0xff) << 8 | (a[3] & 0xff);
        }

        /** Adds what {@link #digestOf} takes of it besides the id: one word for IPv4, three for IPv6. */
        void digest(Digester d) {
            long portLocal = (long) val.port() << 1 | (val.local() ? 1 : 0);
            if (!ipv6) {
                d.add((ipv4 & 0xffff_ffffL) << 32 | portLocal);
            } else {
                // family marker in bits an IPv4 word leaves zero (port << 1 | local < 2^17), then the 16 bytes:
                // an IPv6 backend never digests like an IPv4 one or like a run of them
                byte[] a = val.addr().getAddress();
                d.add(IPV6_BACKEND << 24 | portLocal).add(bigEndian64(a, 0)).add(bigEndian64(a, 8));
            }
        }

        /** Its {@link BackendVal#name}'s bytes: in {@code buffer} for IPv4, else in an array of their own; {@code length[0]}. */
        byte[] nameBytes(byte[] buffer, int[] length) {
            if (!ipv6) {
                length[0] = BackendVal.ipv4Name(ipv4, val.port(), buffer);
                return buffer;
            }
            byte[] name = val.name().getBytes(StandardCharsets.UTF_8);
            length[0] = name.length;
            return name;
        }
    }

    /**
     * One service port as {@link #program} brings it into the maps: its key, flags and source ranges
     * ({@link #desiredOf}), and its tables' backends' entries in table order.
     */
    static final class Wanted {
        final SvcKey key;
        final int flags;
        final Set<Cidr> ranges;
        final KnownBackend[] fresh;
        /** Empty unless the port drains endpoints. */
        final KnownBackend[] established;

        /** Its entry in {@link #services} when it was wanted (a draining port tried again: looked up again). */
        SvcEntry current;
        /** The digest of its tables at {@link #current}'s size, once computed. */
        Digest inputs;

        Wanted(SvcKey key, int flags, Set<Cidr> ranges, KnownBackend[] fresh, KnownBackend[] established, SvcEntry current) {
            this.key = key;
            this.flags = flags;
            this.ranges = ranges;
            this.fresh = fresh;
            this.established = established;
            this.current = current;
        }

        boolean draining() {
            return established.length > 0;
        }

        /** Slots of its range at table size {@code size}. */
        int length(int size) {
            return draining() ? 2 * size : size;
        }
    }

    private static final KnownBackend[] NO_BACKENDS = new KnownBackend[0];

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
            long pass = System.nanoTime();
            try {
                changes = program(desired);
                incomplete = false;
                applied = Optional.of(desired);
                if (roomForLeftOut()) {
                    // Room the apply freed after placing the new tables (services gone, drains ended): the ports
                    // left out get it now, not at some later change.
                    changes += program(desired);
                }
                passNanos = System.nanoTime() - pass;
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
        try {
            dp.attach(iface);
            services.clear();
            backends.clear();
            backendIds.clear();
            ranges.clear();
            digests.clear();
            slots = new SlotAllocator(dp.maglevSlotCount());
            long[] starts = adoptServices(dp);
            PinnedRanges pinned = PinnedRanges.in(dp);
            try (Arena a = Arena.ofConfined()) {
                pinned.malformed().forEach((name, keys) -> keys.forEach(
                        key -> dp.map(name).delete(a.allocateFrom(ValueLayout.JAVA_BYTE, key))));
            }
            ranges.putAll(pinned.ranges());
            adoptDigests(dp, dp.map(DsrDatapath.MAGLEV_INPUTS).entries(), starts);
            adoptBackends(dp.map(DsrDatapath.BACKENDS).entries(), dp.map(DsrDatapath.BACKENDS6).entries());
            datapath = Optional.of(dp);
        } catch (RuntimeException e) {
            dp.close();
            throw e;
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
    private static Digest digestOf(KnownBackend[] fresh, KnownBackend[] established, int size, long seed) {
        Digester d = new Digester().add(MAGLEV_FILL).add(seed).add(size);
        digest(d, fresh);
        digest(d, established);
        return d.digest();
    }

    private static void digest(Digester d, KnownBackend[] bes) {
        d.add(bes.length);
        for (KnownBackend be : bes) {
            be.digest(d);
            d.add(be.id);
        }
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
            if (serves(b, localOnly)) {
                out.add(backendVal(b));
            }
        }
        return out;
    }

    /** Whether a port's tables hold {@code b}: every endpoint, or with {@code externalTrafficPolicy: Local} this node's. */
    private static boolean serves(Backend b, boolean localOnly) {
        return !localOnly || b.local();
    }

    private static BackendVal backendVal(Backend b) {
        return new BackendVal(b.address(), b.port(), b.local()); // of the VIP's family (ServicePort checks)
    }

    /**
     * The endpoints of a port's second table, the one for established connections while endpoints drain: the ready and
     * the serving-terminating ones, in the order ServicePort gave them while they were all ready (i.e. the backends the
     * table had before they began terminating); empty when the port needs no second table. Draining endpoints matter
     * for TCP only: a UDP datagram carries nothing that tells a new flow from an old one, so UDP uses the
     * new-connection table for every packet (datagrams stop going to a terminating endpoint at once, as its other UDP
     * traffic would with kube-proxy's conntrack flush for endpoints that stop serving).
     */
    private static List<Backend> establishedOf(ServicePort s) {
        if (s.protocol() != Protocol.TCP || s.draining().isEmpty() || !anyServes(s.backends(), s.localOnly())
                || !anyServes(s.draining(), s.localOnly())) {
            return List.of();
        }
        List<Backend> all = new ArrayList<>(s.backends());
        all.addAll(s.draining());
        all.sort(null);
        return all;
    }

    private static boolean anyServes(List<Backend> backends, boolean localOnly) {
        for (int i = 0; i < backends.size(); i++) {
            if (serves(backends.get(i), localOnly)) {
                return true;
            }
        }
        return false;
    }

    /** {@code svc_value.flags} of a port. */
    private static int flagsOf(ServicePort s, boolean draining) {
        return (s.policy().restricted() ? BpfLayout.SVC_F_SOURCE_RANGES : 0)
                | (s.policy().affinity() ? BpfLayout.SVC_F_AFFINITY : 0)
                | (draining ? BpfLayout.SVC_F_DRAINING : 0);
    }

    /**
     * The client prefixes a port admits: the VIP's own family's (restricted with none of them, only IPv6 ranges on an
     * IPv4 VIP, admits no client). An open port's are empty without filtering its policy's: most ports are open.
     */
    private static Set<Cidr> rangesOf(ServicePort s) {
        return s.policy().restricted() ? Set.copyOf(s.sourceRanges()) : Set.of();
    }

    /** Tables, flags and source ranges of a service port (what {@link #want} resolves to backend entries). */
    static Desired desiredOf(ServicePort s) {
        List<BackendVal> fresh = backendsOf(s);
        List<BackendVal> established = backendVals(establishedOf(s), s.localOnly());
        return new Desired(new Tables(fresh, established), flagsOf(s, !established.isEmpty()), rangesOf(s));
    }

    private static SvcKey keyOf(ServicePort s) {
        return new SvcKey(s.vip(), s.port(), s.protocol() == Protocol.TCP ? BpfLayout.PROTO_TCP : BpfLayout.PROTO_UDP);
    }

    /** Service ports the last apply built the desired tables of: all after a (re)start or a seed change, else the changed ones. */
    int examined() {
        return examined;
    }

    /** How long the last apply's pass over the service ports took, without loading the programs and reading the pins. */
    long passNanos() {
        return passNanos;
    }

    /** Maglev tables the last apply computed (none for ports whose pinned digest matched). */
    int tablesComputed() {
        return tablesComputed;
    }

    /** Table ranges the last apply copied from a range it wrote with equal inputs instead of computing them. */
    int rangesCopied() {
        return rangesCopied;
    }

    /**
     * Brings the maps to {@code desired}; returns the number of map entries and slots written or deleted. The first
     * apply of a programmer (after adopting the pins) and one with a new seed go over every service port; later ones
     * over the ports {@link NodeState#changesFrom} the applied state gives, so a change costs in proportion to itself.
     * The work for a port is in methods called once per port ({@link #want}, {@link Pass#place}), not in the loops of
     * this method: a fresh JVM with only C1 (the agent's) compiles a method after a few hundred calls, but the loop of a
     * method called once only after 60,000 iterations (its on-stack replacement threshold), so 10,000 ports looped over
     * here ran interpreted.
     */
    private int program(NodeState desired) {
        DsrDatapath dp = datapath.orElseThrow();
        int changes = 0;
        int newSeed = fold(desired.hashSeed());
        boolean seedChanged = newSeed != seed32 || applied.isEmpty();
        boolean everything = applied.isEmpty() || incomplete || applied.get().hashSeed() != desired.hashSeed();
        seed32 = newSeed;
        tablesComputed = 0;
        rangesCopied = 0;

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

            // The service ports to bring up to date (pass.want) and those that went (dropped): all of them, or the
            // changes. Wanting a port counts its backends' references, and gives new backends ids (written in step 1).
            Set<SvcKey> dropped = new HashSet<>();
            Set<KnownBackend> unreferenced = new HashSet<>(); // left without references by this apply: step 6
            Pass pass = new Pass(dp, a, desired, everything ? desired.services().size() : 16, unreferenced);
            if (everything) {
                // Empty maps sized for the state at once (a first programming): grown from 16 entries, each rehashes
                // its entries a dozen times on the way to 10,000 ports and leaves each old table as garbage.
                int ports = desired.services().size();
                if (services.isEmpty()) {
                    services = HashMap.newHashMap(ports);
                }
                if (backends.isEmpty()) {
                    // two backends a port to start with (not NodeState.backendCount(): a state built without its
                    // totals computes them with a SHA-256 per port, 40 ms at 10,000 ports in a fresh JVM)
                    backends = HashMap.newHashMap(2 * ports);
                }
                countingPass++;
                counted = 0;
                settledForRoom.clear();
                leftOut.clear();
                for (ServicePort s : desired.services()) {
                    pass.offer(want(s, pass)); // IPv4 VIPs to lb_services, IPv6 ones to lb_services6
                }
                if (pass.existing < services.size()) { // a port we hold is not wanted (else all of them are)
                    Set<SvcKey> wanted = new HashSet<>(pass.offeredKeys);
                    for (SvcKey sk : services.keySet()) {
                        if (!wanted.contains(sk)) {
                            dropped.add(sk);
                        }
                    }
                }
            } else {
                NodeState.Changes changed = desired.changesFrom(applied.get());
                List<ServicePort> after = changed.after();
                for (ServicePort s : changed.before()) {
                    if (!leftOut.isEmpty() && leftOut.remove(keyOf(s)) != null) {
                        continue; // held no references (and if it is in after, it is new again)
                    }
                    unreference(s, unreferenced); // the tables of the ports before the change
                }
                if (!leftOut.isEmpty()) {
                    after = withLeftOutThatMayFit(after);
                }
                Set<SvcKey> wanted = new HashSet<>();
                for (ServicePort s : after) {
                    Wanted w = want(s, pass);
                    pass.offer(w);
                    wanted.add(w.key);
                }
                for (ServicePort s : changed.before()) {
                    SvcKey sk = keyOf(s);
                    if (!wanted.contains(sk)) {
                        dropped.add(sk);
                    }
                }
                for (Wanted w : settledForRoom.values()) {
                    if (!dropped.contains(w.key) && !wanted.contains(w.key)) {
                        w.current = services.get(w.key);
                        pass.offer(w); // tried again; what it references did not change
                    }
                }
            }
            examined = pass.offeredKeys.size();

            // 1. Backends first, so every id a table will point at exists (one batched system call per family).
            //    Each backend counts the tables it is in; ids of backends no table is in any more go in step 6.
            pass.writeBackends();
            changes += pass.backendsAdded();

            // 2. Source ranges a service will check: added before its entry says to check them.
            changes += addSourceRanges(dp, pass.withRanges);

            // 3. Tables and service entries. New services get the configured size M when all of them fit into the
            //    free table memory, else the compact size (M above 100 x backends), else the minimal one (M above
            //    10 x backends): decided for the whole batch so 10,000 services do not leave the first few hundred
            //    with 64 KiB tables and the rest with nothing.
            long free = slots.freeSlots();
            pass.sizing = pass.newSlots <= free ? Pass.CONFIGURED : pass.newCompactSlots <= free ? Pass.COMPACT : Pass.MINIMAL;
            for (Wanted w : pass.want) {
                changes += pass.place(w);
            }
            pass.finish();

            // 4. Services that went away: entry first (stops lookups), then their slots.
            MemorySegment svcKey = a.allocate(BpfLayout.SVC6_KEY_SIZE);
            for (SvcKey sk : dropped) {
                SvcEntry e = services.remove(sk);
                settledForRoom.remove(sk);
                if (e != null) {
                    BpfLayout.svcKey(svcKey, sk.vip(), sk.port(), sk.proto());
                    dp.map(sk.mapName()).delete(svcKey.asSlice(0, BpfLayout.svcKeySize(sk.vip())));
                    forgetDigest(pass.digestMap, pass.key4, e.offset());
                    pass.table.asSlice((long) e.offset() * Integer.BYTES, (long) e.length() * Integer.BYTES).fill((byte) 0);
                    slots.release(e.offset(), e.length());
                    changes++;
                }
            }

            // 5. Source ranges no entry checks any more.
            changes += removeSourceRanges(dp, pass.keepRanges, everything ? null : pass.checkRanges(dropped));

            // 6. Backends no table points at any more.
            changes += removeUnreferenced(dp, a, everything, unreferenced);
        }
        return changes;
    }

    /**
     * {@code s} as {@link #program} brings it into the maps, as {@link #desiredOf} describes it but with its backends'
     * entries (no lists of them built first); counts their references, and gives new backends ids.
     */
    private Wanted want(ServicePort s, Pass pass) {
        SvcKey key = keyOf(s);
        KnownBackend[] fresh = reference(s.backends(), s.localOnly(), pass);
        List<Backend> drain = establishedOf(s);
        KnownBackend[] established = drain.isEmpty() ? NO_BACKENDS : reference(drain, s.localOnly(), pass);
        SvcEntry current = services.get(key);
        Wanted w = new Wanted(key, flagsOf(s, established.length > 0), rangesOf(s), fresh, established, current);
        if (current == null) {
            pass.newSlots += w.length(maglevTableSize);
            pass.newCompactSlots += w.length(Maglev.compactSize(fresh.length, maglevTableSize));
        } else {
            pass.existing++;
        }
        return w;
    }

    /**
     * Leaves out the new service port {@code w}, for which {@link #program} found no room: takes back what steps 1-3
     * did for it (its backends' references, so ids no table needs go in step 6; its source ranges; a wish to drain),
     * and remembers it in {@link #leftOut}. Returns the map entries removed.
     */
    private int leaveOut(DsrDatapath dp, Wanted w, NodeState desired, Set<KnownBackend> unreferenced) {
        SvcKey sk = w.key;
        unreference(w.fresh, unreferenced);
        unreference(w.established, unreferenced);
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

    /** Counts a reference to each of {@code bes} a table holds (see {@link KnownBackend#references}); new ones get ids. */
    private KnownBackend[] reference(List<Backend> bes, boolean localOnly, Pass pass) {
        // indexed loops (ServicePort's lists are random access): C1 does not elide an iterator's allocation
        int size = bes.size();
        int n = size;
        if (localOnly) {
            n = 0;
            for (int j = 0; j < size; j++) {
                n += serves(bes.get(j), true) ? 1 : 0;
            }
        }
        KnownBackend[] out = new KnownBackend[n];
        int i = 0;
        for (int j = 0; j < size; j++) {
            Backend b = bes.get(j);
            if (!serves(b, localOnly)) {
                continue;
            }
            BackendVal val = backendVal(b);
            KnownBackend k = backends.get(val);
            if (k == null) {
                Integer adopted = backendIds.isEmpty() ? null : backendIds.remove(val);
                k = new KnownBackend(val, adopted != null ? adopted : nextBackendId++);
                backends.put(val, k);
                if (adopted == null) {
                    pass.added(k);
                }
            }
            if (k.countedIn != countingPass) {
                k.countedIn = countingPass;
                k.references = 0;
                counted++;
            }
            k.references++;
            out[i++] = k;
        }
        return out;
    }

    /** Takes back the references {@link #want} counted for {@code s}; backends left with none into {@code unreferenced}. */
    private void unreference(ServicePort s, Set<KnownBackend> unreferenced) {
        unreference(s.backends(), s.localOnly(), unreferenced);
        unreference(establishedOf(s), s.localOnly(), unreferenced);
    }

    private void unreference(KnownBackend[] bes, Set<KnownBackend> unreferenced) {
        for (KnownBackend k : bes) {
            if (k.countedIn == countingPass && k.references > 0 && --k.references == 0) {
                unreferenced.add(k);
            }
        }
    }

    private void unreference(List<Backend> bes, boolean localOnly, Set<KnownBackend> unreferenced) {
        for (int i = 0; i < bes.size(); i++) {
            Backend b = bes.get(i);
            KnownBackend k = serves(b, localOnly) ? backends.get(backendVal(b)) : null;
            if (k != null && k.countedIn == countingPass && k.references > 0 && --k.references == 0) {
                unreferenced.add(k);
            }
        }
    }

    /**
     * Deletes the backends no table points at any more: after a pass over every port those it did not count (none when
     * it counted every backend), after a change those it left without references; returns how many.
     */
    private int removeUnreferenced(DsrDatapath dp, Arena a, boolean everything, Set<KnownBackend> unreferenced) {
        Collection<KnownBackend> candidates = everything && counted < backends.size() ? List.copyOf(backends.values()) : unreferenced;
        MemorySegment beKey = a.allocate(4);
        int changes = 0;
        if (!backendIds.isEmpty()) {
            // adopted and asked for by no port of a pass over all of them (the pass after adoption is one)
            for (Map.Entry<BackendVal, Integer> b : backendIds.entrySet()) {
                beKey.set(BpfLayout.HOST32, 0, b.getValue());
                dp.map(b.getKey().mapName()).delete(beKey);
                changes++;
            }
            backendIds.clear();
        }
        for (KnownBackend k : candidates) {
            if ((k.countedIn != countingPass || k.references == 0) && backends.get(k.val) == k) {
                beKey.set(BpfLayout.HOST32, 0, k.id);
                dp.map(k.val.mapName()).delete(beKey);
                backends.remove(k.val);
                changes++;
            }
        }
        return changes;
    }

    /**
     * Step 3 of one {@link #program}: the tables and service entries of the wanted ports, then what goes to the kernel
     * after them (service entries, digests, ranges given up), and what steps 1, 2 and 5 need of the wanted ports.
     */
    private final class Pass {
        static final int CONFIGURED = 0;
        static final int COMPACT = 1;
        static final int MINIMAL = 2;
        /** Slots of new ranges staged before one copy to lb_maglev (256 KiB, kept: about 260 tables of 251 slots). */
        private static final int STAGE_SLOTS = 64 * 1024;

        final MemorySegment table;
        final NodeState desired;
        final long seed;
        /** Backends left without references by this apply (step 6). */
        final Set<KnownBackend> unreferenced;
        final BpfMap digestMap;
        final MemorySegment key4;
        private final DsrDatapath dp;

        /** The ports to bring up to date, those with source ranges, and the ranges they keep (step 5). */
        final List<Wanted> want;
        final List<Wanted> withRanges = new ArrayList<>();
        final Map<SvcKey, Set<Cidr>> keepRanges = new HashMap<>();
        /**
         * The entries of the backends that got ids, per family ([0] lb_backends, [1] lb_backends6), written as they
         * got them (step 1 writes them to the kernel; no loop over them here, which a fresh JVM would interpret), and
         * their batch, which may still be under way.
         */
        private final byte[][] backendKeys = new byte[2][];
        private final byte[][] backendValues = new byte[2][];
        private final int[] backendCounts = new int[2];
        /**
         * The ports offered (their keys), those of them we hold an entry of, and the slots the new ones need at the
         * configured size and at the compact size.
         */
        final List<SvcKey> offeredKeys;
        int existing;
        long newSlots;
        long newCompactSlots;
        /** The size of new ports' tables: {@link #CONFIGURED}, {@link #COMPACT} or {@link #MINIMAL}. */
        int sizing;

        // Service entries, one batch per family (the key sizes differ): [0] lb_services, [1] lb_services6; built in
        // arrays, copied to native memory once per batch (BpfLayout's array writers say why), on first use (a
        // restarted agent's apply of an unchanged state writes none).
        private final byte[][] svcKeys = new byte[2][];
        private final byte[][] svcVals = new byte[2][];
        private final int[] svcUpdates = new int[2];
        /**
         * The ranges written (their digests go to the kernel after them), and an index of them by digest (open
         * addressing: 1 + their index; no map entry and boxed offset per range, which would stay live to the end).
         */
        private int[] writtenOffsets;
        private Digest[] writtenDigests;
        private int[] writtenIndex;
        private byte[] digestKeys;
        private byte[] digestValues;
        private int written;
        /** Ranges a service moved away from (a drain began or ended): free once no entry points at them. */
        private final List<SvcEntry> superseded = new ArrayList<>();
        /** The new ranges staged in {@link #stageBuffer}: from this slot on, this many slots; none when negative. */
        private int stageStart = -1;
        private int stageLength;
        private final int[] nameLength = new int[1];

        Pass(DsrDatapath dp, Arena a, NodeState desired, int ports, Set<KnownBackend> unreferenced) {
            this.dp = dp;
            this.want = new ArrayList<>(ports);
            this.offeredKeys = new ArrayList<>(ports);
            this.table = dp.maglevSlots();
            this.desired = desired;
            this.seed = desired.hashSeed();
            this.unreferenced = unreferenced;
            this.digestMap = dp.map(DsrDatapath.MAGLEV_INPUTS);
            this.key4 = a.allocate(4, 4);
        }

        /**
         * Takes a wanted port: one whose entry has its flags and whose range holds its tables (digests equal) needs
         * nothing more (a restarted agent's usual port: not even a place in {@link #want}); the others are placed in
         * step 3. Its source ranges are checked in steps 2 and 5 either way.
         */
        void offer(Wanted w) {
            offeredKeys.add(w.key);
            Set<Cidr> keep = w.ranges;
            if (!keep.isEmpty()) {
                withRanges.add(w);
                keepRanges.put(w.key, keep);
            }
            SvcEntry e = w.current;
            w.inputs = null;
            if (e != null && e.flags() == w.flags) {
                w.inputs = digestOf(w.fresh, w.established, e.size(), seed);
                if (w.inputs.equals(digests.get(e.offset()))) {
                    return;
                }
            }
            want.add(w);
        }

        /** Notes the entry of {@code k}, which just got its id. */
        void added(KnownBackend k) {
            int f = k.ipv6 ? 1 : 0;
            int valueSize = k.ipv6 ? BpfLayout.BACKEND6_VALUE_SIZE : BpfLayout.BACKEND_VALUE_SIZE;
            int n = backendCounts[f]++;
            if (backendKeys[f] == null || backendKeys[f].length < 4 * (n + 1)) {
                int capacity = Math.max(64, 2 * n);
                backendKeys[f] = Arrays.copyOf(backendKeys[f] == null ? new byte[0] : backendKeys[f], 4 * capacity);
                backendValues[f] = Arrays.copyOf(backendValues[f] == null ? new byte[0] : backendValues[f], valueSize * capacity);
            }
            BpfLayout.putHost32(backendKeys[f], 4 * n, k.id);
            if (k.ipv6) {
                BpfLayout.backendValue(backendValues[f], valueSize * n, k.val.addr(), k.val.port(), k.val.local());
            } else {
                BpfLayout.backendValue4(backendValues[f], valueSize * n, k.ipv4, k.val.port(), k.val.local());
            }
        }

        int backendsAdded() {
            return backendCounts[0] + backendCounts[1];
        }

        /** Writes the entries of the backends that got ids, one batched system call per family. */
        void writeBackends() {
            dp.map(DsrDatapath.BACKENDS).updateBatch(backendKeys[0], backendValues[0], backendCounts[0]);
            dp.map(DsrDatapath.BACKENDS6).updateBatch(backendKeys[1], backendValues[1], backendCounts[1]);
        }

        /** After a change: the ports whose source ranges step 5 looks at, the changed and the dropped ones. */
        Set<SvcKey> checkRanges(Set<SvcKey> dropped) {
            Set<SvcKey> check = new HashSet<>(dropped);
            check.addAll(offeredKeys);
            return check;
        }

        int newSize(int backends) {
            return switch (sizing) {
                case CONFIGURED -> maglevTableSize;
                case COMPACT -> Maglev.compactSize(backends, maglevTableSize);
                default -> Maglev.minimalSize(backends, maglevTableSize);
            };
        }

        /**
         * Brings one port's range and entry up to date; returns the number of slots and entries written. (Split in
         * three, the usual paths first: a fresh JVM compiles small methods sooner, and runs a large one interpreted
         * for longer.)
         */
        int place(Wanted w) {
            SvcEntry e = w.current;
            if (!settledForRoom.isEmpty()) {
                settledForRoom.remove(w.key);
            }
            int size = e != null ? e.size() : newSize(w.fresh.length);
            if (e != null && e.length() == w.length(size)) {
                return update(w, e, e.offset(), size, w.established, w.flags, w.inputs);
            }
            OptionalInt offset = slots.allocate(w.length(size));
            if (offset.isPresent()) {
                return update(w, e, offset.getAsInt(), size, w.established, w.flags, null);
            }
            return placeWithoutRoom(w, e, size);
        }

        /** {@link #place} when the port's range does not fit the free table memory. */
        private int placeWithoutRoom(Wanted w, SvcEntry e, int size) {
            SvcKey sk = w.key;
            KnownBackend[] established = w.established;
            int flags = w.flags;
            OptionalInt offset = OptionalInt.empty();
            if (w.draining()) {
                // No room for a second table: this service drains its terminating endpoints abruptly for now.
                settledForRoom.put(sk, w);
                established = NO_BACKENDS;
                flags &= ~BpfLayout.SVC_F_DRAINING;
                offset = e != null && e.length() == size ? OptionalInt.of(e.offset()) : slots.allocate(size);
            }
            int tables = established.length > 0 ? 2 : 1;
            if (offset.isEmpty() && e == null) {
                for (int smaller : new int[]{Maglev.compactSize(w.fresh.length, maglevTableSize),
                        Maglev.minimalSize(w.fresh.length, maglevTableSize)}) {
                    if (offset.isEmpty() && smaller < size) {
                        size = smaller;
                        offset = slots.allocate(tables * size);
                    }
                }
            }
            if (offset.isEmpty() && e == null) {
                // No room even at the minimal size: left out, so that every other port is programmed.
                return leaveOut(dp, w, desired, unreferenced);
            }
            if (offset.isEmpty() && e != null && e.length() > tables * size) {
                // A drain ended without room for a fresh range: the table is rewritten in place over the first
                // part of the range (the new-connection table it replaces), and the rest freed after the entry
                // stops using it, as a superseded range is.
                offset = OptionalInt.of(e.offset());
                superseded.add(new SvcEntry(e.offset() + tables * size, e.length() - tables * size, 0, 0));
            }
            if (offset.isEmpty()) {
                // Not reached (a new port without room is left out, an existing one keeps all or part of its
                // range); should it be, the next apply reads the maps back and starts over.
                throw new BpfException("service " + sk.text() + ": Maglev table memory is full ("
                        + slots.capacity() + " slots, " + slots.freeSlots() + " free); fewer LoadBalancer service ports "
                        + "(or fewer endpoints per port) on this node free room");
            }
            return update(w, e, offset.getAsInt(), size, established, flags, null);
        }

        /**
         * Puts the port at {@code offset} with {@code size}, the tables of {@code w.fresh} and {@code established}
         * ({@code inputs}: their digest, if known) and {@code flags}: writes the range unless it holds these tables,
         * and queues the entry unless it is {@code e}.
         */
        private int update(Wanted w, SvcEntry e, int offset, int size, KnownBackend[] established, int flags, Digest inputs) {
            SvcKey sk = w.key;
            SvcEntry entry = new SvcEntry(offset, size, w.fresh.length, flags);
            boolean moved = e != null && e.offset() != offset;
            int changes = 0;
            if (inputs == null) {
                inputs = digestOf(w.fresh, established, size, seed);
            }
            // A new range has no digest (released ranges lose theirs, adoption keeps only those of adopted entries);
            // a live one whose digest is equal holds these tables already (a restarted agent's port whose flags changed).
            boolean newRange = e == null || moved;
            if (newRange || !inputs.equals(digests.get(offset))) {
                if (!newRange) {
                    forgetDigest(digestMap, key4, offset);
                }
                changes += write(offset, size, w.fresh, established, inputs, newRange);
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
            return changes;
        }

        /**
         * Writes the tables of {@code fresh} (and {@code established} after them, unless empty) at {@code offset}; returns
         * the number of slots written. A new range (no entry points at it) is staged and written whole with its
         * neighbours; a live one is written only if a slot changes, and only those slots count.
         */
        private int write(int offset, int size, KnownBackend[] fresh, KnownBackend[] established, Digest inputs, boolean newRange) {
            int length = established.length > 0 ? 2 * size : size;
            int[] into;
            int at;
            if (newRange) {
                at = stage(offset, length);
                into = stageBuffer;
            } else {
                buffers(length, 0);
                into = slotBuffer;
                at = 0;
            }
            int same = writtenWith(inputs);
            if (same >= 0) {
                // Equal inputs (services with the same endpoints): equal slots, computed once.
                read(same, into, at, length);
                rangesCopied++;
            } else {
                fill(into, at, size, fresh);
                if (established.length > 0) {
                    fill(into, at + size, size, established);
                }
            }
            remember(offset, inputs);
            return newRange ? length : store(table, offset, length);
        }

        /** The first slot of a range written in this pass with {@code inputs}, or -1. */
        private int writtenWith(Digest inputs) {
            if (written == 0) {
                return -1;
            }
            int mask = writtenIndex.length - 1;
            for (int h = inputs.hashCode() & mask; writtenIndex[h] != 0; h = (h + 1) & mask) {
                int i = writtenIndex[h] - 1;
                if (writtenDigests[i].equals(inputs)) {
                    return writtenOffsets[i];
                }
            }
            return -1;
        }

        /** Notes that the range at {@code offset} now holds the tables of {@code inputs} (its digest goes to the kernel after it). */
        private void remember(int offset, Digest inputs) {
            if (writtenOffsets == null) {
                writtenOffsets = new int[want.size()];
                writtenDigests = new Digest[want.size()];
                writtenIndex = new int[Integer.highestOneBit(Math.max(2 * want.size(), 2) - 1) << 1];
                digestKeys = new byte[4 * want.size()];
                digestValues = new byte[BpfLayout.MAGLEV_DIGEST_SIZE * want.size()];
            }
            int mask = writtenIndex.length - 1;
            int h = inputs.hashCode() & mask;
            while (writtenIndex[h] != 0) {
                h = (h + 1) & mask;
            }
            writtenIndex[h] = written + 1;
            writtenOffsets[written] = offset;
            writtenDigests[written] = inputs;
            BpfLayout.putHost32(digestKeys, 4 * written, offset);
            inputs.writeTo(digestValues, BpfLayout.MAGLEV_DIGEST_SIZE * written);
            written++;
            digests.put(offset, inputs);
        }

        /** Room for a new range at {@code offset} in the stage (written out first if the range does not follow it). */
        private int stage(int offset, int length) {
            if (stageStart >= 0 && offset == stageStart + stageLength && stageLength + length <= stageBuffer.length) {
                int at = stageLength;
                stageLength += length;
                return at;
            }
            flush();
            if (stageBuffer.length < length) {
                stageBuffer = new int[Math.max(STAGE_SLOTS, length)];
            }
            stageStart = offset;
            stageLength = length;
            return 0;
        }

        /** Writes the staged ranges to lb_maglev. */
        private void flush() {
            if (stageStart >= 0) {
                MemorySegment.copy(stageBuffer, 0, table, ValueLayout.JAVA_INT, (long) stageStart * Integer.BYTES, stageLength);
            }
            stageStart = -1;
            stageLength = 0;
        }

        /** The {@code length} slots at {@code from} (staged, or in lb_maglev) into {@code into} at {@code at}. */
        private void read(int from, int[] into, int at, int length) {
            if (stageStart >= 0 && from >= stageStart && from + length <= stageStart + stageLength) {
                System.arraycopy(stageBuffer, from - stageStart, into, at, length);
            } else {
                MemorySegment.copy(table, ValueLayout.JAVA_INT, (long) from * Integer.BYTES, into, at, length);
            }
        }

        /** One Maglev table of {@code bes}, {@code size} slots of backend ids, into {@code into} at {@code at}. */
        private void fill(int[] into, int at, int size, KnownBackend[] bes) {
            int n = bes.length;
            tablesComputed++;
            Arrays.fill(into, at, at + size, 0);
            if (n == 0) {
                return; // no backend: every slot 0, the programs drop the packet
            }
            buffers(0, n);
            for (int i = 0; i < n; i++) {
                KnownBackend b = bes[i];
                // hashed here, each time: a backend is in one table, or its table is copied (equal inputs)
                byte[] name = b.nameBytes(nameBuffer, nameLength);
                Maglev.nameHashes(name, nameLength[0], seed, hashBuffer, 2 * i);
                idBuffer[i] = b.id; // ids start at 1: not the fill's empty slot
            }
            // ServicePort's backend lists are distinct (Maglev.table checks that of its callers' names)
            Maglev.fill(hashBuffer, idBuffer, n, size, into, at, fillScratch);
        }

        /**
         * The staged ranges, then the service entries (a service becomes visible only with its table complete), the
         * digests of the ranges written, and the ranges given up (each entry was counted where it was wanted).
         */
        void finish() {
            flush();
            if (svcUpdates[0] > 0) {
                dp.map(DsrDatapath.SERVICES).updateBatch(svcKeys[0], svcVals[0], svcUpdates[0]);
            }
            if (svcUpdates[1] > 0) {
                dp.map(DsrDatapath.SERVICES6).updateBatch(svcKeys[1], svcVals[1], svcUpdates[1]);
            }
            // Digests after the ranges (one system call for both families: they share lb_maglev).
            if (written > 0) {
                digestMap.updateBatch(digestKeys, digestValues, written);
            }
            for (SvcEntry old : superseded) {
                forgetDigest(digestMap, key4, old.offset());
                table.asSlice((long) old.offset() * Integer.BYTES, (long) old.length() * Integer.BYTES).fill((byte) 0);
                slots.release(old.offset(), old.length());
            }
        }
    }

    /** Grows the reused buffers to hold a table range of {@code length} slots of {@code n} backends. */
    private void buffers(int length, int n) {
        if (slotBuffer.length < length) {
            slotBuffer = new int[length];
            currentBuffer = new int[length];
        }
        if (idBuffer.length < n) {
            idBuffer = new int[n];
            hashBuffer = new long[2 * n];
            fillScratch = new int[2 * n];
        }
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

    private int addSourceRanges(DsrDatapath dp, List<Wanted> withRanges) {
        int changes = 0;
        for (Wanted w : withRanges) {
            Set<Cidr> have = ranges.getOrDefault(w.key, Set.of());
            for (Cidr c : w.ranges) {
                if (!have.contains(c)) {
                    updateRange(dp, w.key, c, true);
                    ranges.computeIfAbsent(w.key, k -> new HashSet<>()).add(c);
                    changes++;
                }
            }
        }
        return changes;
    }

    /**
     * Removes the prefixes the wanted ports no longer admit ({@code keep}: the ranges of those that have some); of every
     * service port, or of those in {@code check} only.
     */
    private int removeSourceRanges(DsrDatapath dp, Map<SvcKey, Set<Cidr>> keep, Set<SvcKey> check) {
        int changes = 0;
        List<Map.Entry<SvcKey, Set<Cidr>>> checked = new ArrayList<>();
        if (check == null) {
            checked.addAll(ranges.entrySet());
        } else {
            for (SvcKey sk : check) {
                Set<Cidr> have = ranges.get(sk);
                if (have != null) {
                    checked.add(Map.entry(sk, have));
                }
            }
        }
        for (Map.Entry<SvcKey, Set<Cidr>> r : checked) {
            Set<Cidr> kept = keep.getOrDefault(r.getKey(), Set.of());
            for (Cidr c : List.copyOf(r.getValue())) {
                if (!kept.contains(c)) {
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
        backends.clear();
        backendIds.clear();
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
