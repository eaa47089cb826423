package io.lbmode.datapath.bpf;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * libbpf 1.x (Debian {@code libbpf1}) and the few libc calls the DSR datapath needs, through java.lang.foreign:
 * one native call per map update (about 5 us) instead of one {@code bpftool} process (milliseconds).
 *
 * <p>libbpf 1.x returns {@code -errno} from its low-level calls and NULL plus errno from the object API; both are
 * turned into {@link BpfException}s naming the call and the object. Network calls (tc attach, if_nametoindex) work in
 * the network namespace of the calling thread.
 */
final class LibBpf {
    private LibBpf() {
    }

    static final String LIBRARY = "libbpf.so.1";
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup BPF = load();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();

    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option ERRNO_OPT = Linker.Option.captureCallState("errno");

    // bpf_tc_hook { size_t sz; int ifindex; enum attach_point; __u32 parent; } padded to 8: 24 bytes
    static final long TC_HOOK_SIZE = 24;
    // bpf_tc_opts { size_t sz; int prog_fd; __u32 flags, prog_id, handle, priority; } padded to 8: 32 bytes
    static final long TC_OPTS_SIZE = 32;
    static final int BPF_TC_INGRESS = 1;
    static final int BPF_TC_EGRESS = 2;
    static final int BPF_TC_F_REPLACE = 1;

    static final long BPF_ANY = 0;

    static final int ENOENT = 2;
    static final int EEXIST = 17;

    private static SymbolLookup load() {
        try {
            return SymbolLookup.libraryLookup(LIBRARY, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new BpfException(LIBRARY + " is not installed: install the libbpf1 package (apt-get install libbpf1)");
        }
    }

    private static MethodHandle bpf(String name, FunctionDescriptor fd, Linker.Option... options) {
        return LINKER.downcallHandle(BPF.find(name).orElseThrow(
                () -> new BpfException(LIBRARY + " has no " + name + ": libbpf 1.0 or newer is needed")), fd, options);
    }

    private static MethodHandle libc(String name, FunctionDescriptor fd, Linker.Option... options) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(), fd, options);
    }

    /**
     * libbpf's object API, needed only when dsr.o is loaded (a first start, or pins from another build): created on first
     * use, so a restart that opens the pins does not pay for these downcall handles (a few milliseconds each in a fresh
     * JVM, for each new function shape).
     */
    private static final class ObjectApi {
        static final MethodHandle OPEN_MEM = bpf("bpf_object__open_mem",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), ERRNO_OPT);
        static final MethodHandle OBJ_LOAD = bpf("bpf_object__load", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle OBJ_CLOSE = bpf("bpf_object__close", FunctionDescriptor.ofVoid(ADDRESS));
        static final MethodHandle NEXT_MAP = bpf("bpf_object__next_map", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        static final MethodHandle MAP_NAME = bpf("bpf_map__name", FunctionDescriptor.of(ADDRESS, ADDRESS));
        static final MethodHandle MAP_SET_PIN_PATH = bpf("bpf_map__set_pin_path", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        static final MethodHandle MAP_FD = bpf("bpf_map__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle MAP_KEY_SIZE = bpf("bpf_map__key_size", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle MAP_VALUE_SIZE = bpf("bpf_map__value_size", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle MAP_MAX_ENTRIES = bpf("bpf_map__max_entries", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle FIND_PROG = bpf("bpf_object__find_program_by_name", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        static final MethodHandle PROG_FD = bpf("bpf_program__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle PROG_PIN = bpf("bpf_program__pin", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    private static final MethodHandle TC_HOOK_CREATE = bpf("bpf_tc_hook_create", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle TC_ATTACH = bpf("bpf_tc_attach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle TC_DETACH = bpf("bpf_tc_detach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle TC_QUERY = bpf("bpf_tc_query", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle MAP_UPDATE = bpf("bpf_map_update_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle MAP_LOOKUP = bpf("bpf_map_lookup_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle MAP_UPDATE_BATCH = bpf("bpf_map_update_batch",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle MAP_LOOKUP_BATCH = bpf("bpf_map_lookup_batch",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle MAP_DELETE = bpf("bpf_map_delete_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle MAP_NEXT_KEY = bpf("bpf_map_get_next_key", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle OBJ_GET = bpf("bpf_obj_get", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle NUM_CPUS = bpf("libbpf_num_possible_cpus", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle OBJ_INFO = bpf("bpf_obj_get_info_by_fd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));

    private static final MethodHandle CLOSE = libc("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle STRERROR = libc("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle IF_NAMETOINDEX = libc("if_nametoindex", FunctionDescriptor.of(JAVA_INT, ADDRESS), ERRNO_OPT);
    private static final MethodHandle MMAP = libc("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), ERRNO_OPT);
    private static final MethodHandle MUNMAP = libc("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    /** mount(2) and umount2(2): only for --allow-ephemeral-bpffs and the tests. */
    private static final class Mounts {
        static final MethodHandle MOUNT = libc("mount",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), ERRNO_OPT);
        static final MethodHandle UMOUNT2 = libc("umount2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), ERRNO_OPT);
    }

    private static final MethodHandle SET_PRINT = bpf("libbpf_set_print", FunctionDescriptor.of(ADDRESS, ADDRESS));
    private static final MethodHandle VSNPRINTF = libc("vsnprintf",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));

    static {
        installPrinter();
    }

    /**
     * Routes libbpf's messages through a filter: the netlink replies to our probes ("Exclusivity flag on" when the
     * clsact qdisc exists, "Parent Qdisc doesn't exists" / "Cannot find specified filter chain" when an interface has
     * none of our filters) are expected answers, not problems, and would only alarm whoever reads the agent log.
     */
    private static void installPrinter() {
        try {
            MethodHandle target = java.lang.invoke.MethodHandles.lookup().findStatic(LibBpf.class, "print",
                    java.lang.invoke.MethodType.methodType(int.class, int.class, MemorySegment.class, MemorySegment.class));
            MemorySegment stub = LINKER.upcallStub(target, FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), Arena.global());
            MemorySegment ignored = (MemorySegment) SET_PRINT.invokeExact(stub);
        } catch (Throwable t) {
            // keep libbpf's default printer (stderr)
        }
    }

    private static final List<String> EXPECTED = List.of("Exclusivity flag on", "Parent Qdisc doesn't exist",
            "Cannot find specified filter chain", "Filter with specified priority/protocol not found");

    /** A loop, not a stream: the first stream of a fresh JVM costs milliseconds, and this runs on tc probes. */
    private static boolean expected(String msg) {
        for (String e : EXPECTED) {
            if (msg.contains(e)) {
                return true;
            }
        }
        return false;
    }

    private static int print(int level, MemorySegment fmt, MemorySegment args) {
        if (level > 1) { // LIBBPF_DEBUG
            return 0;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(2048);
            int n = (int) VSNPRINTF.invokeExact(buf, 2048L, fmt, args);
            String msg = buf.getString(0).stripTrailing();
            if (n > 0 && !expected(msg)) {
                System.err.println("libbpf: " + msg);
            }
            return n;
        } catch (Throwable t) {
            return 0;
        }
    }

    /** {@code ENOENT (No such file or directory)}. */
    static String errno(int errno) {
        try {
            String text = ((MemorySegment) STRERROR.invokeExact(Math.abs(errno))).reinterpret(256).getString(0);
            return "errno " + Math.abs(errno) + " (" + text + ")";
        } catch (Throwable t) {
            return "errno " + Math.abs(errno);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new BpfException("native call failed: " + t);
    }

    static String cString(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(4096).getString(0);
    }

    /** Opens an ELF object held in memory; the buffer must stay alive until the object is closed. */
    static MemorySegment openMem(MemorySegment elf) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CAPTURE);
            MemorySegment obj = (MemorySegment) ObjectApi.OPEN_MEM.invokeExact(state, elf, elf.byteSize(), MemorySegment.NULL);
            if (obj.equals(MemorySegment.NULL)) {
                throw new BpfException("bpf_object__open_mem: " + errno((int) ERRNO.get(state, 0L)));
            }
            return obj;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int objectLoad(MemorySegment obj) {
        try {
            return (int) ObjectApi.OBJ_LOAD.invokeExact(obj);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void objectClose(MemorySegment obj) {
        try {
            ObjectApi.OBJ_CLOSE.invokeExact(obj);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment nextMap(MemorySegment obj, MemorySegment prev) {
        try {
            return (MemorySegment) ObjectApi.NEXT_MAP.invokeExact(obj, prev);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static String mapName(MemorySegment map) {
        try {
            return cString((MemorySegment) ObjectApi.MAP_NAME.invokeExact(map));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapSetPinPath(MemorySegment map, String path) {
        try (Arena a = Arena.ofConfined()) {
            return (int) ObjectApi.MAP_SET_PIN_PATH.invokeExact(map, a.allocateFrom(path));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fd, key size, value size, max entries of a libbpf map. */
    static int[] mapInfo(MemorySegment map) {
        try {
            return new int[]{(int) ObjectApi.MAP_FD.invokeExact(map), (int) ObjectApi.MAP_KEY_SIZE.invokeExact(map),
                    (int) ObjectApi.MAP_VALUE_SIZE.invokeExact(map), (int) ObjectApi.MAP_MAX_ENTRIES.invokeExact(map)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment findProgram(MemorySegment obj, String name) {
        try (Arena a = Arena.ofConfined()) {
            return (MemorySegment) ObjectApi.FIND_PROG.invokeExact(obj, a.allocateFrom(name));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int programFd(MemorySegment prog) {
        try {
            return (int) ObjectApi.PROG_FD.invokeExact(prog);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int programPin(MemorySegment prog, String path) {
        try (Arena a = Arena.ofConfined()) {
            return (int) ObjectApi.PROG_PIN.invokeExact(prog, a.allocateFrom(path));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static MemorySegment tcHook(Arena a, int ifindex, int attachPoint) {
        MemorySegment hook = a.allocate(TC_HOOK_SIZE, 8);
        hook.set(JAVA_LONG, 0, TC_HOOK_SIZE);
        hook.set(JAVA_INT, 8, ifindex);
        hook.set(JAVA_INT, 12, attachPoint);
        return hook;
    }

    private static MemorySegment tcOpts(Arena a, int progFd, int flags, int handle, int priority) {
        MemorySegment opts = a.allocate(TC_OPTS_SIZE, 8);
        opts.set(JAVA_LONG, 0, TC_OPTS_SIZE);
        opts.set(JAVA_INT, 8, progFd);
        opts.set(JAVA_INT, 12, flags);
        opts.set(JAVA_INT, 16, 0); // prog_id: output only
        opts.set(JAVA_INT, 20, handle);
        opts.set(JAVA_INT, 24, priority);
        return opts;
    }

    /** Creates the clsact qdisc on the interface (ingress and egress hooks); 0 or -EEXIST are both fine. */
    static int tcHookCreate(int ifindex) {
        try (Arena a = Arena.ofConfined()) {
            return (int) TC_HOOK_CREATE.invokeExact(tcHook(a, ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Attaches (replacing a filter with the same handle and priority): the swap is atomic for packets. */
    static int tcAttach(int ifindex, int attachPoint, int progFd, int handle, int priority) {
        try (Arena a = Arena.ofConfined()) {
            return (int) TC_ATTACH.invokeExact(tcHook(a, ifindex, attachPoint), tcOpts(a, progFd, BPF_TC_F_REPLACE, handle, priority));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int tcDetach(int ifindex, int attachPoint, int handle, int priority) {
        try (Arena a = Arena.ofConfined()) {
            return (int) TC_DETACH.invokeExact(tcHook(a, ifindex, attachPoint), tcOpts(a, 0, 0, handle, priority));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The id of the program attached at (handle, priority), or a negative errno (-ENOENT: none). */
    static int tcQuery(int ifindex, int attachPoint, int handle, int priority) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment opts = tcOpts(a, 0, 0, handle, priority);
            int rc = (int) TC_QUERY.invokeExact(tcHook(a, ifindex, attachPoint), opts);
            return rc < 0 ? rc : opts.get(JAVA_INT, 16);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapUpdate(int fd, MemorySegment key, MemorySegment value, long flags) {
        try {
            return (int) MAP_UPDATE.invokeExact(fd, key, value, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * One bpf(2) call for {@code count} updates; {@code count} is updated to the number done (struct
     * bpf_map_batch_opts { size_t sz; __u64 elem_flags; __u64 flags; } = 24 bytes).
     */
    static int mapUpdateBatch(int fd, MemorySegment keys, MemorySegment values, MemorySegment count) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment opts = a.allocate(24, 8);
            opts.set(JAVA_LONG, 0, 24L);
            return (int) MAP_UPDATE_BATCH.invokeExact(fd, keys, values, count, opts);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * One bpf(2) call reading up to {@code count} entries after the position {@code inBatch} (NULL: from the start);
     * writes the next position to {@code outBatch} and the number read to {@code count}. -ENOENT: the map has no
     * more entries (those read are valid).
     */
    static int mapLookupBatch(int fd, MemorySegment inBatch, MemorySegment outBatch, MemorySegment keys, MemorySegment values,
                              MemorySegment count) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment opts = a.allocate(24, 8);
            opts.set(JAVA_LONG, 0, 24L);
            return (int) MAP_LOOKUP_BATCH.invokeExact(fd, inBatch, outBatch, keys, values, count, opts);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapLookup(int fd, MemorySegment key, MemorySegment value) {
        try {
            return (int) MAP_LOOKUP.invokeExact(fd, key, value);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapDelete(int fd, MemorySegment key) {
        try {
            return (int) MAP_DELETE.invokeExact(fd, key);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapNextKey(int fd, MemorySegment key, MemorySegment next) {
        try {
            return (int) MAP_NEXT_KEY.invokeExact(fd, key, next);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fd of a pinned object, or a negative errno. */
    static int objGet(String path) {
        try (Arena a = Arena.ofConfined()) {
            return (int) OBJ_GET.invokeExact(a.allocateFrom(path));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int numPossibleCpus() {
        try {
            int n = (int) NUM_CPUS.invokeExact();
            if (n <= 0) {
                throw new BpfException("libbpf_num_possible_cpus: " + errno(n));
            }
            return n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The BPF_MAP_TYPE_* of map {@code fd} (struct bpf_map_info's first field), or a negative errno. */
    static int mapType(int fd) {
        int[] info = new int[MAP_INFO_FIELDS];
        int rc = objInfo(fd, info);
        return rc < 0 ? rc : info[0];
    }

    /** struct bpf_map_info's first fields: type, id, key_size, value_size, max_entries, map_flags (u32 each). */
    static final int MAP_INFO_FIELDS = 6;
    /** struct bpf_prog_info's first fields: type, id. */
    static final int PROG_INFO_FIELDS = 2;

    /**
     * Fills {@code fields} with the first u32 fields of the struct bpf_map_info or bpf_prog_info of {@code fd} (the
     * kernel copies only as much as asked for); 0 or a negative errno.
     */
    static int objInfo(int fd, int[] fields) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment info = a.allocate(4L * fields.length, 8);
            MemorySegment len = a.allocateFrom(JAVA_INT, (int) info.byteSize());
            int rc = (int) OBJ_INFO.invokeExact(fd, info, len);
            if (rc == 0) {
                MemorySegment.copy(info, JAVA_INT, 0, fields, 0, fields.length);
            }
            return rc;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void close(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Interface index in the calling thread's network namespace. */
    static int ifindex(String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CAPTURE);
            int idx = (int) IF_NAMETOINDEX.invokeExact(state, a.allocateFrom(name));
            if (idx == 0) {
                throw new BpfException("interface " + name + ": " + errno((int) ERRNO.get(state, 0L))
                        + "; check --interface (ip link shows the node's interfaces)");
            }
            return idx;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

    /** Maps a BPF_F_MMAPABLE array read-write. */
    static MemorySegment mmapShared(int fd, long size) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CAPTURE);
            MemorySegment p = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0L);
            if (p.address() == -1L) {
                throw new BpfException("mmap of a BPF array: " + errno((int) ERRNO.get(state, 0L)));
            }
            return p.reinterpret(size);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void munmap(MemorySegment p) {
        try {
            int ignored = (int) MUNMAP.invokeExact(p, p.byteSize());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mount(2) of a bpf file system; 0 or a negative errno. */
    static int mountBpffs(String dir) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CAPTURE);
            int rc = (int) Mounts.MOUNT.invokeExact(state, a.allocateFrom("bpffs"), a.allocateFrom(dir), a.allocateFrom("bpf"), 0L, MemorySegment.NULL);
            return rc == 0 ? 0 : -(int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** umount2(2) with MNT_DETACH; 0 or a negative errno. */
    static int umount(String dir) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CAPTURE);
            int rc = (int) Mounts.UMOUNT2.invokeExact(state, a.allocateFrom(dir), 2);
            return rc == 0 ? 0 : -(int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
