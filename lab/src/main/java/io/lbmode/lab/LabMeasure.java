package io.lbmode.lab;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * Measurements in the lab shared by the demo ({@link LabDemo}) and the benchmark
 * ({@code io.lbmode.datapath.bpf.DsrLabBenchmark}): large downloads with the LB node's byte counts, bursts of small
 * requests on fresh connections with their latencies, the LB node's conntrack entries, and switching the agents'
 * forward mode.
 */
public final class LabMeasure {
    private LabMeasure() {
    }

    /** One download: response size, wall time, and rx + tx bytes on the LB node's eth0 meanwhile. */
    public record Download(long bytes, double seconds, long lbBytes) {
        public double megabytesPerSecond() {
            return bytes / 1e6 / seconds;
        }
    }

    /**
     * Downloads {@code GET /bytes/N} from {@code ip:port} in the client namespace and counts the LB node's eth0 bytes.
     *
     * @param requestBytes pad the HTTP request with a header to this many bytes (0: a plain request)
     */
    public static Download download(Lab lab, String ip, int port, long bytes, int requestBytes) throws Exception {
        return download(lab, "", ip, port, bytes, requestBytes);
    }

    /** {@link #download(Lab, String, int, long, int)} from the client's address {@code from} ("" for its default). */
    public static Download download(Lab lab, String from, String ip, int port, long bytes, int requestBytes) throws Exception {
        String head = "GET /bytes/" + bytes + " HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n";
        String pad = "X-Pad: \r\n";
        int fill = requestBytes - head.length() - pad.length() - 2;
        String request = head + (requestBytes > 0 && fill > 0 ? "X-Pad: " + "x".repeat(fill) + "\r\n" : "") + "\r\n";
        long[] before = lab.interfaceBytes(Lab.LB, "eth0");
        long t0 = System.nanoTime();
        try (Socket s = lab.connect(Lab.CLIENT, from, ip, port, Duration.ofSeconds(3))) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            byte[] buf = new byte[256 * 1024];
            long total = 0;
            for (int r = in.read(buf); r >= 0; r = in.read(buf)) {
                total += r;
            }
            if (total < bytes) {
                throw new IOException(ip + ": download ended after " + total + " bytes");
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long[] after = lab.interfaceBytes(Lab.LB, "eth0");
        return new Download(bytes, seconds, after[0] - before[0] + after[1] - before[1]);
    }

    /** A burst of small requests: how many completed in how long, and each one's latency in milliseconds (sorted). */
    public record Requests(int count, double seconds, double[] latenciesMs) {
        public double perSecond() {
            return count / seconds;
        }

        /** Nearest-rank percentile, {@code p} in 0..100. */
        public double percentileMs(double p) {
            if (latenciesMs.length == 0) {
                return Double.NaN;
            }
            int rank = (int) Math.ceil(p / 100 * latenciesMs.length);
            return latenciesMs[Math.clamp(rank - 1, 0, latenciesMs.length - 1)];
        }
    }

    /**
     * Small HTTP requests ({@code GET /}), one fresh connection each, back to back for {@code window}. The client
     * closes each connection after reading the whole response, so the connection's TIME_WAIT stays with the client,
     * under the address the client dialled. When the pod closed first (a {@code Connection: close} request), the pod
     * kept it, under the client's address and port, the same for the direct path and the VIP in DSR (the pod sees the
     * real client): a DSR SYN that met a TIME_WAIT left by a direct round, whose TCP timestamps come from another
     * per-destination clock, was answered with an ACK and retried by the client a second later; that cost DSR most of
     * its requests/s in the demo and measured the interleaving, not the path.
     */
    public static Requests requests(Lab lab, String ip, int port, Duration window) throws Exception {
        return requests(lab, "", ip, port, window);
    }

    /** {@link #requests(Lab, String, int, Duration)} from the client's address {@code from} ("" for its default). */
    public static Requests requests(Lab lab, String from, String ip, int port, Duration window) throws Exception {
        return requests(lab, from, List.of(ip), port, window);
    }

    /**
     * {@link #requests(Lab, String, String, int, Duration)} to each of {@code ips} in turn, a connection each: the
     * direct path to all of a Service's pods, so it reaches the same pods (processes, CPU caches, JIT state) as the
     * connections through the VIP, which Maglev spreads over them.
     */
    public static Requests requests(Lab lab, String from, List<String> ips, int port, Duration window) throws Exception {
        double[] lat = new double[1024];
        int n = 0;
        long c0 = System.nanoTime();
        long end = c0 + window.toNanos();
        for (long t = c0; t < end; ) {
            try (Socket s = lab.connect(Lab.CLIENT, from, ips.get(n % ips.size()), port, Duration.ofSeconds(3))) {
                Lab.request(s, "/", false);
            }
            long t1 = System.nanoTime();
            if (n == lat.length) {
                lat = Arrays.copyOf(lat, n * 2);
            }
            lat[n++] = (t1 - t) / 1e6;
            t = t1;
        }
        double seconds = (System.nanoTime() - c0) / 1e9;
        double[] sorted = Arrays.copyOf(lat, n);
        Arrays.sort(sorted);
        return new Requests(n, seconds, sorted);
    }

    /**
     * Many short connections from the client: let it reuse TIME_WAIT ports, or later measurements see ephemeral-port
     * exhaustion instead of forwarding.
     */
    public static void allowManyConnections(Lab lab) throws IOException, InterruptedException {
        lab.exec(Lab.CLIENT, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=10000 65000");
    }

    /**
     * Writes {@code clusterYaml} (a Cluster, plus the lab's Nodes) into every node's state dir as {@code cluster.yaml},
     * (re)starts every agent and waits until each reports {@code mode} without an error.
     */
    public static void switchMode(Lab lab, String clusterYaml, ForwardMode mode, Duration timeout) throws Exception {
        lab.writeObjects("cluster.yaml", clusterYaml.strip() + "\n" + LabObjects.nodes());
        for (String node : Lab.NODES) {
            lab.stopAgent(node);
            lab.startAgent(node);
        }
        lab.awaitPods();
        for (String node : Lab.NODES) {
            lab.awaitStatus(node, timeout, s -> s.getStatus() != null
                    && mode.wireName().equals(s.getStatus().mode) && s.getStatus().lastError == null);
        }
    }

    /** Removes every conntrack entry of a lab member (a clean count per mode). */
    public static void flushConntrack(Lab lab, String member) throws IOException, InterruptedException {
        lab.exec(member, "conntrack", "-F");
    }

    /** Conntrack entries of a lab member whose original source is {@code srcIp} (TCP and UDP). */
    public static int conntrackEntries(Lab lab, String member, String srcIp) throws IOException, InterruptedException {
        Lab.ExecResult r = lab.exec(member, "conntrack", "-L");
        if (!r.ok()) {
            throw new IOException("conntrack -L in " + member + " failed: " + r.stderr().strip());
        }
        return (int) r.stdout().lines().filter(l -> l.contains("src=" + srcIp + " ")).count();
    }

    /** Column-wise medians of rows of equal length. */
    public static double[] medians(List<double[]> rows) {
        double[] out = new double[rows.getFirst().length];
        for (int c = 0; c < out.length; c++) {
            int col = c;
            out[c] = median(rows.stream().mapToDouble(r -> r[col]).toArray());
        }
        return out;
    }

    public static double median(double... values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }
}
