package io.lbmode.lab;

import io.lbmode.crds.cluster.v1.ForwardMode;
import java.time.Duration;
import java.util.List;

/**
 * {@code ./lbmode lab up|down|demo [--mode snat|dsr] [--name PREFIX]} (root):
 * <ul>
 *   <li>{@code up}: builds the lab, writes a Cluster, the Nodes and Service {@code web} (VIP 172.16.20.16, TCP 80 and
 *       UDP 53, three pods), starts the pods and an agent per node, and leaves them running.</li>
 *   <li>{@code down}: stops them and removes the lab.</li>
 *   <li>{@code demo}: up, one request through the VIP, a 10 MB download with the LB node's byte counts, down.</li>
 * </ul>
 * Exit codes: 0 ok, 1 failed, 2 usage.
 */
public final class LabMain {
    static final String VIP = "172.16.20.16";

    private LabMain() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length == 0 || !List.of("up", "down", "demo").contains(args[0])) {
            System.err.println("usage: lbmode lab up|down|demo [--mode snat|dsr] [--name PREFIX]   (needs root)");
            return 2;
        }
        ForwardMode mode = ForwardMode.SNAT;
        String name = "lbmode";
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            String v = a.contains("=") ? a.substring(a.indexOf('=') + 1) : (i + 1 < args.length ? args[i + 1] : "");
            if (!a.contains("=") && (a.equals("--mode") || a.equals("--name"))) {
                i++;
            }
            if (a.startsWith("--mode")) {
                switch (v) {
                    case "snat" -> mode = ForwardMode.SNAT;
                    case "dsr" -> mode = ForwardMode.DSR;
                    default -> {
                        System.err.println("lbmode lab: --mode must be snat or dsr, not '" + v + "'");
                        return 2;
                    }
                }
            } else if (a.startsWith("--name")) {
                name = v;
            } else {
                System.err.println("lbmode lab: unknown argument '" + a + "'");
                return 2;
            }
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            System.err.println("lbmode lab: needs root (network namespaces, nftables): run it with sudo");
            return 1;
        }
        try {
            return switch (args[0]) {
                case "down" -> {
                    Lab.teardown(name);
                    System.out.println("lab " + name + " removed");
                    yield 0;
                }
                case "up" -> {
                    Lab lab = up(new LabSpec(name, true), mode);
                    System.out.println("""
                            lab %1$s is up (%2$s). Try:
                              ip netns exec %1$s-client curl -s http://%3$s/          # answered by a pod, which prints the client it saw
                              ip netns exec %1$s-lb nft list table ip lbmode          # the SNAT rules
                              cat %4$s/lb/.status/nodedataplane-lb.yaml               # the agent's status
                              edit the YAML in %4$s/<node>/ and watch the agents follow; logs in %5$s
                            remove it with: ./lbmode lab down%6$s
                            """.formatted(name, mode.wireName(), VIP, lab.stateDir("x").getParent(), lab.logDir(),
                            name.equals("lbmode") ? "" : " --name " + name));
                    yield 0; // processes keep running after this JVM exits; 'down' stops them
                }
                default -> demo(mode);
            };
        } catch (Exception e) {
            System.err.println("lbmode lab: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            return 1;
        }
    }

    /** Builds the lab with one Service and running agents; waits until every agent programmed it. */
    static Lab up(LabSpec spec, ForwardMode mode) throws Exception {
        Lab lab = Lab.start(spec);
        lab.writeObjects("cluster.yaml", LabObjects.cluster(mode) + LabObjects.nodes());
        lab.writeObjects("web.yaml", LabObjects.service("web", VIP, false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.ready("w2p1"), LabObjects.Ep.ready("w2p2"))));
        for (String node : Lab.NODES) {
            lab.startAgent(node);
        }
        lab.awaitPods();
        for (String node : Lab.NODES) {
            try {
                lab.awaitStatus(node, Duration.ofSeconds(40),
                        s -> s.getStatus() != null && s.getStatus().lastSyncTime != null || s.getStatus() != null && s.getStatus().lastError != null);
            } catch (AssertionError e) {
                throw new IllegalStateException("agent on " + node + " did not report: " + e.getMessage());
            }
            var st = lab.status(node).orElseThrow().getStatus();
            if (st.lastError != null) {
                throw new IllegalStateException("agent on " + node + ": " + st.lastError);
            }
        }
        return lab;
    }

    private static int demo(ForwardMode mode) throws Exception {
        try (Lab lab = up(LabSpec.unique(), mode)) {
            System.out.println("lab up, mode " + mode.wireName() + "; client " + Lab.CLIENT_IP + " -> VIP " + VIP + ":80");
            String answer = lab.httpGet(Lab.CLIENT, VIP, 80, "/").strip();
            System.out.println("HTTP answer:  " + answer);
            String udp = lab.udp(Lab.CLIENT, VIP, 53, "hello", Duration.ofSeconds(3)).strip();
            System.out.println("UDP answer:   " + udp);
            String seen = answer.replaceAll(".*client=([0-9.]+):.*", "$1");
            System.out.println("the pod saw the client as " + seen + (seen.equals(Lab.CLIENT_IP) ? " (the real client: DSR keeps it)"
                    : seen.equals(Lab.NODE_IPS.get(Lab.LB)) ? " (the LB node: SNAT)" : ""));
            long[] before = lab.interfaceBytes(Lab.LB, "eth0");
            long size = 10_000_000;
            lab.httpGet(Lab.CLIENT, VIP, 80, "/bytes/" + size);
            long[] after = lab.interfaceBytes(Lab.LB, "eth0");
            System.out.printf("10 MB download through the VIP: LB node eth0 received %,d bytes and sent %,d bytes%n",
                    after[0] - before[0], after[1] - before[1]);
            return 0;
        }
    }
}
