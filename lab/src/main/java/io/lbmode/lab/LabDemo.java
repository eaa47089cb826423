package io.lbmode.lab;

import io.lbmode.crds.cluster.v1.ForwardMode;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * The demo's measurements and its report: in one lab, the direct client-to-pod path as the baseline, then each
 * forward mode through the VIP with the real agents: the address the pod saw, bytes through the LB node for a 1 KB
 * request and a 10 MB response, the LB node's conntrack entries for those flows, requests/s and latency of small
 * requests (a fresh connection each), and throughput of large responses. Rendered as a text table, Markdown and a
 * PNG chart.
 */
public final class LabDemo {
    static {
        System.setProperty("java.awt.headless", "true"); // before any AWT class needs a display
    }

    private LabDemo() {
    }

    /**
     * Name of the column measured from {@link Lab#CLIENT_VIA_LB_IP} to the direct path's pod: the router sends it through
     * the LB node, which forwards it as any Linux router does, and the pod answers the client directly. These are
     * the hops a DSR connection takes (client, LB node, worker, pod; replies without the LB node), so DSR against
     * this column measures what lbmode's programs cost, and against the direct column what the extra hop costs too.
     */
    public static final String ROUTED = "routed via LB";

    /** The endpoint of the direct path's downloads and probes (pod w1p1), a pod of the demo's Service. */
    static final String DIRECT_POD = Lab.PODS.get("w1p1").get(1);

    /**
     * The demo Service's pods: the direct and routed paths' small requests go to each in turn, as Maglev spreads the
     * VIP's. Each pod is its own JVM; with the direct path on w1p1 alone, that one process was the warmest and the
     * VIP's connections met two colder ones two times out of three (p50 0.66 ms against 0.42 ms in one run).
     */
    static final List<String> SERVICE_PODS = Lab.PODS.values().stream().map(p -> p.get(1)).sorted().toList();

    /**
     * How much to measure.
     *
     * @param rounds          rounds per path; the table shows medians
     * @param window          length of one burst of small requests
     * @param probeBytes      response size of the byte and conntrack probe (request: 1 KB)
     * @param throughputBytes response size of the throughput measurement
     */
    public record Settings(int rounds, Duration window, long probeBytes, long throughputBytes) {
        public static final Settings DEMO = new Settings(5, Duration.ofMillis(600), 10_000_000, 100_000_000);
    }

    /**
     * One column of the table.
     *
     * @param name        "direct", "SNAT" or "DSR"
     * @param podSaw      the client address the pod saw
     * @param lbBytes     rx + tx bytes on the LB node's eth0 for the probe (1 KB request, 10 MB response), median
     * @param conntrack   LB node conntrack entries from the client after {@code flows} probe flows
     * @param flows       probe flows made before counting conntrack entries
     * @param rps         small requests per second, median of the rounds
     * @param p50Ms       latency of small requests, median over all rounds' requests
     * @param p99Ms       99th percentile of the same
     * @param mbPerSecond throughput of large responses, median
     * @param rpsVsDirect {@code rps} relative to the direct column's
     * @param mbpsVsDirect {@code mbPerSecond} relative to the direct column's
     * @param rpsVsRouted {@code rps} relative to the {@link #ROUTED} column's (the same hops as DSR, no lbmode)
     * @param vipArp      which node answered ARP for the VIP while this column was measured ("" for the direct path
     *                    and where the VIP is routed statically)
     */
    public record Column(String name, String podSaw, long lbBytes, int conntrack, int flows, double rps, double p50Ms,
                         double p99Ms, double mbPerSecond, double rpsVsDirect, double mbpsVsDirect, double rpsVsRouted,
                         String vipArp) {
    }

    /**
     * The demo's result: columns (direct first), where each mode's Cluster came from, and what drove the agents
     * ({@link Setting#description()}).
     */
    public record Result(Settings settings, List<Column> columns, List<String> clusterSources, String setting) {
        public Column column(String name) {
            return columns.stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
        }
    }

    /** A Cluster document for a mode and where it came from (a file or "built in"). */
    public record ClusterDoc(String yaml, String source) {
    }

    /**
     * How the demo brings the agents to a mode: the standalone agents of {@link #standalone} (YAML in their state
     * dirs, the VIP routed to the LB node), or the real control plane ({@link KubeDemo}: the Cluster applied with
     * kubectl, MetalLB answering ARP).
     */
    public interface Setting {
        /** Brings every agent to {@code mode} with {@code cluster} and waits until each one programs it. */
        void switchTo(ForwardMode mode, ClusterDoc cluster) throws Exception;

        /** Which node answered ARP for the VIP, for the table ("" where the VIP is routed statically). */
        default String vipArpAnswer() throws Exception {
            return "";
        }

        /** What drives the agents, for the footnote. */
        String description();
    }

    /** The standalone setting: Cluster, Nodes and Service as files in each node's state dir; agents restarted per mode. */
    public static Setting standalone(Lab lab) {
        return new Setting() {
            @Override
            public void switchTo(ForwardMode mode, ClusterDoc cluster) throws Exception {
                LabMeasure.switchMode(lab, cluster.yaml(), mode, Duration.ofSeconds(60));
            }

            @Override
            public String description() {
                return "standalone agents reading YAML files, VIP routed to the LB node";
            }
        };
    }

    /**
     * Measures the direct path and each of {@code modes} in a lab that has pods and Service {@code web} at
     * {@code vip}; starts (or restarts) the agents with each mode's Cluster.
     */
    public static Result run(Lab lab, String vip, List<ForwardMode> modes, Function<ForwardMode, ClusterDoc> clusters,
                             Settings settings, PrintStream progress) throws Exception {
        return run(lab, standalone(lab), vip, modes, clusters, settings, progress);
    }

    /** {@link #run(Lab, String, List, Function, Settings, PrintStream)} with the agents driven by {@code setting}. */
    public static Result run(Lab lab, Setting setting, String vip, List<ForwardMode> modes,
                             Function<ForwardMode, ClusterDoc> clusters, Settings settings, PrintStream progress) throws Exception {
        LabMeasure.allowManyConnections(lab);
        List<String> arp = new ArrayList<>();
        List<String> sources = new ArrayList<>();
        List<Probe> directProbes = new ArrayList<>();
        List<Perf> directPerf = new ArrayList<>();
        List<Probe> routedProbes = new ArrayList<>();
        List<Perf> routedPerf = new ArrayList<>();
        List<String> modeNames = new ArrayList<>();
        List<Probe> modeProbes = new ArrayList<>();
        List<List<Perf>> modePerf = new ArrayList<>();
        for (ForwardMode mode : modes) {
            ClusterDoc cluster = clusters.apply(mode);
            sources.add(mode.wireName().toUpperCase(Locale.ROOT) + ": " + cluster.source());
            progress.printf("%s: agents on %s with Cluster %s...%n", mode.wireName().toUpperCase(Locale.ROOT),
                    String.join(", ", Lab.NODES), cluster.source());
            setting.switchTo(mode, cluster);
            // warm-up, not measured: this JVM's client code (JIT) and the freshly started agents settle first
            LabMeasure.requests(lab, vip, 80, settings.window());
            LabMeasure.requests(lab, "", SERVICE_PODS, Lab.POD_PORT, settings.window());
            LabMeasure.requests(lab, Lab.CLIENT_VIA_LB_IP, SERVICE_PODS, Lab.POD_PORT, settings.window());
            LabMeasure.download(lab, vip, 80, settings.throughputBytes(), 0);
            progress.printf("%s: measuring (%d rounds each, direct path interleaved)...%n",
                    mode.wireName().toUpperCase(Locale.ROOT), settings.rounds());
            directProbes.add(probe(lab, "", DIRECT_POD, Lab.POD_PORT, settings));
            routedProbes.add(probe(lab, Lab.CLIENT_VIA_LB_IP, DIRECT_POD, Lab.POD_PORT, settings));
            Probe viaVip = probe(lab, "", vip, 80, settings);
            List<Perf> perf = new ArrayList<>();
            for (int r = 0; r < settings.rounds(); r++) {
                Perf direct = perf(lab, "", SERVICE_PODS, DIRECT_POD, Lab.POD_PORT, settings);
                Perf routed = perf(lab, Lab.CLIENT_VIA_LB_IP, SERVICE_PODS, DIRECT_POD, Lab.POD_PORT, settings);
                Perf mine = perf(lab, "", List.of(vip), vip, 80, settings);
                directPerf.add(direct);
                routedPerf.add(routed);
                perf.add(mine);
                progress.printf(Locale.ROOT, "  round %d: requests/s direct %,.0f, %s %,.0f, %s %,.0f%n", r + 1,
                        direct.requests().perSecond(), ROUTED, routed.requests().perSecond(),
                        mode.wireName().toUpperCase(Locale.ROOT), mine.requests().perSecond());
            }
            modeNames.add(mode.wireName().toUpperCase(Locale.ROOT));
            modeProbes.add(viaVip);
            modePerf.add(perf);
            arp.add(setting.vipArpAnswer());
        }
        List<Column> columns = new ArrayList<>();
        columns.add(column("direct", directProbes, directPerf, directPerf, routedPerf, ""));
        columns.add(column(ROUTED, routedProbes, routedPerf, directPerf, routedPerf, ""));
        for (int i = 0; i < modeNames.size(); i++) {
            columns.add(column(modeNames.get(i), List.of(modeProbes.get(i)), modePerf.get(i), directPerf, routedPerf, arp.get(i)));
        }
        return new Result(settings, columns, sources, setting.description());
    }

    /** Address seen, LB bytes per probe download, conntrack entries after {@code flows} flows. */
    private record Probe(String podSaw, List<Long> lbBytes, int conntrack, int flows) {
    }

    private record Perf(LabMeasure.Requests requests, double mbPerSecond) {
    }

    private static Probe probe(Lab lab, String from, String ip, int port, Settings s) throws Exception {
        LabMeasure.flushConntrack(lab, Lab.LB);
        String answer;
        try (java.net.Socket sock = lab.connect(Lab.CLIENT, from, ip, port, Duration.ofSeconds(3))) {
            answer = Lab.request(sock, "/", true).strip();
        }
        String saw = answer.replaceAll(".*client=([0-9.]+):.*", "$1");
        List<Long> bytes = new ArrayList<>();
        for (int r = 0; r < s.rounds(); r++) {
            bytes.add(LabMeasure.download(lab, from, ip, port, s.probeBytes(), 1024).lbBytes());
        }
        int entries = LabMeasure.conntrackEntries(lab, Lab.LB, from.isEmpty() ? Lab.CLIENT_IP : from);
        return new Probe(saw, bytes, entries, 1 + s.rounds());
    }

    /** Small requests to each of {@code targets} in turn, then one large download from {@code ip}. */
    private static Perf perf(Lab lab, String from, List<String> targets, String ip, int port, Settings s) throws Exception {
        LabMeasure.Requests req = LabMeasure.requests(lab, from, targets, port, s.window());
        double mbps = LabMeasure.download(lab, from, ip, port, s.throughputBytes(), 0).megabytesPerSecond();
        return new Perf(req, mbps);
    }

    private static Column column(String name, List<Probe> probes, List<Perf> perf, List<Perf> direct, List<Perf> routed,
                                 String vipArp) {
        List<String> saw = probes.stream().map(Probe::podSaw).distinct().toList();
        double lb = LabMeasure.median(probes.stream().flatMap(p -> p.lbBytes().stream()).mapToDouble(Long::doubleValue).toArray());
        int conntrack = probes.stream().mapToInt(Probe::conntrack).max().orElse(0);
        int flows = probes.getFirst().flows();
        double rps = LabMeasure.median(perf.stream().mapToDouble(p -> p.requests().perSecond()).toArray());
        double[] all = perf.stream().flatMapToDouble(p -> java.util.Arrays.stream(p.requests().latenciesMs())).sorted().toArray();
        LabMeasure.Requests pooled = new LabMeasure.Requests(all.length, 1, all);
        double mbps = LabMeasure.median(perf.stream().mapToDouble(Perf::mbPerSecond).toArray());
        double directRps = LabMeasure.median(direct.stream().mapToDouble(p -> p.requests().perSecond()).toArray());
        double directMbps = LabMeasure.median(direct.stream().mapToDouble(Perf::mbPerSecond).toArray());
        double routedRps = LabMeasure.median(routed.stream().mapToDouble(p -> p.requests().perSecond()).toArray());
        return new Column(name, String.join(" / ", saw), Math.round(lb), conntrack, flows, rps,
                pooled.percentileMs(50), pooled.percentileMs(99), mbps, rps / directRps, mbps / directMbps, rps / routedRps, vipArp);
    }

    // ---- rendering ----

    /** Who an address is in the lab. */
    static String whoIs(String ip) {
        if (ip.equals(Lab.CLIENT_IP) || ip.equals(Lab.CLIENT_VIA_LB_IP)) {
            return "the client";
        }
        for (var e : Lab.NODE_IPS.entrySet()) {
            if (e.getValue().equals(ip)) {
                return e.getKey().equals(Lab.LB) ? "the LB node" : "node " + e.getKey();
            }
        }
        return "?";
    }

    /** Label of the row naming the node that answered ARP for the VIP (the demo on the real control plane). */
    public static final String ARP_ROW = "VIP answered by ARP from";

    /** Rows of the table: label, then one cell per column. */
    public static List<List<String>> rows(Result r) {
        List<List<String>> rows = new ArrayList<>();
        rows.add(row("", r, Column::name));
        if (r.columns().stream().anyMatch(c -> !c.vipArp().isEmpty())) {
            rows.add(row(ARP_ROW, r, c -> c.vipArp().isEmpty() ? "-" : c.vipArp()));
        }
        rows.add(row("address the pod saw", r, c -> c.podSaw() + " (" + whoIs(c.podSaw()) + ")"));
        rows.add(row("LB node bytes, 1 KB request + " + mb(r.settings().probeBytes()) + " response", r,
                c -> String.format(Locale.ROOT, "%,d", c.lbBytes())));
        rows.add(row("LB node bytes vs response size", r,
                c -> String.format(Locale.ROOT, "%.2f%%", 100.0 * c.lbBytes() / r.settings().probeBytes())));
        rows.add(row("LB node conntrack entries", r, c -> c.conntrack() + " for " + c.flows() + " flows"));
        rows.add(row("small requests/s (new connection each)", r, c -> String.format(Locale.ROOT, "%,.0f", c.rps())));
        rows.add(row("latency p50 / p99", r, c -> String.format(Locale.ROOT, "%.2f / %.2f ms", c.p50Ms(), c.p99Ms())));
        rows.add(row("throughput, " + mb(r.settings().throughputBytes()) + " responses", r,
                c -> String.format(Locale.ROOT, "%,.0f MB/s", c.mbPerSecond())));
        rows.add(row("requests/s vs direct", r, c -> String.format(Locale.ROOT, "%.2fx", c.rpsVsDirect())));
        rows.add(row("throughput vs direct", r, c -> String.format(Locale.ROOT, "%.2fx", c.mbpsVsDirect())));
        if (r.columns().stream().anyMatch(c -> c.name().equals(ROUTED))) {
            rows.add(row("requests/s vs " + ROUTED, r, c -> String.format(Locale.ROOT, "%.2fx", c.rpsVsRouted())));
        }
        return rows;
    }

    private static String mb(long bytes) {
        return bytes % 1_000_000 == 0 ? bytes / 1_000_000 + " MB" : String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    private static List<String> row(String label, Result r, Function<Column, String> cell) {
        List<String> row = new ArrayList<>();
        row.add(label);
        r.columns().forEach(c -> row.add(cell.apply(c)));
        return row;
    }

    private static String footnote(Result r) {
        return String.format(Locale.ROOT, "medians of %d round(s); small requests: %d ms bursts of GET / on fresh connections; "
                        + "direct = client to the Service's pods %s port %d in turn (downloads: %s), not through the LB node; "
                        + ROUTED + " = client (%s) to the same pods through the LB node as a plain IP router, replies direct "
                        + "(the hops DSR takes); "
                        + "their rounds interleaved with each mode's; "
                        + "Cluster from %s; %s",
                r.settings().rounds(), r.settings().window().toMillis(), String.join(", ", SERVICE_PODS), Lab.POD_PORT,
                DIRECT_POD, Lab.CLIENT_VIA_LB_IP,
                String.join(", ", r.clusterSources()), r.setting());
    }

    static String title(Result r) {
        List<String> names = r.columns().stream().map(c -> c.name().equals("direct") ? "direct path" : c.name()).toList();
        String head = String.join(", ", names.subList(0, Math.max(1, names.size() - 1)));
        return "lbmode lab demo: " + head + (names.size() > 1 ? " and " + names.getLast() : "");
    }

    /** The table as aligned text. */
    public static String text(Result r) {
        List<List<String>> rows = rows(r);
        int[] width = new int[rows.getFirst().size()];
        for (List<String> row : rows) {
            for (int i = 0; i < row.size(); i++) {
                width[i] = Math.max(width[i], row.get(i).length());
            }
        }
        StringBuilder s = new StringBuilder();
        for (int n = 0; n < rows.size(); n++) {
            List<String> row = rows.get(n);
            for (int i = 0; i < row.size(); i++) {
                s.append(i == 0 ? "" : "  ").append(i == 0 ? pad(row.get(i), width[i]) : padLeft(row.get(i), width[i]));
            }
            s.append('\n');
            if (n == 0) {
                int total = 0;
                for (int w : width) {
                    total += w + 2;
                }
                s.append("-".repeat(total - 2)).append('\n');
            }
        }
        s.append("(").append(footnote(r)).append(")\n");
        return s.toString();
    }

    private static String pad(String s, int w) {
        return s + " ".repeat(w - s.length());
    }

    private static String padLeft(String s, int w) {
        return " ".repeat(w - s.length()) + s;
    }

    /** The table as Markdown. */
    public static String markdown(Result r) {
        List<List<String>> rows = rows(r);
        StringBuilder s = new StringBuilder("# " + title(r) + "\n\n");
        s.append("| ").append("measure").append(rows.getFirst().subList(1, rows.getFirst().size())
                .stream().map(c -> " | " + c).reduce("", String::concat)).append(" |\n");
        s.append("|---").append("|--:".repeat(rows.getFirst().size() - 1)).append("|\n");
        for (List<String> row : rows.subList(1, rows.size())) {
            s.append("| ").append(String.join(" | ", row)).append(" |\n");
        }
        s.append("\n").append(footnote(r)).append(".\n\n![chart](demo.png)\n");
        return s.toString();
    }

    private static final Color[] COLORS = {new Color(0x80, 0x80, 0x80), new Color(0xb0, 0xb0, 0xb0), new Color(0xd9, 0x5f, 0x02), new Color(0x1b, 0x9e, 0x77),
            new Color(0x75, 0x70, 0xb3)};

    /** The chart: LB node bytes per column (log scale, labelled), and requests/s and throughput relative to direct. */
    public static BufferedImage chart(Result r) {
        int w = 1000;
        int h = 460;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
            g.drawString(title(r), 20, 28);
            List<Column> cols = r.columns();
            // left panel: LB node bytes, log scale
            int top = 80;
            int bottom = h - 60;
            double maxLog = Math.ceil(Math.log10(Math.max(10, cols.stream().mapToLong(Column::lbBytes).max().orElse(10))));
            Panel left = new Panel(60, top, 400, bottom);
            left.title(g, "LB node bytes, 1 KB request + " + mb(r.settings().probeBytes()) + " response (log scale)");
            for (int e = 0; e <= maxLog; e++) {
                int y = left.y(e / maxLog);
                left.grid(g, y, e == 0 ? "1" : "1e" + e);
            }
            for (int i = 0; i < cols.size(); i++) {
                long v = cols.get(i).lbBytes();
                double frac = v <= 1 ? 0 : Math.log10(v) / maxLog;
                left.bar(g, i, cols.size(), 1, 0, frac, COLORS[i % COLORS.length], String.format(Locale.ROOT, "%,d", v), cols.get(i).name());
            }
            // right panel: relative to direct
            double maxRel = 1.2;
            for (Column c : cols) {
                maxRel = Math.max(maxRel, Math.max(c.rpsVsDirect(), c.mbpsVsDirect()) * 1.1);
            }
            Panel right = new Panel(560, top, 400, bottom);
            right.title(g, "relative to the direct path (1.0 = direct)");
            for (double t = 0; t <= maxRel + 1e-9; t += 0.25) {
                right.grid(g, right.y(t / maxRel), String.format(Locale.ROOT, "%.2f", t));
            }
            for (int i = 0; i < cols.size(); i++) {
                Column c = cols.get(i);
                double rps = c.rpsVsDirect();
                double tp = c.mbpsVsDirect();
                right.bar(g, i, cols.size(), 2, 0, rps / maxRel, COLORS[i % COLORS.length],
                        String.format(Locale.ROOT, "%.2f", rps), null);
                right.bar(g, i, cols.size(), 2, 1, tp / maxRel, COLORS[i % COLORS.length].darker(),
                        String.format(Locale.ROOT, "%.2f", tp), null);
                right.label(g, i, cols.size(), c.name());
            }
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            g.setColor(Color.DARK_GRAY);
            g.drawString("left bar: requests/s (small requests, a new connection each)", 560, h - 28);
            g.drawString("right bar: throughput (" + mb(r.settings().throughputBytes()) + " responses)", 560, h - 14);
            g.drawString("medians of " + r.settings().rounds() + " round(s)", 60, h - 14);
        } finally {
            g.dispose();
        }
        return img;
    }

    /** A bar panel between x0..x0+width and top..bottom. */
    private record Panel(int x0, int top, int width, int bottom) {
        int y(double frac) {
            return (int) Math.round(bottom - Math.clamp(frac, 0, 1) * (bottom - top));
        }

        void title(Graphics2D g, String text) {
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
            g.drawString(text, x0 - 40, top - 30);
        }

        void grid(Graphics2D g, int y, String label) {
            g.setColor(new Color(0xe0, 0xe0, 0xe0));
            g.setStroke(new BasicStroke(1));
            g.drawLine(x0, y, x0 + width, y);
            g.setColor(Color.GRAY);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
            g.drawString(label, x0 - 6 - g.getFontMetrics().stringWidth(label), y + 4);
        }

        void bar(Graphics2D g, int group, int groups, int perGroup, int index, double frac, Color color, String value, String name) {
            int slot = width / groups;
            int bw = (int) (slot * 0.6 / perGroup);
            int x = x0 + group * slot + (slot - bw * perGroup) / 2 + index * bw;
            int y = y(frac);
            g.setColor(color);
            g.fillRect(x + 2, y, bw - 4, bottom - y);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            g.drawString(value, x + bw / 2 - g.getFontMetrics().stringWidth(value) / 2, y - 4);
            if (name != null) {
                label(g, group, groups, name);
            }
        }

        void label(Graphics2D g, int group, int groups, String name) {
            int slot = width / groups;
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
            g.drawString(name, x0 + group * slot + slot / 2 - g.getFontMetrics().stringWidth(name) / 2, bottom + 18);
            g.setColor(Color.BLACK);
            g.drawLine(x0, bottom, x0 + width, bottom);
        }
    }

    /** Writes {@code demo.md}, {@code demo.png} and {@code demo.txt} into {@code dir}; returns their paths. */
    public static List<Path> write(Result r, Path dir) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Files.createDirectories(dir);
        Path md = dir.resolve("demo.md");
        Path png = dir.resolve("demo.png");
        Path txt = dir.resolve("demo.txt");
        Files.writeString(md, markdown(r));
        Files.writeString(txt, text(r));
        if (!javax.imageio.ImageIO.write(chart(r), "png", png.toFile())) {
            throw new IOException("no PNG writer");
        }
        return List.of(md, png, txt);
    }
}
