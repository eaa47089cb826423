package io.lbmode.datapath.bench;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.nft.NftRunner;
import io.lbmode.datapath.nft.NftRunners;
import io.lbmode.datapath.nft.SnatProgrammer;
import io.lbmode.datapath.program.Applied;
import java.net.Inet4Address;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Programming cost of lbmode's SNAT layout (static chains, one concatenated backend map) against a kube-proxy-style
 * layout (a chain per service with {@code numgen ... vmap} and a chain per endpoint), side by side in the same run,
 * on the real kernel through the same libnftables boundary. Not a test: run it in a scratch network namespace with
 * {@code lab/bench/nft-load.sh} (root). Prints medians (ms) and baseline/lbmode ratios.
 *
 * <p>usage: {@code NftLoadBenchmark [SERVICES...]} (default 1000 10000), 4 endpoints per service.
 */
public final class NftLoadBenchmark {
    private static final int ENDPOINTS = 4;
    private static final NodeInfo NODE = new NodeInfo("bench", Addresses.ipv4("10.0.0.10"));

    private NftLoadBenchmark() {
    }

    public static void main(String[] args) {
        int[] sizes = args.length == 0 ? new int[]{1000, 10000} : Arrays.stream(args).mapToInt(Integer::parseInt).toArray();
        NftRunner nft = NftRunners.system();
        System.out.println("kernel boundary: " + nft.describe() + "; " + ENDPOINTS + " endpoints per service; times in ms (median of runs)");
        System.out.printf(Locale.ROOT, "%-9s %-22s %12s %12s %8s%n", "services", "operation", "kube-proxy", "lbmode", "ratio");
        for (int n : sizes) {
            run(nft, n);
        }
    }

    private static void run(NftRunner nft, int n) {
        int heavyRuns = n >= 10000 ? 1 : 3; // the baseline's 10k load/replace take tens of seconds each
        int lightRuns = 15;
        NodeState state = state(n, 0);

        // lbmode: full load (no table), atomic full replace (table present), one endpoint change, one service added.
        double[] oursLoad = new double[Math.max(heavyRuns + 2, 7)];
        for (int i = 0; i < oursLoad.length; i++) {
            nft.run("add table ip lbmode\ndelete table ip lbmode\n");
            SnatProgrammer p = new SnatProgrammer(nft);
            oursLoad[i] = ms(p.apply(state));
        }
        // Before the netlink bulk load (main up to #14's SNAT work): the whole table as one nft transaction, script
        // built and parsed by libnftables; still the path of a replace (table present).
        double[] oneTransaction = new double[heavyRuns + 2];
        for (int i = 0; i < oneTransaction.length; i++) {
            nft.run("add table ip lbmode\ndelete table ip lbmode\n");
            long start = System.nanoTime();
            nft.run(io.lbmode.datapath.nft.SnatRuleset.full(state));
            oneTransaction[i] = (System.nanoTime() - start) / 1e6;
        }
        double[] oursReplace = new double[Math.max(heavyRuns + 2, 7)];
        for (int i = 0; i < oursReplace.length; i++) {
            oursReplace[i] = ms(new SnatProgrammer(nft).apply(state(n, i + 1)));
        }
        SnatProgrammer p = new SnatProgrammer(nft);
        p.apply(state);
        double[] oursEndpoint = new double[lightRuns];
        double[] oursAdd = new double[lightRuns];
        NodeState current = state;
        for (int i = 0; i < lightRuns; i++) {
            current = withEndpointChanged(current, i);
            oursEndpoint[i] = ms(p.apply(current));
            current = withServiceAdded(current, n + i);
            oursAdd[i] = ms(p.apply(current));
        }
        // The drop counter, read at every status write: libnftables' "list counter" (it fills its whole cache
        // first) against the agent's read (one netlink message).
        double[] listCounter = new double[lightRuns];
        double[] netlinkCounter = new double[lightRuns];
        for (int i = 0; i < lightRuns; i++) {
            listCounter[i] = time(nft, "list counter ip lbmode " + io.lbmode.datapath.nft.SnatRuleset.SOURCE_RANGE_DROPS + "\n");
            long start = System.nanoTime();
            p.dropCounters();
            netlinkCounter[i] = (System.nanoTime() - start) / 1e6;
        }
        nft.run("add table ip lbmode\ndelete table ip lbmode\n");

        // kube-proxy-style baseline
        double[] kpLoad = new double[heavyRuns];
        for (int i = 0; i < heavyRuns; i++) {
            nft.run("add table ip kp\ndelete table ip kp\n");
            kpLoad[i] = time(nft, KubeProxyLayout.full(n, 0, false));
        }
        // At 10,000 services the baseline's replace takes about 4 minutes (245 s in an earlier run): only on request.
        boolean kpReplaceRuns = n < 10000 || "1".equals(System.getenv("NFT_LOAD_KP_REPLACE"));
        double[] kpReplace = new double[kpReplaceRuns ? heavyRuns : 1];
        kpReplace[0] = Double.NaN;
        for (int i = 0; kpReplaceRuns && i < heavyRuns; i++) {
            kpReplace[i] = time(nft, KubeProxyLayout.full(n, i + 1, true));
        }
        int kpGeneration = kpReplaceRuns ? heavyRuns : 0;
        double[] kpEndpoint = new double[lightRuns];
        double[] kpAdd = new double[lightRuns];
        for (int i = 0; i < lightRuns; i++) {
            kpEndpoint[i] = time(nft, KubeProxyLayout.endpointChange(i, kpGeneration, 100 + i));
            kpAdd[i] = time(nft, KubeProxyLayout.serviceAdd(n + i));
        }
        nft.run("add table ip kp\ndelete table ip kp\n");

        row(n, "full load", kpLoad, oursLoad);
        System.out.printf(Locale.ROOT, "%-9d %-22s %12.1f %12.1f %7.1fx   (baseline: lbmode's table as one nft transaction; first load in this JVM: %.1f)%n",
                n, "full load (netlink)", median(oneTransaction), median(oursLoad), median(oneTransaction) / median(oursLoad), oursLoad[0]);
        row(n, "atomic full replace", kpReplace, oursReplace);
        row(n, "one endpoint change", kpEndpoint, oursEndpoint);
        row(n, "one service added", kpAdd, oursAdd);
        System.out.printf(Locale.ROOT, "%-9d %-22s %12.2f %12.2f %7.1fx   (baseline: nft list counter)%n", n,
                "read the drop counter", median(listCounter), median(netlinkCounter), median(listCounter) / median(netlinkCounter));
    }

    private static void row(int n, String op, double[] baseline, double[] ours) {
        double b = median(baseline), o = median(ours);
        System.out.printf(Locale.ROOT, "%-9d %-22s %12.1f %12.1f %7.1fx%n", n, op, b, o, b / o);
    }

    private static double ms(Applied a) {
        return a.took().toNanos() / 1e6;
    }

    private static double time(NftRunner nft, String script) {
        long start = System.nanoTime();
        nft.run(script);
        return (System.nanoTime() - start) / 1e6;
    }

    static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** n services, VIP 172.16.x.y port 80, endpoints 10.(100+generation%50).x.y so a replace changes every backend. */
    static NodeState state(int n, int generation) {
        List<ServicePort> ports = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ports.add(service(i, generation));
        }
        return new NodeState(ForwardMode.SNAT, NODE, 1, ports);
    }

    static ServicePort service(int i, int generation) {
        List<Backend> backends = new ArrayList<>(ENDPOINTS);
        for (int e = 0; e < ENDPOINTS; e++) {
            backends.add(new Backend(KubeProxyLayout.endpoint(i, e, generation), 8080, "w", false));
        }
        return new ServicePort("default", "s" + i, "", Protocol.TCP, KubeProxyLayout.vip(i), 80, false, backends);
    }

    private static NodeState withEndpointChanged(NodeState s, int round) {
        List<ServicePort> ports = new ArrayList<>(s.services());
        ServicePort old = ports.get(round);
        List<Backend> backends = new ArrayList<>(old.backends());
        Inet4Address replacement = KubeProxyLayout.endpoint(round, 0, 100 + round);
        backends.set(0, new Backend(replacement, 8080, "w", false));
        ports.set(round, new ServicePort(old.namespace(), old.name(), "", old.protocol(), old.vip(), old.port(), false, backends));
        return new NodeState(s.mode(), s.node(), s.hashSeed(), ports);
    }

    private static NodeState withServiceAdded(NodeState s, int index) {
        List<ServicePort> ports = new ArrayList<>(s.services());
        ports.add(service(index, 0));
        return new NodeState(s.mode(), s.node(), s.hashSeed(), ports);
    }
}
