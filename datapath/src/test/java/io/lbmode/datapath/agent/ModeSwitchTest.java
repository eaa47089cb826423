package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.nft.FakeNftRunner;
import io.lbmode.datapath.nft.SnatProgrammer;
import io.lbmode.datapath.program.Applied;
import io.lbmode.datapath.program.ModeProgrammer;
import io.lbmode.datapath.program.ProgrammingException;
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

/**
 * The agent programs the effective mode and leaves nothing of the other mode behind; a mode change programs the new
 * mode before it removes the old one, and a new mode that fails leaves the old one programmed (fake kernel for SNAT,
 * a recording stand-in for DSR).
 */
@Tag("unit")
class ModeSwitchTest {
    @TempDir
    Path dir;
    final FakeNftRunner nft = new FakeNftRunner();
    /** Every kernel-changing call of either mode, in order: "snat apply", "dsr cleanup", ... */
    final List<String> calls = new ArrayList<>();
    /** While positive, DSR applies fail (one less each time). */
    int dsrFailures;

    /** Stands in for the DSR programmer: records what the agent asks of it. */
    final class RecordingDsr implements ModeProgrammer {
        @Override
        public ForwardMode mode() {
            return ForwardMode.DSR;
        }

        @Override
        public Applied apply(NodeState desired) {
            if (dsrFailures > 0) {
                dsrFailures--;
                calls.add("dsr apply failed");
                throw new ProgrammingException("DSR programs for node lb: loading the DSR programs failed: Operation not permitted");
            }
            calls.add("dsr apply " + desired.services().size());
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
            calls.add("dsr cleanup");
        }

        @Override
        public Map<String, Long> dropCounters() {
            return Map.of("fragNeeded", 3L);
        }
    }

    /** The real SNAT programmer on the fake kernel, its applies and cleanups recorded in {@link #calls}. */
    ModeProgrammer snat() {
        SnatProgrammer real = new SnatProgrammer(nft);
        return new ModeProgrammer() {
            @Override
            public ForwardMode mode() {
                return ForwardMode.SNAT;
            }

            @Override
            public Applied apply(NodeState desired) {
                calls.add("snat apply");
                return real.apply(desired);
            }

            @Override
            public String render(NodeState desired) {
                return real.render(desired);
            }

            @Override
            public boolean drifted() {
                return real.drifted();
            }

            @Override
            public void repair() {
                real.repair();
            }

            @Override
            public void cleanup() {
                calls.add("snat cleanup");
                real.cleanup();
            }

            @Override
            public Map<String, Long> dropCounters() {
                return Map.of();
            }
        };
    }

    Agent agent() throws Exception {
        AgentOptions o = AgentOptions.parse(new String[]{"--node", "lb", "--state-dir", dir.toString()}, Map.of());
        Programmers programmers = mode -> mode == ForwardMode.SNAT ? snat() : new RecordingDsr();
        return new Agent(o, programmers, new FileStatusSink(dir, "lb"), Clock.systemUTC());
    }

    void write(ForwardMode mode, String... pods) throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(mode) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                java.util.Arrays.stream(pods.length == 0 ? new String[]{"w1p1"} : pods).map(LabObjects.Ep::ready).toList()));
    }

    String status() throws Exception {
        return Files.readString(dir.resolve(".status/nodedataplane-lb.yaml"));
    }

    @Test
    void snatFirstCleansDsrThenASwitchToDsrRemovesTheSnatTable() throws Exception {
        Agent agent = agent();
        StateDirSource source = new StateDirSource(dir);
        write(ForwardMode.SNAT);
        assertThat(agent.sync(source.read()).error()).isEmpty();
        assertThat(nft.hasTable("ip", "lbmode")).isTrue();
        assertThat(calls).containsExactly("snat apply", "dsr cleanup");

        write(ForwardMode.DSR);
        assertThat(agent.sync(source.read()).error()).isEmpty();
        assertThat(nft.hasTable("ip", "lbmode")).as("SNAT state removed when the mode changed").isFalse();
        assertThat(status()).contains("mode: dsr", "fragNeeded: 3");
    }

    /** The order of a switch: the new mode is programmed first, the old removed after (never a node without rules). */
    @Test
    void aModeChangeProgramsTheNewModeBeforeRemovingTheOld() throws Exception {
        Agent agent = agent();
        StateDirSource source = new StateDirSource(dir);
        write(ForwardMode.SNAT);
        assertThat(agent.sync(source.read()).error()).isEmpty();
        calls.clear();

        write(ForwardMode.DSR);
        assertThat(agent.sync(source.read()).error()).isEmpty();
        assertThat(calls).containsExactly("dsr apply 2", "snat cleanup");

        calls.clear();
        write(ForwardMode.SNAT);
        assertThat(agent.sync(source.read()).error()).isEmpty();
        assertThat(calls).containsExactly("snat apply", "dsr cleanup");
        assertThat(status()).contains("mode: snat", "status: \"True\"", "reason: Programmed").doesNotContain("lastError");
    }

    /**
     * A new mode that fails: the old mode's rules stay and follow the Services, the status says so (mode snat,
     * lastError, Programmed=False ModeChangeFailed), and the next sync that programs the new mode removes the old.
     */
    @Test
    void aNewModeThatFailsLeavesTheOldProgrammedAndReportsIt() throws Exception {
        Agent agent = agent();
        StateDirSource source = new StateDirSource(dir);
        write(ForwardMode.SNAT);
        assertThat(agent.sync(source.read()).error()).isEmpty();
        calls.clear();

        dsrFailures = 2;
        write(ForwardMode.DSR);
        var failed = agent.sync(source.read());
        assertThat(failed.error()).hasValueSatisfying(e -> assertThat(e)
                .startsWith("forward mode dsr could not be programmed, snat stays programmed: ").contains("Operation not permitted"));
        assertThat(calls).as("the failed DSR attempt is cleaned up, SNAT kept").containsExactly("dsr apply failed", "dsr cleanup", "snat apply");
        assertThat(nft.elements("ip", "lbmode", "backends")).containsValue("10.244.1.2 . 8080");
        assertThat(agent.failing()).isTrue();
        assertThat(status()).contains("mode: snat", "lastError: ", "could not be programmed", "type: Programmed",
                "status: \"False\"", "reason: ModeChangeFailed");

        // Still failing: an endpoint change reaches the SNAT rules that still forward.
        write(ForwardMode.DSR, "w2p1");
        assertThat(agent.sync(source.read()).error()).isPresent();
        assertThat(nft.elements("ip", "lbmode", "backends")).containsValue("10.244.2.2 . 8080").doesNotContainValue("10.244.1.2 . 8080");

        calls.clear();
        assertThat(agent.sync(source.read()).error()).isEmpty();
        assertThat(calls).containsExactly("dsr apply 2", "snat cleanup");
        assertThat(nft.hasTable("ip", "lbmode")).isFalse();
        assertThat(agent.failing()).isFalse();
        assertThat(status()).contains("mode: dsr", "status: \"True\"").doesNotContain("lastError");
    }
}
