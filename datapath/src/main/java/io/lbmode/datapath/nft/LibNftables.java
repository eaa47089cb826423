package io.lbmode.datapath.nft;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * libnftables ({@code libnftables.so.1}, Debian {@code libnftables1}) through java.lang.foreign: about 1.7 ms per
 * transaction here against 34 ms for an {@code nft -f -} subprocess. One context per runner; calls are serialised
 * because a libnftables context is not thread-safe. The context works in the network namespace of the process.
 */
public final class LibNftables extends ScriptNftRunner {
    private static final String LIBRARY = "libnftables.so.1";

    /** Scripts or listings larger than this get a fresh context afterwards (see {@link #execute}). */
    private static final int RECYCLE_BYTES = 256 * 1024;

    private final MethodHandle ctxNew;
    private final MethodHandle ctxFree;
    private final MethodHandle bufferOutput;
    private final MethodHandle bufferError;
    private final MethodHandle runCmd;
    private final MethodHandle getOutput;
    private final MethodHandle getError;
    private final Optional<MethodHandle> mallocTrim;
    private MemorySegment ctx;
    private final Optional<NftNetlink> netlink = NftNetlink.create();

    private LibNftables(SymbolLookup lib) throws Throwable {
        Linker linker = Linker.nativeLinker();
        ctxNew = linker.downcallHandle(find(lib, "nft_ctx_new"),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        ctxFree = linker.downcallHandle(find(lib, "nft_ctx_free"), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        bufferOutput = linker.downcallHandle(find(lib, "nft_ctx_buffer_output"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        bufferError = linker.downcallHandle(find(lib, "nft_ctx_buffer_error"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        mallocTrim = linker.defaultLookup().find("malloc_trim").map(a -> linker.downcallHandle(a,
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)));
        runCmd = linker.downcallHandle(find(lib, "nft_run_cmd_from_buffer"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        getOutput = linker.downcallHandle(find(lib, "nft_ctx_get_output_buffer"),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        getError = linker.downcallHandle(find(lib, "nft_ctx_get_error_buffer"),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        ctx = newContext();
    }

    private MemorySegment newContext() throws Throwable {
        MemorySegment c = (MemorySegment) ctxNew.invokeExact(0); // NFT_CTX_DEFAULT
        if (c.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("nft_ctx_new returned NULL");
        }
        int rc1 = (int) bufferOutput.invokeExact(c);
        int rc2 = (int) bufferError.invokeExact(c);
        if (rc1 != 0 || rc2 != 0) {
            throw new IllegalStateException("nft_ctx_buffer_output/error failed");
        }
        return c;
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException(LIBRARY + " has no symbol " + name));
    }

    /** Loads libnftables; empty (with the reason) when the library or native access is not available. */
    public static Optional<LibNftables> load(StringBuilder whyNot) {
        try {
            return Optional.of(new LibNftables(SymbolLookup.libraryLookup(LIBRARY, Arena.global())));
        } catch (Throwable e) {
            whyNot.append(e.getClass().getSimpleName()).append(": ").append(e.getMessage());
            return Optional.empty();
        }
    }

    @Override
    synchronized Answer execute(String script) {
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) runCmd.invokeExact(ctx, arena.allocateFrom(script));
            String out = string((MemorySegment) getOutput.invokeExact(ctx));
            String err = string((MemorySegment) getError.invokeExact(ctx));
            if (script.length() > RECYCLE_BYTES || out.length() > RECYCLE_BYTES) {
                // A context keeps its ruleset cache (every element of a full load: ~150 MB at 10,000 services):
                // drop it after big transactions and give the freed heap back to the OS.
                ctxFree.invokeExact(ctx);
                ctx = newContext();
                if (mallocTrim.isPresent()) {
                    int ignored = (int) mallocTrim.get().invokeExact(0L);
                }
            }
            return new Answer(rc, out, err);
        } catch (Throwable e) {
            throw new NftException("libnftables call failed: " + e);
        }
    }

    private static String string(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(Long.MAX_VALUE).getString(0);
    }

    @Override
    public java.util.OptionalLong generation() {
        return netlink.map(NftNetlink::generation).orElse(java.util.OptionalLong.empty());
    }

    /** Over netlink: {@code list counter} would make libnftables read the whole ruleset. */
    @Override
    public Optional<String> listCounter(String family, String table, String counter) {
        if (netlink.isEmpty()) {
            return super.listCounter(family, table, counter);
        }
        return netlink.get().counter(family, table, counter).map(v -> "packets " + v[0] + " bytes " + v[1]);
    }

    @Override
    public Optional<Boolean> tableExists(String family, String table) {
        return netlink.flatMap(n -> n.tableExists(family, table));
    }

    @Override
    public Optional<TableLayout> tableLayout(String family, String table) {
        return netlink.flatMap(n -> n.tableLayout(family, table));
    }

    @Override
    public boolean addElements(BulkElements elements) {
        if (netlink.isEmpty()) {
            return false;
        }
        netlink.get().commit(elements.netlink(1));
        return true;
    }

    @Override
    public String describe() {
        return "libnftables (java.lang.foreign)";
    }
}
