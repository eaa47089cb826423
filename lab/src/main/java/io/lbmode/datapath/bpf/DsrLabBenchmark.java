package io.lbmode.datapath.bpf;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabMeasure;
import io.lbmode.lab.LabSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Benchmark, not a test (root): in the network-namespace lab with the real agents, side by side in one run, for the
 * direct client-to-pod path, SNAT and DSR: throughput of large responses, connection rate of small requests, and
 * bytes through the LB node's interface per GB served. Each mode's rounds are interleaved with direct-path rounds,
 * so the ratios compare measurements taken under the same machine load.
 *
 * <p>usage: {@code DsrLabBenchmark [ROUNDS] [MB]} (defaults 5 rounds of 100 MB)
 */
public final class DsrLabBenchmark {
    private DsrLabBenchmark() {
    }

    static final String VIP = "172.16.20.16";
    static final String POD = "10.244.1.2"; // w1p1, the only endpoint: every mode reaches the same pod

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        long bytes = (args.length > 1 ? Long.parseLong(args[1]) : 100) << 20;
        try (Lab lab = Lab.start(LabSpec.unique())) {
            lab.writeObjects("web.yaml", LabObjects.service("web", VIP, false, LabObjects.webPorts(),
                    List.of(LabObjects.Ep.ready("w1p1"))));
            // thousands of short connections per round: let the client reuse TIME_WAIT ports, or the later blocks
            // measure ephemeral-port exhaustion instead of forwarding
            LabMeasure.allowManyConnections(lab);
            Map<String, double[]> results = new LinkedHashMap<>();
            for (ForwardMode mode : List.of(ForwardMode.SNAT, ForwardMode.DSR)) {
                LabMeasure.switchMode(lab, LabObjects.cluster(mode), mode, Duration.ofSeconds(60));
                List<double[]> direct = new ArrayList<>();
                List<double[]> viaVip = new ArrayList<>();
                for (int r = 0; r < rounds; r++) {
                    direct.add(measure(lab, POD, Lab.POD_PORT, bytes));
                    viaVip.add(measure(lab, VIP, 80, bytes));
                }
                results.put("direct (" + mode.wireName() + " block)", LabMeasure.medians(direct));
                results.put(mode.wireName().toUpperCase(), LabMeasure.medians(viaVip));
            }
            System.out.printf("%n%d rounds, %d MB responses, medians; LB bytes = rx + tx on the LB node's eth0 per GB served%n",
                    rounds, bytes >> 20);
            System.out.printf("%-20s %12s %12s %14s %14s%n", "path", "MB/s", "conn/s", "LB bytes/GB", "vs direct");
            double directSnat = results.get("direct (snat block)")[0];
            double directDsr = results.get("direct (dsr block)")[0];
            for (var e : results.entrySet()) {
                double[] m = e.getValue();
                String ratio = e.getKey().equals("SNAT") ? String.format("%.2fx", m[0] / directSnat)
                        : e.getKey().equals("DSR") ? String.format("%.2fx", m[0] / directDsr) : "";
                System.out.printf("%-20s %12.0f %12.0f %14.0f %14s%n", e.getKey(), m[0], m[1], m[2], ratio);
            }
            System.out.printf("DSR LB bytes are %.3f%% of SNAT's%n", 100 * results.get("DSR")[2] / results.get("SNAT")[2]);
            System.out.println("(LB node CPU per GB is not reported: the namespaces share one kernel, so softirq time "
                    + "cannot be attributed to the LB node.)");
        }
    }

    /** MB/s of one download, connections/s of small requests for 2 s, LB eth0 bytes per GB of the download. */
    static double[] measure(Lab lab, String ip, int port, long bytes) throws Exception {
        LabMeasure.Download d = LabMeasure.download(lab, ip, port, bytes, 0);
        double lbPerGb = d.lbBytes() * (double) (1L << 30) / bytes;
        LabMeasure.Requests r = LabMeasure.requests(lab, ip, port, Duration.ofSeconds(2));
        return new double[]{d.megabytesPerSecond(), r.perSecond(), lbPerGb};
    }
}
