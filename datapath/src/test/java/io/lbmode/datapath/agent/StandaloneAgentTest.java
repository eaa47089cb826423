package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.nft.FakeNftRunner;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent on a state dir with the fake kernel: no root needed. */
@Tag("unit")
class StandaloneAgentTest {
    @TempDir
    Path dir;
    final FakeNftRunner nft = new FakeNftRunner();

    int once(String node) throws Exception {
        AgentOptions o = AgentOptions.parse(new String[]{"--node", node, "--state-dir", dir.toString(), "--once"}, Map.of());
        try (AgentRunner r = new AgentRunner(o, Programmers.snatOnly(nft))) {
            return r.run();
        }
    }

    void objects() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.notReady("w2p1"))));
    }

    String status(String node) throws Exception {
        return Files.readString(dir.resolve(".status/nodedataplane-" + node + ".yaml"));
    }

    @Test
    void onceProgramsAndWritesTheStatusFile() throws Exception {
        objects();
        assertThat(once("lb")).isZero();
        assertThat(nft.elements("ip", "lbmode", "backends")).containsOnly(
                Map.entry("172.16.20.16 . tcp . 80 . 0", "10.244.1.2 . 8080"),
                Map.entry("172.16.20.16 . udp . 53 . 0", "10.244.1.2 . 8080"));
        assertThat(status("lb")).contains("kind: NodeDataplane", "name: lb", "mode: snat", "services: 2", "endpoints: 2",
                "rulesetGeneration: 1", "rulesetHash: ", "clusterName: lab", "lastSyncTime: ").doesNotContain("lastError");
    }

    @Test
    void onceFailsWithAMessageWhenItsNodeIsMissingOrYamlIsBroken() throws Exception {
        objects();
        assertThat(once("nope")).isEqualTo(1);
        assertThat(status("nope")).contains("lastError: ", "no Node object with metadata.name nope");
        assertThat(nft.hasTable("ip", "lbmode")).isFalse();
        Files.writeString(dir.resolve("broken.yaml"), "kind: Service\nmetadata: [\n");
        assertThat(once("lb")).isEqualTo(1);
        assertThat(status("lb")).contains("broken.yaml");
        Files.delete(dir.resolve("broken.yaml"));
        Files.delete(dir.resolve("cluster.yaml"));
        Files.writeString(dir.resolve("nodes.yaml"), LabObjects.nodes());
        assertThat(once("lb")).isEqualTo(1);
        assertThat(status("lb")).contains("no Cluster");
    }

    @Test
    void dryRunPrintsTheRulesetAndTouchesNothing() throws Exception {
        objects();
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true));
        int rc;
        try {
            rc = io.lbmode.datapath.Main.run(new String[]{"--node", "lb", "--state-dir", dir.toString(), "--dry-run"}, Map.of());
        } finally {
            System.setOut(old);
        }
        assertThat(rc).isZero();
        assertThat(out.toString()).contains("add element ip lbmode backends { 172.16.20.16 . tcp . 80 . 0 : 10.244.1.2 . 8080",
                "# status that would be written", "kind: NodeDataplane");
        assertThat(dir.resolve(".status")).doesNotExist();
    }

    @Test
    void commandLineMistakesExitWithTwoAndSayWhatToDo() throws Exception {
        assertThat(io.lbmode.datapath.Main.run(new String[]{"--state-dir", dir.toString()}, Map.of())).isEqualTo(2);
        assertThatThrownBy(() -> AgentOptions.parse(new String[]{"--node", "a"}, Map.of()))
                .hasMessageContaining("--config-namespace").hasMessageContaining("POD_NAMESPACE");
        assertThatThrownBy(() -> AgentOptions.parse(new String[]{"--node", "a", "--once"}, Map.of()))
                .hasMessageContaining("--state-dir");
        assertThatThrownBy(() -> AgentOptions.parse(new String[]{"--node", "a", "--health-port", "x", "--state-dir", "d"}, Map.of()))
                .hasMessageContaining("--health-port");
        assertThatThrownBy(() -> AgentOptions.parse(new String[]{"--node", "a", "--health-port", "\uff19\uff11\uff10\uff12",
                "--state-dir", "d"}, Map.of())).as("fullwidth digits are no port").hasMessageContaining("--health-port");
        AgentOptions env = AgentOptions.parse(new String[]{"--interface=eth1"}, Map.of("NODE_NAME", "n1", "POD_NAMESPACE", "kube-system"));
        assertThat(env.node()).isEqualTo("n1");
        assertThat(env.configNamespace()).isEqualTo("kube-system");
        assertThat(env.interfaceName()).isEqualTo("eth1");
        assertThat(env.healthPort()).isEqualTo(AgentOptions.DEFAULT_HEALTH_PORT);
        assertThat(env.bpffs()).isEqualTo(Path.of("/sys/fs/bpf"));
    }
}
