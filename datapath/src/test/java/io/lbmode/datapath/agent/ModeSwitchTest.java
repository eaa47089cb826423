package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.nft.FakeNftRunner;
import io.lbmode.datapath.nft.SnatProgrammer;
import io.lbmode.datapath.program.Applied;
import io.lbmode.datapath.program.ModeProgrammer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent programs the effective mode and leaves nothing of the other mode behind (fake kernel, recording DSR). */
@Tag("unit")
class ModeSwitchTest {
    @TempDir
    Path dir;
    final FakeNftRunner nft = new FakeNftRunner();
    final List<String> dsrCalls = new ArrayList<>();

    /** Stands in for the DSR programmer: records what the agent asks of it. */
    final class RecordingDsr implements ModeProgrammer {
        @Override
        public ForwardMode mode() {
            return ForwardMode.DSR;
        }

        @Override
        public Applied apply(NodeState desired) {
            dsrCalls.add("apply " + desired.services().size() + " seed " + desired.hashSeed());
            return new Applied(true, desired.services().size(), Duration.ZERO);
        }

        @Override
        public String render(NodeState desired) {
            return "";
        }

        @Override
        public boolean drifted() {
            return false;
        }

        @Override
        public void repair() {
        }

        @Override
        public void cleanup() {
            dsrCalls.add("cleanup");
        }

        @Override
        public Map<String, Long> dropCounters() {
            return Map.of("fragNeeded", 3L);
        }
    }

    Agent agent() throws Exception {
        AgentOptions o = AgentOptions.parse(new String[]{"--node", "lb", "--state-dir", dir.toString()}, Map.of());
        Programmers programmers = mode -> mode == ForwardMode.SNAT ? new SnatProgrammer(nft) : new RecordingDsr();
        return new Agent(o, programmers, new FileStatusSink(dir, "lb"), Clock.systemUTC());
    }

    void write(ForwardMode mode) throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(mode) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"))));
    }

    @Test
    void snatFirstCleansDsrThenASwitchToDsrRemovesTheSnatTable() throws Exception {
        Agent agent = agent();
        StateDirSource source = new StateDirSource(dir);
        write(ForwardMode.SNAT);
        assertThat(agent.sync(source.read()).error()).isEmpty();
        assertThat(nft.hasTable("ip", "lbmode")).isTrue();
        assertThat(dsrCalls).containsExactly("cleanup");

        write(ForwardMode.DSR);
        assertThat(agent.sync(source.read()).error()).isEmpty();
        assertThat(nft.hasTable("ip", "lbmode")).as("SNAT state removed when the mode changed").isFalse();
        assertThat(dsrCalls).hasSize(2).last().asString().startsWith("apply 2 seed ");
        String status = Files.readString(dir.resolve(".status/nodedataplane-lb.yaml"));
        assertThat(status).contains("mode: dsr", "fragNeeded: 3");
    }
}
