package io.lbmode.lab;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.nft.NftRunner;
import io.lbmode.datapath.nft.NftRunners;
import io.lbmode.datapath.nft.SnatProgrammer;
import io.lbmode.datapath.nft.SnatRuleset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Run by {@link SnatBulkLoadLabTest} inside a scratch network namespace, on the real kernel:
 * <ol>
 *   <li>loads a dual-stack state with every kind of service port into empty tables (the elements go over netlink),
 *       lists both tables;</li>
 *   <li>puts a client into an affinity set, then a second programmer (a restarted agent) loads a state with other
 *       backends: the tables keep their layout, so only the elements are swapped (netlink again); the client must
 *       still be there;</li>
 *   <li>loads each state again as one nft transaction per table, and compares the listings.</li>
 * </ol>
 * Exit code 0 and "equal" when everything matches; what differs otherwise.
 */
public final class SnatBulkLoadCheck {
    private static final Pattern ELEMENTS = Pattern.compile("elements = \\{([^}]*)\\}", Pattern.DOTALL);

    private SnatBulkLoadCheck() {
    }

    public static void main(String[] args) {
        NftRunner nft = NftRunners.system();
        if (args[0].equals("ratio")) {
            ratio(nft, Integer.parseInt(args[1]));
            return;
        }
        if (!nft.tableExists("ip", SnatRuleset.TABLE).equals(java.util.Optional.of(false))) {
            System.out.println("expected no table and a runner that can tell, got " + nft.tableExists("ip", SnatRuleset.TABLE)
                    + " from " + nft.describe());
            System.exit(2);
        }
        int n = Integer.parseInt(args[0]);
        NodeState state = state(n, 0);
        new SnatProgrammer(nft).apply(state);
        String bulk4 = normalized(nft, "ip");
        String bulk6 = normalized(nft, "ip6");

        // A client remembered by an affinity set (port s13: i % 13 == 0, TCP, 1 backend: 10.244.13.1:8000).
        String sticky = "aff-172.16.0.14-tcp-81-10.244.13.1-8000";
        nft.run("add element ip lbmode " + sticky + " { 192.0.2.99 }\n");
        NodeState moved = state(n, 1);
        new SnatProgrammer(nft).apply(moved);
        String stickyAfter = nft.listTable("ip", SnatRuleset.TABLE).orElseThrow();
        nft.run("delete element ip lbmode " + sticky + " { 192.0.2.99 }\n");
        String replaced4 = normalized(nft, "ip");
        String replaced6 = normalized(nft, "ip6");

        nft.run(SnatRuleset.full(SnatRuleset.Family.IPV4, state) + SnatRuleset.full(SnatRuleset.Family.IPV6, state));
        String text4 = normalized(nft, "ip");
        String text6 = normalized(nft, "ip6");
        nft.run(SnatRuleset.full(SnatRuleset.Family.IPV4, moved) + SnatRuleset.full(SnatRuleset.Family.IPV6, moved));
        String movedText4 = normalized(nft, "ip");
        String movedText6 = normalized(nft, "ip6");
        nft.run("add table ip lbmode\ndelete table ip lbmode\nadd table ip6 lbmode\ndelete table ip6 lbmode\n");

        boolean ok = true;
        if (!bulk4.equals(text4) || !bulk6.equals(text6)) {
            System.out.println("the netlink load differs from one nft transaction");
            diff("ip", bulk4, text4);
            diff("ip6", bulk6, text6);
            ok = false;
        }
        if (!replaced4.equals(movedText4) || !replaced6.equals(movedText6)) {
            System.out.println("the restart's element swap differs from one nft transaction");
            diff("ip", replaced4, movedText4);
            diff("ip6", replaced6, movedText6);
            ok = false;
        }
        if (!stickyAfter.contains("192.0.2.99")) {
            System.out.println("the restart dropped the affinity client: the table was replaced, not its elements");
            ok = false;
        }
        if (bulk4.equals(movedText4)) {
            System.out.println("the two states give the same table: the check would prove nothing");
            ok = false;
        }
        if (!ok) {
            System.exit(1);
        }
        System.out.println("equal: " + bulk4.length() + " + " + bulk6.length() + " characters of listing");
    }

    /**
     * Prints {@code ratio R}: the median time of a full load of {@code n} IPv4 service ports with 4 backends as one nft
     * transaction each (script built and parsed: lbmode before the netlink load) over the median time of the agent's
     * full load (netlink), both into a node without the table, 7 rounds interleaved.
     */
    private static void ratio(NftRunner nft, int n) {
        NodeState state = plain(n);
        String clear = "add table ip lbmode\ndelete table ip lbmode\nadd table ip6 lbmode\ndelete table ip6 lbmode\n";
        double[] text = new double[7];
        double[] netlink = new double[7];
        for (int i = 0; i < text.length; i++) {
            nft.run(clear);
            long start = System.nanoTime();
            nft.run(SnatRuleset.full(state));
            text[i] = (System.nanoTime() - start) / 1e6;
            nft.run(clear);
            netlink[i] = new SnatProgrammer(nft).apply(state).took().toNanos() / 1e6;
        }
        nft.run(clear);
        Arrays.sort(text);
        Arrays.sort(netlink);
        System.out.printf(java.util.Locale.ROOT, "one nft transaction %.1f ms, netlink %.1f ms (medians of 7)%nratio %.2f%n",
                text[3], netlink[3], text[3] / netlink[3]);
    }

    private static void diff(String family, String bulk, String text) {
        List<String> b = Arrays.asList(bulk.split("\n"));
        List<String> t = Arrays.asList(text.split("\n"));
        b.stream().filter(l -> !t.contains(l)).limit(20).forEach(l -> System.out.println(family + " netlink only: " + l));
        t.stream().filter(l -> !b.contains(l)).limit(20).forEach(l -> System.out.println(family + " text only:    " + l));
    }

    /** The table's listing with each set's elements sorted, one per line (the kernel lists them in hash order). */
    private static String normalized(NftRunner nft, String family) {
        String listing = nft.listTable(family, SnatRuleset.TABLE).orElseThrow();
        Matcher m = ELEMENTS.matcher(listing);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String[] items = Arrays.stream(m.group(1).split(",")).map(String::strip).sorted().toArray(String[]::new);
            m.appendReplacement(out, Matcher.quoteReplacement("elements = {\n" + String.join("\n", items) + "\n}"));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** {@code n} IPv4 TCP service ports with 4 backends each, as the benchmarks have them. */
    static NodeState plain(int n) {
        List<ServicePort> ports = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<Backend> backends = new ArrayList<>();
            for (int e = 0; e < 4; e++) {
                backends.add(new Backend(Addresses.ipv4("10." + (100 + i / 16000) + "." + (i * 4 + e) / 256 % 256 + "." + (i * 4 + e) % 256),
                        8080, "w", false));
            }
            ports.add(new ServicePort("default", "s" + i, "", Protocol.TCP, Addresses.ipv4("172.16." + (i / 250) + "." + (i % 250 + 1)),
                    80, false, backends));
        }
        return new NodeState(ForwardMode.SNAT, new NodeInfo("bulk", Addresses.ipv4("10.0.0.10")), 1, ports);
    }

    /**
     * {@code n} service ports per family: 1 to 5 backends (pick chains), TCP and UDP, externalTrafficPolicy Local,
     * ports without backends, loadBalancerSourceRanges and ClientIP affinity; {@code generation} moves the backends.
     */
    static NodeState state(int n, int generation) {
        List<ServicePort> ports = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<Backend> v4 = new ArrayList<>();
            List<Backend> v6 = new ArrayList<>();
            for (int e = 0; e < i % 6; e++) {
                // a new generation moves the backends of ports without affinity (affinity objects are layout)
                int g = i % 13 == 0 ? 0 : generation;
                v4.add(new Backend(Addresses.ipv4("10." + (244 + g) + "." + (i % 250) + "." + (e + 1)), 8000 + e, "w", false));
                v6.add(new Backend(Addresses.ip("fd00:" + Integer.toHexString(0x244 + g) + "::" + Integer.toHexString(i) + ":" + (e + 1)),
                        8000 + e, "w", false));
            }
            Protocol protocol = i % 3 == 0 ? Protocol.UDP : Protocol.TCP;
            boolean local = i % 7 == 0;
            ServicePort.Policy policy = i % 11 == 0 ? new ServicePort.Policy(List.of(Cidr.parse("192.0.2.0/24").orElseThrow(),
                    Cidr.parse("198.51.100.7/32").orElseThrow(), Cidr.parse("2001:db8:1::/48").orElseThrow(),
                    Cidr.parse("2001:db8:2::7/128").orElseThrow()), 0)
                    : i % 13 == 0 ? new ServicePort.Policy(List.of(), 600) : ServicePort.Policy.OPEN;
            ports.add(new ServicePort("default", "s" + i, "", protocol, Addresses.ipv4("172.16." + (i / 250) + "." + (i % 250 + 1)),
                    80 + i % 3, local, v4, List.of(), policy));
            ports.add(new ServicePort("default", "s" + i, "", protocol, Addresses.ip("fd00:16::" + Integer.toHexString(i + 1)),
                    80 + i % 3, local, v6, List.of(), policy));
        }
        return new NodeState(ForwardMode.SNAT, new NodeInfo("bulk", Addresses.ipv4("10.0.0.10")), 1, ports);
    }
}
