package io.lbmode.datapath.bpf;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The DSR programs of one node, loaded from {@code bpf/dsr.o} (built by clang into the jar), with maps and programs
 * pinned under {@code <bpffs>/lbmode/}.
 *
 * <p>Life cycle: {@link #load} reuses maps pinned by an earlier agent (so reverse entries and Maglev tables survive a
 * restart) and pins what is new; {@link #attach} puts the programs on the interface's tc ingress and egress, replacing
 * the previous agent's programs atomically (same handle and priority); {@link #close} releases this process's
 * handles only, so the datapath keeps forwarding with no agent running; {@link #cleanup} detaches and unpins all.
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

    private final Path pinDir;
    private final Arena arena;
    private final MemorySegment object;
    private final Map<String, BpfMap> maps;
    private final int ingressFd;
    private final int egressFd;
    private MemorySegment mapping;
    private MemorySegment slots;
    private Optional<Attached> attached = Optional.empty();

    /** Where the programs are attached and which program ids the kernel gave them. */
    public record Attached(String interfaceName, int ifindex, int ingressProgId, int egressProgId) {
    }

    private DsrDatapath(Path pinDir, Arena arena, MemorySegment object, Map<String, BpfMap> maps, int ingressFd, int egressFd) {
        this.pinDir = pinDir;
        this.arena = arena;
        this.object = object;
        this.maps = maps;
        this.ingressFd = ingressFd;
        this.egressFd = egressFd;
    }

    /** {@code <bpffs>/lbmode}. */
    public static Path pinDir(Path bpffs) {
        return bpffs.resolve(PIN_DIR);
    }

    /**
     * Loads the programs, adopting maps pinned under {@code bpffs} (a mounted bpffs: {@link BpfFs#requirePersistent}).
     *
     * @throws BpfException naming what failed and what to do
     */
    public static DsrDatapath load(Path bpffs) {
        BpfFs.requirePersistent(bpffs);
        Path pins = pinDir(bpffs);
        try {
            Files.createDirectories(pins);
        } catch (IOException e) {
            throw new BpfException("cannot create " + pins + ": " + e.getMessage() + "; check --bpffs");
        }
        Arena arena = Arena.ofShared();
        MemorySegment obj = MemorySegment.NULL;
        try {
            byte[] elf = objectBytes();
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
            int in = pinProgram(obj, INGRESS, pins);
            int out = pinProgram(obj, EGRESS, pins);
            return new DsrDatapath(pins, arena, obj, maps, in, out);
        } catch (RuntimeException e) {
            if (!obj.equals(MemorySegment.NULL)) {
                LibBpf.objectClose(obj);
            }
            arena.close();
            throw e;
        }
    }

    private static byte[] objectBytes() {
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

    private static int pinProgram(MemorySegment obj, String name, Path pins) {
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
        return LibBpf.programFd(prog);
    }

    /**
     * Attaches both programs to the interface's tc hooks (clsact created if missing), replacing earlier versions.
     * Network namespace: the calling thread's.
     */
    public Attached attach(String interfaceName) {
        int ifindex = LibBpf.ifindex(interfaceName);
        int rc = LibBpf.tcHookCreate(ifindex);
        if (rc < 0 && rc != -LibBpf.EEXIST) {
            throw new BpfException("interface " + interfaceName + ": creating the clsact qdisc failed: " + LibBpf.errno(rc));
        }
        rc = LibBpf.tcAttach(ifindex, LibBpf.BPF_TC_INGRESS, ingressFd, TC_HANDLE, TC_PRIORITY);
        if (rc < 0) {
            throw new BpfException("interface " + interfaceName + ": attaching " + INGRESS + " to tc ingress failed: " + LibBpf.errno(rc));
        }
        rc = LibBpf.tcAttach(ifindex, LibBpf.BPF_TC_EGRESS, egressFd, TC_HANDLE, TC_PRIORITY);
        if (rc < 0) {
            throw new BpfException("interface " + interfaceName + ": attaching " + EGRESS + " to tc egress failed: " + LibBpf.errno(rc));
        }
        Attached a = new Attached(interfaceName, ifindex,
                LibBpf.tcQuery(ifindex, LibBpf.BPF_TC_INGRESS, TC_HANDLE, TC_PRIORITY),
                LibBpf.tcQuery(ifindex, LibBpf.BPF_TC_EGRESS, TC_HANDLE, TC_PRIORITY));
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
        if (slots != null) {
            LibBpf.munmap(mapping);
            slots = null;
            mapping = null;
        }
        LibBpf.objectClose(object);
        arena.close();
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
