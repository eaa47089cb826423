package io.lbmode.datapath.bpf;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;

/**
 * The DSR programs of one node, loaded from {@code bpf/dsr.o} (built by clang into the jar), with maps and programs
 * pinned under {@code <bpffs>/lbmode/}.
 *
 * <p>Life cycle: {@link #load} reuses maps pinned by an earlier agent (so reverse entries and Maglev tables survive a
 * restart) and pins what is new; when the pinned programs came from the same {@code dsr.o} (lb_origin) it opens them
 * and the maps by path instead of loading and verifying the programs again. {@link #attach} puts the programs on the
 * interface's tc ingress and egress, replacing the previous agent's programs atomically (same handle and priority)
 * and leaving filters that run them already alone; {@link #close} releases this process's handles only, so the
 * datapath keeps forwarding with no agent running; {@link #cleanup} detaches and unpins all.
 */
public final class DsrDatapath implements AutoCloseable {
    static final String OBJECT_RESOURCE = "/bpf/dsr.o";
    static final String PIN_DIR = "lbmode";
    static final String INGRESS = "dsr_ingress";
    static final String EGRESS = "dsr_egress";
    /** tc filter identity of our programs: a restarted agent replaces exactly these, and cleanup removes only these. */
    static final int TC_HANDLE = 0xd5;
    static final int TC_PRIORITY = 0x4c42;

    static final String SERVICES = "lb_services";
    static final String MAGLEV = "lb_maglev";
    static final String MAGLEV_INPUTS = "lb_maglev_inputs";
    static final String BACKENDS = "lb_backends";
    static final String REVERSE = "lb_reverse";
    static final String CONFIG = "lb_config";
    static final String SOURCE_RANGES = "lb_source_ranges";
    /** The IPv6 twins of the maps that hold addresses (dsr.h); the IPv4 maps keep the layout older agents pinned. */
    static final String SERVICES6 = "lb_services6";
    static final String BACKENDS6 = "lb_backends6";
    static final String REVERSE6 = "lb_reverse6";
    static final String SOURCE_RANGES6 = "lb_src_ranges6";
    static final String DROPS = "lb_drops";
    static final String EVENTS = "lb_events";

    static final String ORIGIN = "lb_origin";

    private final Path pinDir;
    private final Arena arena;
    /** libbpf's object when this process loaded dsr.o (it owns the fds then); NULL when the pins were opened. */
    private final MemorySegment object;
    /** The fds this process opened itself (the pins it adopted without loading dsr.o); closed with it. */
    private final List<Integer> openedFds;
    private final Map<String, BpfMap> maps;
    private final Program ingress;
    private final Program egress;
    private MemorySegment mapping;
    private MemorySegment slots;
    private Optional<Attached> attached = Optional.empty();
    private boolean closed;

    /** Where the programs are attached and which program ids the kernel gave them. */
    public record Attached(String interfaceName, int ifindex, int ingressProgId, int egressProgId) {
    }

    /** A loaded program: this process's fd, and the kernel's id (what tc reports for an attached filter). */
    record Program(int fd, int id) {
    }

    private DsrDatapath(Path pinDir, Arena arena, MemorySegment object, List<Integer> openedFds, Map<String, BpfMap> maps,
                        Program ingress, Program egress) {
        this.pinDir = pinDir;
        this.arena = arena;
        this.object = object;
        this.openedFds = openedFds;
        this.maps = maps;
        this.ingress = ingress;
        this.egress = egress;
    }

    /** {@code <bpffs>/lbmode}. */
    public static Path pinDir(Path bpffs) {
        return bpffs.resolve(PIN_DIR);
    }

    /**
     * Opens the DSR programs and maps under {@code bpffs} (a mounted bpffs: {@link BpfFs#requirePersistent}): the
     * pinned ones as they are when an earlier agent loaded them from this very {@code dsr.o} (a restart: no verifier
     * run, no new programs), else loads {@code dsr.o}, adopting the pinned maps, and pins what is new.
     *
     * @throws BpfException naming what failed and what to do
     */
    public static DsrDatapath load(Path bpffs) {
        return load(bpffs, objectBytes());
    }

    /** {@link #load(Path)} of the object {@code elf} (tests: another build's dsr.o). */
    static DsrDatapath load(Path bpffs, byte[] elf) {
        BpfFs.requirePersistent(bpffs);
        Path pins = pinDir(bpffs);
        try {
            Files.createDirectories(pins);
        } catch (IOException e) {
            throw new BpfException("cannot create " + pins + ": " + e.getMessage() + "; check --bpffs");
        }
        Fingerprint fingerprint = Fingerprint.of(elf);
        Optional<DsrDatapath> pinned = openPinned(pins, fingerprint);
        return pinned.isPresent() ? pinned.get() : loadObject(pins, elf, fingerprint);
    }

    /**
     * What {@code struct origin} (dsr.h) records of a dsr.o: its size, CRC-32C and CRC-32. Not a cryptographic hash on
     * purpose: both CRCs are computed natively in well under a millisecond, where a fresh JVM interprets SHA-256 (25 ms for
     * dsr.o here). Two builds of dsr.o that agree on all three by chance: about 2^-64; the pins are root's to write anyway.
     */
    record Fingerprint(long size, int crc32c, int crc32) {
        static Fingerprint of(byte[] elf) {
            CRC32C c = new CRC32C();
            c.update(elf);
            CRC32 d = new CRC32();
            d.update(elf);
            return new Fingerprint(elf.length, (int) c.getValue(), (int) d.getValue());
        }
    }

    /**
     * A restart's fast path: the pins opened by path when lb_origin says an agent loaded them from an object with
     * {@code fingerprint} and every pin is still the object it recorded (same program and map ids). Empty, with every
     * fd it opened closed, when anything differs or fails: the caller loads dsr.o then, as on a first start.
     */
    static Optional<DsrDatapath> openPinned(Path pins, Fingerprint fingerprint) {
        List<Integer> fds = new ArrayList<>();
        try {
            int originFd = openPin(pins.resolve(ORIGIN), fds);
            if (originFd < 0) {
                return Optional.empty(); // pins of an agent that predates lb_origin, or none at all
            }
            BpfMap originMap = pinnedMap(ORIGIN, originFd);
            byte[] origin = new byte[BpfLayout.ORIGIN_SIZE];
            try (Arena a = Arena.ofConfined()) {
                MemorySegment key = a.allocate(4, 4);
                MemorySegment value = a.allocate(originMap.valueSize(), 8);
                if (originMap.valueSize() != BpfLayout.ORIGIN_SIZE || !originMap.lookup(key, value)) {
                    return Optional.empty();
                }
                MemorySegment.copy(value, ValueLayout.JAVA_BYTE, 0, origin, 0, origin.length);
            }
            int mapCount = BpfLayout.host32(origin, BpfLayout.ORIGIN_MAPS_OFF);
            if (BpfLayout.host32(origin, 0) != BpfLayout.ORIGIN_VERSION || mapCount <= 0 || mapCount > BpfLayout.ORIGIN_MAPS
                || !fingerprint.equals(new Fingerprint(BpfLayout.host64(origin, BpfLayout.ORIGIN_OBJECT_OFF),
                    BpfLayout.host32(origin, BpfLayout.ORIGIN_OBJECT_OFF + 8), BpfLayout.host32(origin, BpfLayout.ORIGIN_OBJECT_OFF + 12)))) {
                return Optional.empty(); // another build's programs: replaced by this build's
            }
            Program in = pinnedProgram(pins.resolve(INGRESS), BpfLayout.host32(origin, BpfLayout.ORIGIN_PROGS_OFF), fds);
            Program out = pinnedProgram(pins.resolve(EGRESS), BpfLayout.host32(origin, BpfLayout.ORIGIN_PROGS_OFF + 4), fds);
            if (in == null || out == null) {
                return Optional.empty(); // replaced since (an older agent's load), or gone
            }
            Map<String, BpfMap> maps = new LinkedHashMap<>();
            for (int i = 0; i < mapCount; i++) {
                int off = BpfLayout.ORIGIN_MAP_OFF + i * BpfLayout.ORIGIN_MAP_SIZE;
                String name = BpfLayout.cString(origin, off, 16);
                if (!name.startsWith("lb_") || name.indexOf('/') >= 0 || name.equals(ORIGIN)) {
                    return Optional.empty();
                }
                int fd = openPin(pins.resolve(name), fds);
                if (fd < 0) {
                    return Optional.empty();
                }
                IdentifiedMap m = pinnedMapWithId(name, fd);
                if (m == null || m.id() != BpfLayout.host32(origin, off + 16)) {
                    return Optional.empty(); // a map pinned anew since: the programs use another one
                }
                maps.put(name, m.map());
            }
            maps.put(ORIGIN, originMap);
            List<Integer> opened = fds;
            fds = List.of();
            return Optional.of(new DsrDatapath(pins, null, MemorySegment.NULL, opened, maps, in, out));
        } catch (RuntimeException e) {
            return Optional.empty(); // whatever went wrong, a full load is the safe answer
        } finally {
            fds.forEach(LibBpf::close);
        }
    }

    /** fd of the pinned object at {@code pin} (kept in {@code fds}), or a negative errno. */
    private static int openPin(Path pin, List<Integer> fds) {
        int fd = LibBpf.objGet(pin.toString());
        if (fd >= 0) {
            fds.add(fd);
        }
        return fd;
    }

    /** The pinned program at {@code pin} when its id is {@code id}, else null. */
    private static Program pinnedProgram(Path pin, int id, List<Integer> fds) {
        int fd = openPin(pin, fds);
        if (fd < 0) {
            return null;
        }
        int[] info = new int[LibBpf.PROG_INFO_FIELDS];
        return LibBpf.objInfo(fd, info) == 0 && info[1] == id && id != 0 ? new Program(fd, id) : null;
    }

    /** A map by fd with its kernel id; null when the kernel does not describe it. */
    private record IdentifiedMap(BpfMap map, int id) {
    }

    private static IdentifiedMap pinnedMapWithId(String name, int fd) {
        int[] info = new int[LibBpf.MAP_INFO_FIELDS];
        if (LibBpf.objInfo(fd, info) != 0) {
            return null;
        }
        return new IdentifiedMap(new BpfMap(name, fd, info[2], info[3], info[4]), info[1]);
    }

    private static BpfMap pinnedMap(String name, int fd) {
        IdentifiedMap m = pinnedMapWithId(name, fd);
        if (m == null) {
            throw new BpfException("map " + name + ": reading its description failed");
        }
        return m.map();
    }

    /** Loads dsr.o with libbpf (the verifier runs), adopting the pinned maps; pins the programs and records lb_origin. */
    private static DsrDatapath loadObject(Path pins, byte[] elf, Fingerprint fingerprint) {
        Arena arena = Arena.ofShared();
        MemorySegment obj = MemorySegment.NULL;
        try {
            MemorySegment buf = arena.allocate(elf.length, 8);
            MemorySegment.copy(elf, 0, buf, ValueLayout.JAVA_BYTE, 0, elf.length);
            obj = LibBpf.openMem(buf);
            List<MemorySegment> libbpfMaps = new ArrayList<>();
            for (MemorySegment m = LibBpf.nextMap(obj, MemorySegment.NULL); !m.equals(MemorySegment.NULL); m = LibBpf.nextMap(obj, m)) {
                String name = LibBpf.mapName(m);
                if (name.startsWith("lb_")) {
                    int rc = LibBpf.mapSetPinPath(m, pins.resolve(name).toString());
                    if (rc < 0) {
                        throw new BpfException("map " + name + ": setting pin path failed: " + LibBpf.errno(rc));
                    }
                    libbpfMaps.add(m);
                }
            }
            int rc = LibBpf.objectLoad(obj);
            if (rc < 0) {
                throw new BpfException("loading the DSR programs failed: " + LibBpf.errno(rc) + " (libbpf printed details above). "
                        + "If maps pinned under " + pins + " come from an incompatible build, run 'lbmode datapath --cleanup' "
                        + "(this drops live DSR connections) and start the agent again");
            }
            Map<String, BpfMap> maps = new LinkedHashMap<>();
            for (MemorySegment m : libbpfMaps) {
                int[] info = LibBpf.mapInfo(m);
                String name = LibBpf.mapName(m);
                maps.put(name, new BpfMap(name, info[0], info[1], info[2], info[3]));
            }
            Program in = pinProgram(obj, INGRESS, pins);
            Program out = pinProgram(obj, EGRESS, pins);
            recordOrigin(maps, in, out, fingerprint);
            return new DsrDatapath(pins, arena, obj, List.of(), maps, in, out);
        } catch (RuntimeException e) {
            if (!obj.equals(MemorySegment.NULL)) {
                LibBpf.objectClose(obj);
            }
            arena.close();
            throw e;
        }
    }

    /**
     * Writes lb_origin after the programs are pinned: what a restart of this build may open instead of loading. Its
     * program and map ids vouch for the pins only as long as they are these objects; should writing it fail, the next
     * start loads dsr.o again (an older entry names other program ids), so that is no reason to fail this one.
     */
    private static void recordOrigin(Map<String, BpfMap> maps, Program in, Program out, Fingerprint fingerprint) {
        BpfMap originMap = maps.get(ORIGIN);
        if (originMap == null || originMap.valueSize() != BpfLayout.ORIGIN_SIZE) {
            return;
        }
        byte[] origin = new byte[BpfLayout.ORIGIN_SIZE];
        int n = 0;
        for (BpfMap m : maps.values()) {
            if (m.name().equals(ORIGIN)) {
                continue;
            }
            IdentifiedMap id = pinnedMapWithId(m.name(), m.fd());
            byte[] name = m.name().getBytes(StandardCharsets.US_ASCII);
            if (id == null || n == BpfLayout.ORIGIN_MAPS || name.length > 16) {
                return;
            }
            int off = BpfLayout.ORIGIN_MAP_OFF + n * BpfLayout.ORIGIN_MAP_SIZE;
            System.arraycopy(name, 0, origin, off, name.length);
            BpfLayout.putHost32(origin, off + 16, id.id());
            n++;
        }
        BpfLayout.putHost32(origin, 0, BpfLayout.ORIGIN_VERSION);
        BpfLayout.putHost32(origin, BpfLayout.ORIGIN_MAPS_OFF, n);
        BpfLayout.putHost64(origin, BpfLayout.ORIGIN_OBJECT_OFF, fingerprint.size());
        BpfLayout.putHost32(origin, BpfLayout.ORIGIN_OBJECT_OFF + 8, fingerprint.crc32c());
        BpfLayout.putHost32(origin, BpfLayout.ORIGIN_OBJECT_OFF + 12, fingerprint.crc32());
        BpfLayout.putHost32(origin, BpfLayout.ORIGIN_PROGS_OFF, in.id());
        BpfLayout.putHost32(origin, BpfLayout.ORIGIN_PROGS_OFF + 4, out.id());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(4, 4);
            originMap.update(key, a.allocateFrom(ValueLayout.JAVA_BYTE, origin));
        } catch (BpfException e) {
            // the next start loads dsr.o again
        }
    }

    /** True when this process loaded dsr.o (the verifier ran, new programs); false when it opened the pinned ones. */
    public boolean loadedObject() {
        return !object.equals(MemorySegment.NULL);
    }

    static byte[] objectBytes() {
        try (InputStream in = DsrDatapath.class.getResourceAsStream(OBJECT_RESOURCE)) {
            if (in == null) {
                throw new BpfException("the DSR programs (" + OBJECT_RESOURCE + ") are missing from the class path: "
                        + "build the datapath module with clang installed (apt-get install clang llvm libbpf-dev)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Program pinProgram(MemorySegment obj, String name, Path pins) {
        MemorySegment prog = LibBpf.findProgram(obj, name);
        if (prog.equals(MemorySegment.NULL)) {
            throw new BpfException("program " + name + " is missing from " + OBJECT_RESOURCE);
        }
        Path pin = pins.resolve(name);
        try {
            Files.deleteIfExists(pin); // the previous agent's program: the new one replaces it
        } catch (IOException e) {
            throw new BpfException("cannot replace pin " + pin + ": " + e.getMessage());
        }
        int rc = LibBpf.programPin(prog, pin.toString());
        if (rc < 0) {
            throw new BpfException("pinning program " + name + " at " + pin + " failed: " + LibBpf.errno(rc));
        }
        int fd = LibBpf.programFd(prog);
        int[] info = new int[LibBpf.PROG_INFO_FIELDS];
        rc = LibBpf.objInfo(fd, info);
        if (rc < 0) {
            throw new BpfException("program " + name + ": reading its id failed: " + LibBpf.errno(rc));
        }
        return new Program(fd, info[1]);
    }

    /**
     * Attaches both programs to the interface's tc hooks (clsact created if missing), replacing other programs at our
     * handle and priority; a filter that runs our program already is left alone (a restart that opened the pins: no
     * window, not even an atomic swap). Network namespace: the calling thread's.
     */
    public Attached attach(String interfaceName) {
        int ifindex = LibBpf.ifindex(interfaceName);
        int inNow = LibBpf.tcQuery(ifindex, LibBpf.BPF_TC_INGRESS, TC_HANDLE, TC_PRIORITY);
        int outNow = LibBpf.tcQuery(ifindex, LibBpf.BPF_TC_EGRESS, TC_HANDLE, TC_PRIORITY);
        if (inNow != ingress.id() || outNow != egress.id()) {
            int rc = LibBpf.tcHookCreate(ifindex);
            if (rc < 0 && rc != -LibBpf.EEXIST) {
                throw new BpfException("interface " + interfaceName + ": creating the clsact qdisc failed: " + LibBpf.errno(rc));
            }
            if (inNow != ingress.id()) {
                rc = LibBpf.tcAttach(ifindex, LibBpf.BPF_TC_INGRESS, ingress.fd(), TC_HANDLE, TC_PRIORITY);
                if (rc < 0) {
                    throw new BpfException("interface " + interfaceName + ": attaching " + INGRESS + " to tc ingress failed: " + LibBpf.errno(rc));
                }
            }
            if (outNow != egress.id()) {
                rc = LibBpf.tcAttach(ifindex, LibBpf.BPF_TC_EGRESS, egress.fd(), TC_HANDLE, TC_PRIORITY);
                if (rc < 0) {
                    throw new BpfException("interface " + interfaceName + ": attaching " + EGRESS + " to tc egress failed: " + LibBpf.errno(rc));
                }
            }
            inNow = LibBpf.tcQuery(ifindex, LibBpf.BPF_TC_INGRESS, TC_HANDLE, TC_PRIORITY);
            outNow = LibBpf.tcQuery(ifindex, LibBpf.BPF_TC_EGRESS, TC_HANDLE, TC_PRIORITY);
        }
        Attached a = new Attached(interfaceName, ifindex, inNow, outNow);
        attached = Optional.of(a);
        return a;
    }

    public Optional<Attached> attached() {
        return attached;
    }

    /** True when our filters are still on the interface with the programs this process attached. */
    public boolean stillAttached() {
        if (attached.isEmpty()) {
            return false;
        }
        Attached a = attached.get();
        return LibBpf.tcQuery(a.ifindex(), LibBpf.BPF_TC_INGRESS, TC_HANDLE, TC_PRIORITY) == a.ingressProgId()
                && LibBpf.tcQuery(a.ifindex(), LibBpf.BPF_TC_EGRESS, TC_HANDLE, TC_PRIORITY) == a.egressProgId();
    }

    public BpfMap map(String name) {
        BpfMap m = maps.get(name);
        if (m == null) {
            throw new BpfException("map " + name + " is missing from " + OBJECT_RESOURCE);
        }
        return m;
    }

    /** Number of Maglev slots: two per lb_maglev entry (struct maglev_pair). */
    public int maglevSlotCount() {
        return map(MAGLEV).maxEntries() * 2;
    }

    /** lb_maglev as shared memory: slot i at byte 4 * i. Writes are seen by the programs immediately. */
    public synchronized MemorySegment maglevSlots() {
        if (slots == null) {
            BpfMap m = map(MAGLEV);
            long size = (long) m.maxEntries() * m.valueSize();
            mapping = LibBpf.mmapShared(m.fd(), (size + 4095) & ~4095L);
            slots = mapping.asSlice(0, size);
        }
        return slots;
    }

    /** Drops by reason since the maps were created (survives agent restarts), summed over CPUs. */
    public Map<DropReason, Long> drops() {
        Map<DropReason, Long> out = new EnumMap<>(DropReason.class);
        long[] sums = perCpuSums(map(DROPS), DropReason.SLOTS);
        for (DropReason r : DropReason.values()) {
            out.put(r, sums[r.code()]);
        }
        return out;
    }

    public long event(DsrEvent e) {
        return perCpuSums(map(EVENTS), DsrEvent.SLOTS)[e.ordinal()];
    }

    static long[] perCpuSums(BpfMap m, int slots) {
        int cpus = LibBpf.numPossibleCpus();
        long[] sums = new long[slots];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(4);
            MemorySegment values = a.allocate((long) cpus * 8, 8);
            for (int i = 0; i < slots; i++) {
                key.set(ValueLayout.JAVA_INT, 0, i);
                if (m.lookup(key, values)) {
                    for (int c = 0; c < cpus; c++) {
                        sums[i] += values.get(ValueLayout.JAVA_LONG, c * 8L);
                    }
                }
            }
        }
        return sums;
    }

    /** Drops read straight from the pinned map (no programs loaded); empty when DSR never ran here. */
    public static Map<DropReason, Long> pinnedDrops(Path bpffs) {
        Path pin = pinDir(bpffs).resolve(DROPS);
        if (!Files.exists(pin)) {
            return Map.of();
        }
        int fd = LibBpf.objGet(pin.toString());
        if (fd < 0) {
            return Map.of();
        }
        try {
            long[] sums = perCpuSums(new BpfMap(DROPS, fd, 4, 8, DropReason.SLOTS), DropReason.SLOTS);
            Map<DropReason, Long> out = new EnumMap<>(DropReason.class);
            for (DropReason r : DropReason.values()) {
                out.put(r, sums[r.code()]);
            }
            return out;
        } finally {
            LibBpf.close(fd);
        }
    }

    /** Releases this process's handles; pinned maps and attached programs stay (the datapath keeps working). */
    @Override
    public synchronized void close() {
        if (closed) {
            return; // the fds' numbers may belong to someone else by now
        }
        closed = true;
        if (slots != null) {
            LibBpf.munmap(mapping);
            slots = null;
            mapping = null;
        }
        if (loadedObject()) {
            LibBpf.objectClose(object); // libbpf's fds with it
            arena.close();
        }
        openedFds.forEach(LibBpf::close);
    }

    /**
     * Removes every trace of DSR: our tc filters on every interface of the calling thread's network namespace, and
     * the pins under {@code <bpffs>/lbmode} (maps die with their last reference). Safe when nothing is there.
     *
     * @return what was removed, for the log
     */
    public static List<String> cleanup(Path bpffs) {
        List<String> removed = new ArrayList<>();
        for (String ifname : interfaces()) {
            int ifindex;
            try {
                ifindex = LibBpf.ifindex(ifname);
            } catch (BpfException gone) {
                continue;
            }
            for (int point : new int[]{LibBpf.BPF_TC_INGRESS, LibBpf.BPF_TC_EGRESS}) {
                if (LibBpf.tcQuery(ifindex, point, TC_HANDLE, TC_PRIORITY) > 0) {
                    int rc = LibBpf.tcDetach(ifindex, point, TC_HANDLE, TC_PRIORITY);
                    if (rc < 0 && rc != -LibBpf.ENOENT) {
                        throw new BpfException("interface " + ifname + ": detaching the DSR program failed: " + LibBpf.errno(rc));
                    }
                    removed.add(ifname + (point == LibBpf.BPF_TC_INGRESS ? " tc ingress" : " tc egress"));
                }
            }
        }
        Path pins = pinDir(bpffs);
        if (Files.isDirectory(pins)) {
            try (Stream<Path> files = Files.list(pins)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                    removed.add(p.toString());
                }
                Files.deleteIfExists(pins);
            } catch (IOException e) {
                throw new BpfException("removing pins under " + pins + " failed: " + e.getMessage());
            }
        }
        return removed;
    }

    /** Interface names of the calling thread's network namespace (/proc/thread-self/net/dev). */
    static List<String> interfaces() {
        try {
            List<String> names = new ArrayList<>();
            for (String line : Files.readAllLines(Path.of("/proc/thread-self/net/dev"))) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    names.add(line.substring(0, colon).trim());
                }
            }
            return names;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
