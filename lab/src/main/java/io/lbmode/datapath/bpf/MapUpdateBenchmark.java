package io.lbmode.datapath.bpf;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.program.Applied;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * Benchmark, not a test: what it costs to program the DSR maps from Java. Run as root inside a scratch network
 * namespace ({@code lab/bench/dsr-map-update.sh} does that):
 * <ol>
 *   <li>10,000 {@code lb_services} updates through libbpf/FFM (one bpf(2) call each), against the baseline of one
 *       {@code bpftool map update} process per update (measured on a sample, scaled to 10,000) and one
 *       {@code bpftool batch} process for all 10,000;</li>
 *   <li>{@link DsrProgrammer#apply} of 10,000 service ports with 2 backends each, from scratch and incrementally.</li>
 * </ol>
 * Prints medians over several rounds and the ratios.
 *
 * <p>usage: {@code MapUpdateBenchmark BPFFS_DIR [INTERFACE]}
 */
public final class MapUpdateBenchmark {
    private MapUpdateBenchmark() {
    }

    static final int N = 10_000;

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: MapUpdateBenchmark BPFFS_DIR [INTERFACE]   (root, inside a scratch network namespace)");
            System.exit(2);
        }
        Path bpffs = Path.of(args[0]);
        String iface = args.length > 1 ? args[1] : "lo";
        DsrDatapath.cleanup(bpffs);
        try {
            mapUpdates(bpffs);
            programmer(bpffs, iface);
        } finally {
            DsrDatapath.cleanup(bpffs);
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static byte[] key(int i) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(BpfLayout.SVC_KEY_SIZE);
            BpfLayout.svcKey(k, Addresses.ipv4("198.18." + (i >> 8 & 0xff) + "." + (i & 0xff)), 80 + (i >> 16), BpfLayout.PROTO_TCP);
            return k.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }

    static byte[] value(int i) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(BpfLayout.SVC_VALUE_SIZE);
            BpfLayout.svcValue(v, i * 251, 251, 2);
            return v.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }

    private static void mapUpdates(Path bpffs) throws Exception {
        try (DsrDatapath dp = DsrDatapath.load(bpffs)) {
            BpfMap services = dp.map(DsrDatapath.SERVICES);
            byte[][] keys = new byte[N][];
            byte[][] values = new byte[N][];
            for (int i = 0; i < N; i++) {
                keys[i] = key(i);
                values[i] = value(i);
            }
            int rounds = 9;
            double[] ffm = new double[rounds];
            try (Arena a = Arena.ofConfined()) {
                MemorySegment k = a.allocate(BpfLayout.SVC_KEY_SIZE);
                MemorySegment v = a.allocate(BpfLayout.SVC_VALUE_SIZE);
                for (int r = 0; r < rounds; r++) {
                    for (byte[] key : keys) { // start every round from an empty map (not timed)
                        MemorySegment.copy(MemorySegment.ofArray(key), 0, k, 0, key.length);
                        services.delete(k);
                    }
                    long t0 = System.nanoTime();
                    for (int i = 0; i < N; i++) {
                        MemorySegment.copy(MemorySegment.ofArray(keys[i]), 0, k, 0, keys[i].length);
                        MemorySegment.copy(MemorySegment.ofArray(values[i]), 0, v, 0, values[i].length);
                        services.update(k, v);
                    }
                    ffm[r] = (System.nanoTime() - t0) / 1e6;
                }
                if (services.count() != N) {
                    throw new IllegalStateException("expected " + N + " entries, found " + services.count());
                }
                for (byte[] key : keys) {
                    MemorySegment.copy(MemorySegment.ofArray(key), 0, k, 0, key.length);
                    services.delete(k);
                }
            }
            Path pin = DsrDatapath.pinDir(bpffs).resolve(DsrDatapath.SERVICES);
            HexFormat hex = HexFormat.ofDelimiter(" ");
            // Baseline 1: one bpftool process per update (the way a shell script or a naive agent does it).
            int sample = 300;
            double[] perProcess = new double[3];
            for (int r = 0; r < perProcess.length; r++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < sample; i++) {
                    List<String> cmd = new ArrayList<>(List.of("bpftool", "map", "update", "pinned", pin.toString(), "key", "hex"));
                    cmd.addAll(List.of(hex.formatHex(keys[i]).split(" ")));
                    cmd.addAll(List.of("value", "hex"));
                    cmd.addAll(List.of(hex.formatHex(values[i]).split(" ")));
                    run(cmd);
                }
                perProcess[r] = (System.nanoTime() - t0) / 1e6 / sample;
            }
            // Baseline 2: one bpftool process for all updates (bpftool batch).
            Path batch = Files.createTempFile("lbmode-bench", ".batch");
            StringBuilder cmds = new StringBuilder();
            for (int i = 0; i < N; i++) {
                cmds.append("map update pinned ").append(pin).append(" key hex ").append(hex.formatHex(keys[i]))
                        .append(" value hex ").append(hex.formatHex(values[i])).append('\n');
            }
            Files.writeString(batch, cmds, StandardCharsets.US_ASCII);
            double[] batched = new double[3];
            for (int r = 0; r < batched.length; r++) {
                long t0 = System.nanoTime();
                run(List.of("bpftool", "batch", "file", batch.toString()));
                batched[r] = (System.nanoTime() - t0) / 1e6;
            }
            Files.deleteIfExists(batch);

            double f = median(ffm);
            double p = median(perProcess) * N;
            double b = median(batched);
            System.out.printf("%n== %d updates of lb_services (hash map, 8-byte key, 16-byte value)%n", N);
            System.out.printf("libbpf via java.lang.foreign : median %8.1f ms  (%5.2f us/update; rounds %s)%n", f, f * 1000 / N, fmt(ffm));
            System.out.printf("bpftool, 1 process per update: median %8.1f ms  (%5.2f ms/update, measured on %d updates x %d rounds, scaled)%n",
                    p, median(perProcess), sample, perProcess.length);
            System.out.printf("bpftool batch, 1 process     : median %8.1f ms  (rounds %s)%n", b, fmt(batched));
            System.out.printf("ratio: FFM is %.0fx faster than a process per update, %.1fx faster than bpftool batch%n", p / f, b / f);
        }
    }

    private static void programmer(Path bpffs, String iface) throws Exception {
        NodeInfo node = new NodeInfo("bench", Addresses.ipv4("10.0.0.10"));
        for (int m : new int[]{251, 16381}) {
            double[] load = new double[3];
            double[] fill = new double[3];
            double[] incr = new double[3];
            double[] restart = new double[3];
            int filled = 0;
            int changed = 0;
            int rewritten = 0;
            for (int r = 0; r < load.length; r++) {
                DsrDatapath.cleanup(bpffs);
                DsrProgrammer p = new DsrProgrammer(iface, bpffs, m);
                DsrProgrammer next = new DsrProgrammer(iface, bpffs, m);
                try {
                    load[r] = p.apply(NodeState.empty(ForwardMode.DSR, node, 42)).took().toNanos() / 1e6; // load, pin, attach
                    Applied full = p.apply(state(node, 0));
                    fill[r] = full.took().toNanos() / 1e6;
                    filled = full.changes();
                    Applied a = p.apply(state(node, 1)); // 100 services change one backend
                    incr[r] = a.took().toNanos() / 1e6;
                    changed = a.changes();
                    p.close();
                    // A restarted agent: adopts the pinned maps and applies the same state.
                    Applied again = next.apply(state(node, 1));
                    restart[r] = again.took().toNanos() / 1e6;
                    rewritten = again.changes();
                } finally {
                    next.close();
                    p.cleanup();
                }
            }
            System.out.printf("%n== DsrProgrammer.apply, %d service ports x 2 backends, Maglev size %d (compact where memory requires)%n", N, m);
            System.out.printf("load, pin and attach the programs (empty state): median %6.1f ms  %s%n", median(load), fmt(load));
            System.out.printf("program %d services into empty maps (%d entries/slots): median %6.1f ms  %s%n", N, filled, median(fill), fmt(fill));
            System.out.printf("then 100 services change a backend (%d entries/slots):   median %6.1f ms  %s%n", changed, median(incr), fmt(incr));
            System.out.printf("restart: adopt the pins, apply the same state (%d written): median %6.1f ms  %s%n", rewritten, median(restart), fmt(restart));
        }
    }

    /** 10,000 TCP service ports with 2 backends; in {@code generation} g, services 0..99 use backend g+2 instead of 1. */
    static NodeState state(NodeInfo node, int generation) {
        List<ServicePort> s = new ArrayList<>(N);
        for (int i = 0; i < N; i++) {
            int second = i < 100 && generation > 0 ? generation + 2 : 1;
            s.add(new ServicePort("bench", "svc" + i, "", Protocol.TCP,
                    Addresses.ipv4("198.18." + (i >> 8 & 0xff) + "." + (i & 0xff)), 80, false,
                    List.of(new Backend(Addresses.ipv4("10.244.1." + (i % 200 + 2)), 8080, "w1", false),
                            new Backend(Addresses.ipv4("10.244.2." + (i % 200 + second)), 8080, "w2", false))));
        }
        return new NodeState(ForwardMode.DSR, node, 42, s);
    }

    private static String fmt(double[] v) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) {
            s.append(i == 0 ? "" : " ").append(String.format("%.1f", v[i]));
        }
        return s.append("]").toString();
    }

    private static void run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd.subList(0, Math.min(4, cmd.size()))) + " failed: " + new String(out, StandardCharsets.UTF_8));
        }
    }
}
