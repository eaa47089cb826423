package io.lbmode.datapath.bpf;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.program.Applied;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Benchmark, not a test: one fresh JVM's DSR map programming at 10,000 service ports, the way an agent meets it
 * ({@code lab/bench/dsr-program.sh} starts one JVM per round with the agent's {@code datapath/jvm.options}, for this
 * build and a baseline interleaved, and prints medians and ratios). Uses only {@link DsrProgrammer}'s public API, so
 * the same class runs against an older build's datapath jar.
 *
 * <p>In order, in one JVM:
 * <ol>
 *   <li>{@code first}: the first programming of the process: 10,000 service ports into empty maps (programs loaded
 *       and attached before, not timed);</li>
 *   <li>{@code change}: then one endpoint of one service port changes, {@value #CHANGES} times (median);</li>
 *   <li>{@code refill}: a new programmer fills emptied maps again, 3 times (median: later rounds; -Dbench.refills=N);</li>
 *   <li>{@code restart}: a new programmer adopts the pins and applies the same state (nothing to write), in the same
 *       JVM: its code is as warm as the rounds before left it.</li>
 * </ol>
 * Prints one {@code RESULT} line of milliseconds ({@link Applied#took()}).
 *
 * <p>An agent that restarts is a new JVM: with {@code keep} the maps stay pinned at the end, and a second JVM run with
 * {@code adopt} times only that ({@code coldRestart}: a fresh JVM's programmer adopts the pins, loads and attaches the
 * programs, and applies the same state; libbpf initialised before, as in {@code first}; {@code coldRestartPass}: the
 * part of it that went over the service ports, where the build reports it), then removes them.
 *
 * <p>usage: {@code DsrProgramBenchmark BPFFS_DIR INTERFACE distinct|shared [keep|adopt]}: {@code distinct}: every
 * service port has its own 2 endpoints (20,000 pods); {@code shared}: 200 different endpoint pairs among them (the
 * layout of {@link MapUpdateBenchmark}).
 */
public final class DsrProgramBenchmark {
    private DsrProgramBenchmark() {
    }

    static final int N = 10_000;
    static final int CHANGES = 9;
    static final int REFILLS = Integer.getInteger("bench.refills", 3);

    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: DsrProgramBenchmark BPFFS_DIR INTERFACE distinct|shared [keep|adopt]   (root, in a scratch network namespace)");
            System.exit(2);
        }
        Path bpffs = Path.of(args[0]);
        String iface = args[1];
        boolean distinct = switch (args[2]) {
            case "distinct" -> true;
            case "shared" -> false;
            default -> throw new IllegalArgumentException("layout must be distinct or shared, not " + args[2]);
        };
        NodeInfo node = new NodeInfo("bench", Addresses.ipv4("10.0.0.10"));
        List<ServicePort> ports = new ArrayList<>(N);
        for (int i = 0; i < N; i++) {
            ports.add(port(i, distinct, 0));
        }
        NodeState state = new NodeState(ForwardMode.DSR, node, 42, ports);
        // the states the change rounds go through: the last is what the maps hold at the end
        List<NodeState> changed = new ArrayList<>(CHANGES);
        NodeState last = state;
        for (int c = 0; c < CHANGES; c++) {
            List<ServicePort> next = new ArrayList<>(last.services());
            int i = (c * 3_571 + 17) % N;
            next.set(next.indexOf(port(i, distinct, 0)), port(i, distinct, c + 1)); // same key, one endpoint moved
            last = new NodeState(ForwardMode.DSR, node, 42, next);
            changed.add(last);
        }
        String then = args.length > 3 ? args[3] : "";
        if (then.equals("adopt")) {
            DsrProgrammer p = new DsrProgrammer(iface, bpffs, 16381);
            try {
                // libbpf and its downcall handles initialised first, as the other JVM's cleanup did before its first
                // apply (about 100 ms in a fresh JVM: a cost of the process, not of programming); reads the pins only
                p.dropCounters();
                Applied again = p.apply(last);
                System.out.printf("RESULT coldRestart=%.1f coldRestartWrites=%d%s%n", ms(again), again.changes(), passOf(p));
            } finally {
                p.cleanup();
            }
            return;
        }
        boolean keep = switch (then) {
            case "keep" -> true;
            case "" -> false;
            default -> throw new IllegalArgumentException("the last argument must be keep or adopt, not " + then);
        };
        DsrDatapath.cleanup(bpffs);
        DsrProgrammer p = new DsrProgrammer(iface, bpffs, 16381);
        boolean done = false;
        try {
            p.apply(NodeState.empty(ForwardMode.DSR, node, 42));
            double first = ms(p.apply(state));

            double[] change = new double[CHANGES];
            for (int c = 0; c < CHANGES; c++) {
                state = changed.get(c);
                Applied a = p.apply(state);
                if (a.changes() == 0) {
                    throw new IllegalStateException("change " + c + " wrote nothing");
                }
                change[c] = ms(a);
            }

            double[] refill = new double[REFILLS];
            for (int r = 0; r < REFILLS; r++) {
                p.cleanup();
                p = new DsrProgrammer(iface, bpffs, 16381);
                p.apply(NodeState.empty(ForwardMode.DSR, node, 42));
                refill[r] = ms(p.apply(state));
            }

            p.close();
            p = new DsrProgrammer(iface, bpffs, 16381);
            Applied again = p.apply(state);
            double restart = ms(again);

            System.out.printf("RESULT first=%.1f change=%.2f refill=%.1f restart=%.1f restartWrites=%d%n",
                    first, MapUpdateBenchmark.median(change), MapUpdateBenchmark.median(refill), restart, again.changes());
            done = true;
        } finally {
            if (keep && done) {
                p.close(); // pins stay for the next JVM's adopt
            } else {
                p.cleanup();
            }
        }
    }

    /**
     * {@code " coldRestartPass=MS"}: the part of the restart's apply that went over the service ports (not loading the
     * programs or reading the pins), from {@code DsrProgrammer.passNanos()}; empty for a build without it (a baseline).
     */
    private static String passOf(DsrProgrammer p) {
        try {
            java.lang.reflect.Method pass = DsrProgrammer.class.getDeclaredMethod("passNanos");
            return String.format(" coldRestartPass=%.1f", (long) pass.invoke(p) / 1e6);
        } catch (ReflectiveOperationException e) {
            return "";
        }
    }

    private static double ms(Applied a) {
        return a.took().toNanos() / 1e6;
    }

    /** Service port {@code i}; in generation g > 0 its second endpoint is another pod. */
    static ServicePort port(int i, boolean distinct, int generation) {
        String vip = "198.18." + (i >> 8 & 0xff) + "." + (i & 0xff);
        List<Backend> backends;
        if (distinct) {
            int second = generation == 0 ? 1 : 200 + generation;
            backends = List.of(new Backend(Addresses.ipv4("10.244." + (i >> 8 & 0xff) + "." + (i & 0xff)), 8080, "w1", false),
                    new Backend(Addresses.ipv4("10." + second + "." + (i >> 8 & 0xff) + "." + (i & 0xff)), 8080, "w2", false));
        } else {
            String second = generation == 0 ? "10.244.2." + (i % 200 + 1) : "10.244.3." + (i % 200 + generation);
            backends = List.of(new Backend(Addresses.ipv4("10.244.1." + (i % 200 + 2)), 8080, "w1", false),
                    new Backend(Addresses.ipv4(second), 8080, "w2", false));
        }
        return new ServicePort("bench", "svc" + i, "", Protocol.TCP, Addresses.ipv4(vip), 80, false, backends);
    }
}
