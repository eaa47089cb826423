package io.lbmode.lab;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.fixtures.LabObjects.Ep;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The agent when the kernel refuses it, with real agents, rules and packets: DSR refused on a node whose bpffs
 * would die with the agent; a mode change whose new mode fails keeps the old one forwarding (and, once the host
 * mounts a bpffs, the retry switches without a failed connection); a drift repair that the kernel refuses is
 * reported and retried until the table is back.
 *
 * <p>The LB node's agent gets {@code --bpffs} on a directory that is no bpffs but a shared bind mount, so that a
 * bpffs the test mounts there later reaches the agent's private mount namespace ({@code ip netns exec}).
 */
@Tag("lab")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AgentFailureLabTest {
    static final String VIP = "172.16.20.16";
    static final String LB_IP = Lab.NODE_IPS.get(Lab.LB);

    Lab lab;
    /** The LB node's --bpffs: no bpffs until the test mounts one. */
    Path late;

    @BeforeAll
    void up() throws Exception {
        LabSupport.requireRoot();
        lab = Lab.start(LabSpec.unique());
        try {
            late = lab.bpffs(Lab.LB).resolveSibling("lb-late");
            Files.createDirectories(late);
            sh("mount", "--bind", late.toString(), late.toString());
            sh("mount", "--make-shared", late.toString());
            writeCluster(ForwardMode.SNAT);
            lab.writeObjects("web.yaml", LabObjects.service("web", VIP, false, LabObjects.webPorts(),
                    List.of(Ep.ready("w1p1"), Ep.ready("w2p1"), Ep.ready("w2p2"))));
            lab.awaitPods();
        } catch (Exception | Error e) {
            down();
            throw e;
        }
    }

    @AfterAll
    void down() {
        if (late != null) {
            try {
                // first (lazily, the agent may still use them): the bpffs when mounted and the bind mount below it;
                // the lab's teardown then removes the plain directory with the rest
                while (run("umount", "-l", late.toString()).exitCode() == 0) {
                    // one more
                }
            } catch (Exception e) {
                System.err.println("could not unmount " + late + ": " + e.getMessage());
            }
        }
        if (lab != null) {
            lab.close();
        }
    }

    void writeCluster(ForwardMode mode) throws Exception {
        lab.writeObjects("cluster.yaml", LabObjects.cluster(mode) + LabObjects.nodes());
    }

    @Test
    @Order(1)
    void dsrRefusesToStartOnABpffsThatWouldDieWithTheAgent() throws Exception {
        Path state = lab.stateDir(Lab.LB).resolveSibling("lb-once");
        Files.createDirectories(state);
        Files.writeString(state.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.DSR) + LabObjects.nodes());
        Files.writeString(state.resolve("web.yaml"), LabObjects.service("web", VIP, false, LabObjects.webPorts(), List.of(Ep.ready("w1p1"))));
        // the default --bpffs, /sys/fs/bpf: ip netns exec gives the agent a fresh /sys without a bpffs
        Lab.ExecResult once = lab.exec(Lab.LB, Lab.javaCommand("io.lbmode.datapath.Main", "--node", Lab.LB, "--state-dir",
                state.toString(), "--interface", "eth0", "--once").toArray(String[]::new));
        assertThat(once.exitCode()).as(once.stderr()).isEqualTo(1);
        assertThat(once.stderr()).contains("--bpffs /sys/fs/bpf is not a mounted bpf file system",
                "established connections survive an agent restart", "mount -t bpf bpf /sys/fs/bpf",
                "the lbmode DaemonSet mounts the host's /sys/fs/bpf").doesNotContain("Exception", "\tat ");
        assertThat(lab.exec(Lab.LB, "tc", "filter", "show", "dev", "eth0", "ingress").stdout()).as("nothing attached").doesNotContain("dsr");
    }

    /**
     * SNAT to DSR while a client opens a new connection to the VIP every 50 ms: the LB node's DSR is refused at first
     * (no bpffs), so it keeps SNAT and says so; the workers program DSR. Then the host mounts a bpffs, the LB node's
     * retry programs DSR and only then removes SNAT. Not one connection fails.
     */
    @Test
    @Order(2)
    void aNewModeThatFailsKeepsTheOldForwardingAndTheRetrySwitchesWithoutAFailedConnection() throws Exception {
        lab.startAgent(Lab.LB, "--bpffs", late.toString());
        lab.startAgent(Lab.W1);
        lab.startAgent(Lab.W2);
        for (String node : Lab.NODES) {
            lab.awaitStatus(node, Duration.ofSeconds(60), s -> programmed(s, "snat"));
        }
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        List<String> failures = Collections.synchronizedList(new ArrayList<>());
        AtomicBoolean stop = new AtomicBoolean();
        // A thread of its own: the common pool (one worker on 2 cores) must stay free for Lab.exec's output readers.
        Thread client = Thread.ofPlatform().name("client-loop").start(() -> {
            while (!stop.get()) {
                try {
                    seen.add(clientSeenBy(lab.httpGet(Lab.CLIENT, VIP, 80, "/")));
                } catch (Exception e) {
                    failures.add(System.currentTimeMillis() + " " + e);
                }
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        try {
            lab.await("the client's first answers", Duration.ofSeconds(10), () -> seen.size() >= 3);
            writeCluster(ForwardMode.DSR);
            for (String node : List.of(Lab.W1, Lab.W2)) {
                lab.awaitStatus(node, Duration.ofSeconds(60), s -> programmed(s, "dsr"));
            }
            NodeDataplane lb = lab.awaitStatus(Lab.LB, Duration.ofSeconds(60), s -> s.getStatus() != null
                    && s.getStatus().lastError != null && s.getStatus().lastError.contains("could not be programmed"));
            assertThat(lb.getStatus().mode).as("the kernel's mode").isEqualTo("snat");
            assertThat(lb.getStatus().lastError).startsWith("forward mode dsr could not be programmed, snat stays programmed: ")
                    .contains("--bpffs " + late + " is not a mounted bpf file system", "mount -t bpf bpf " + late);
            assertThat(condition(lb)).satisfies(c -> {
                assertThat(c.getStatus()).isEqualTo("False");
                assertThat(c.getReason()).isEqualTo("ModeChangeFailed");
            });
            assertThat(exec(Lab.LB, "nft", "list", "table", "ip", "lbmode")).as("SNAT rules stay").contains("backends");
            assertThat(exec(Lab.LB, "tc", "filter", "show", "dev", "eth0", "ingress")).doesNotContain("dsr");
            int before = seen.size();
            lab.await("answers through SNAT while DSR is refused", Duration.ofSeconds(10), () -> seen.size() >= before + 5);
            assertThat(answers(seen, before, 5)).as("SNAT: the pods see the LB node").containsOnly(LB_IP);

            sh("mount", "-t", "bpf", "bpf", late.toString()); // what the error message tells the host to do
            lb = lab.awaitStatus(Lab.LB, Duration.ofSeconds(90), s -> programmed(s, "dsr"));
            assertThat(condition(lb).getReason()).isEqualTo("Programmed");
            assertThat(exec(Lab.LB, "nft", "list", "tables")).as("SNAT removed after DSR was programmed").doesNotContain("lbmode");
            assertThat(exec(Lab.LB, "tc", "filter", "show", "dev", "eth0", "ingress")).contains("dsr_ingress");
            int switched = seen.size();
            lab.await("answers through DSR", Duration.ofSeconds(10), () -> seen.size() >= switched + 5);
            assertThat(answers(seen, switched, 5)).as("DSR: the pods see the client").containsOnly(Lab.CLIENT_IP);
            assertThat(lab.log("agent-" + Lab.LB)).anyMatch(l -> l.contains("retrying in"))
                    .anyMatch(l -> l.contains("forward mode now dsr: dsr programmed, removing snat state"));
        } finally {
            stop.set(true);
            client.join(Duration.ofSeconds(30));
        }
        System.out.printf("new connections across the switch: %d answered, %d failed%n", seen.size(), failures.size());
        assertThat(failures).as("new connections that failed across the mode change").isEmpty();
    }

    /**
     * The SNAT table deleted behind the agent's back and replaced, in one transaction, by an empty {@code lbmode}
     * table that another process owns ({@code flags owner}): the kernel refuses the repair (EPERM) while that process
     * lives. The status says not programmed and why; when the process exits the retry restores the table.
     */
    @Test
    @Order(3)
    void aDriftRepairTheKernelRefusesIsReportedAndRetriedUntilTheTableIsBack() throws Exception {
        writeCluster(ForwardMode.SNAT);
        for (String node : Lab.NODES) {
            lab.awaitStatus(node, Duration.ofSeconds(60), s -> programmed(s, "snat"));
        }
        assertThat(clientSeenBy(lab.httpGet(Lab.CLIENT, VIP, 80, "/"))).isEqualTo(LB_IP);

        Process owner = lab.spawn(Lab.LB, "nft-owner", List.of("nft", "-i"));
        try {
            OutputStream in = owner.getOutputStream();
            in.write("delete table ip lbmode; add table ip lbmode { flags owner; }\n".getBytes(StandardCharsets.US_ASCII));
            in.flush();
            NodeDataplane failed = lab.awaitStatus(Lab.LB, Duration.ofSeconds(30), s -> s.getStatus() != null
                    && s.getStatus().lastError != null && s.getStatus().lastError.contains("restoring them failed"));
            assertThat(failed.getStatus().lastError).startsWith("snat rules were changed by someone else and restoring them failed: ")
                    .contains("Operation not permitted");
            assertThat(condition(failed)).satisfies(c -> {
                assertThat(c.getStatus()).isEqualTo("False");
                assertThat(c.getReason()).isIn("RepairFailed", "SyncFailed"); // a retry may have failed too by now
            });
            assertThat(exec(Lab.LB, "nft", "list", "table", "ip", "lbmode")).as("the owner's empty table").doesNotContain("backends");
            lab.await("at least one retry refused too", Duration.ofSeconds(30),
                    () -> lab.log("agent-" + Lab.LB).stream().filter(l -> l.contains("Operation not permitted")).count() >= 2);
        } finally {
            owner.getOutputStream().close(); // nft -i exits: its table goes with its netlink socket
            owner.waitFor(10, TimeUnit.SECONDS);
        }
        NodeDataplane back = lab.awaitStatus(Lab.LB, Duration.ofSeconds(90), s -> programmed(s, "snat"));
        assertThat(condition(back).getStatus()).isEqualTo("True");
        assertThat(exec(Lab.LB, "nft", "list", "table", "ip", "lbmode")).contains("backends", "10.244.1.2");
        assertThat(clientSeenBy(lab.httpGet(Lab.CLIENT, VIP, 80, "/"))).isEqualTo(LB_IP);
    }

    static boolean programmed(NodeDataplane s, String mode) {
        return s.getStatus() != null && mode.equals(s.getStatus().mode) && s.getStatus().lastError == null
               && s.getStatus().conditions != null && s.getStatus().conditions.stream()
                       .anyMatch(c -> c.getType().equals("Programmed") && c.getStatus().equals("True"));
    }

    static Condition condition(NodeDataplane s) {
        return s.getStatus().conditions.stream().filter(c -> c.getType().equals("Programmed")).findFirst().orElseThrow();
    }

    static String clientSeenBy(String answer) {
        return answer.replaceAll("(?s).*client=([0-9.]+):.*", "$1");
    }

    String exec(String member, String... cmd) throws Exception {
        Lab.ExecResult r = lab.exec(member, cmd);
        assertThat(r.ok()).as(String.join(" ", cmd) + ": " + r.stderr()).isTrue();
        return r.stdout();
    }

    static void sh(String... cmd) throws IOException, InterruptedException {
        Lab.ExecResult r = run(cmd);
        assertThat(r.ok()).as(String.join(" ", cmd) + ": " + r.stderr()).isTrue();
    }

    static Lab.ExecResult run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        return new Lab.ExecResult(p.exitValue(), out, out);
    }

    /**
     * A copy of {@code count} answers from {@code from}, taken under the list's lock: the client thread keeps adding,
     * and a view of the synchronized list read while it grows throws ConcurrentModificationException.
     */
    static List<String> answers(List<String> seen, int from, int count) {
        synchronized (seen) {
            return List.copyOf(seen.subList(from, from + count));
        }
    }
}
