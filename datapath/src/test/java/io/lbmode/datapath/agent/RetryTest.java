package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.utils.Serialization;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.nft.FakeNftRunner;
import io.lbmode.datapath.nft.NftException;
import io.lbmode.datapath.nft.NftRunner;
import io.lbmode.testsupport.Await;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A failed sync or drift repair leaves the status not programmed and is retried with growing delays until it
 * succeeds (the agent's real loop on a state dir, the fake kernel refusing a number of transactions).
 */
@Tag("unit")
class RetryTest {
    @TempDir
    Path dir;
    final FakeNftRunner kernel = new FakeNftRunner();
    final Refusing nft = new Refusing();
    /** The delays the runner waited before each retry. */
    final List<Duration> delays = Collections.synchronizedList(new ArrayList<>());

    /** The fake kernel, refusing the next {@code failures} transactions; records the status file at every attempt. */
    final class Refusing implements NftRunner {
        volatile int failures;
        final List<String> statusAtAttempt = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void run(String script) {
            statusAtAttempt.add(status());
            if (failures > 0) {
                failures--;
                throw new NftException("Error: Could not process rule: Cannot allocate memory");
            }
            kernel.run(script);
        }

        @Override
        public Optional<String> listTable(String family, String table) {
            return kernel.listTable(family, table);
        }

        @Override
        public Optional<String> listCounter(String family, String table, String counter) {
            return kernel.listCounter(family, table, counter);
        }

        @Override
        public OptionalLong generation() {
            return kernel.generation();
        }

        @Override
        public String describe() {
            return "refusing fake";
        }
    }

    String status() {
        try {
            Path f = dir.resolve(".status/nodedataplane-lb.yaml");
            return Files.exists(f) ? Files.readString(f) : "";
        } catch (IOException e) {
            return "";
        }
    }

    @Test
    void delaysDoubleFromOneSecondUpToAMinuteAndStartOverAfterASuccess() {
        Backoff b = new Backoff(Backoff.FIRST, Backoff.MAX);
        List<Long> seconds = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            seconds.add(b.next().toSeconds());
        }
        assertThat(seconds).containsExactly(1L, 2L, 4L, 8L, 16L, 32L, 60L, 60L, 60L);
        b.reset();
        assertThat(b.next()).isEqualTo(Duration.ofSeconds(1));
        assertThatThrownBy(() -> new Backoff(Duration.ZERO, Duration.ofSeconds(1))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aFailingSyncIsRetriedWithGrowingDelaysAndTheStatusSaysNotProgrammedUntilItSucceeds() throws Exception {
        objects();
        nft.failures = 3;
        try (RunningAgent agent = start()) {
            Await.until("programmed after three refusals", () -> kernel.hasTable("ip", "lbmode") && status().contains("status: \"True\""));
            assertThat(delays).containsExactly(ms(40), ms(80), ms(160));
            // Attempt 1 found no status yet; attempts 2-4 each found the failure before them reported.
            assertThat(nft.statusAtAttempt).hasSizeGreaterThanOrEqualTo(4);
            for (String s : nft.statusAtAttempt.subList(1, 4)) {
                NodeDataplaneStatus st = parse(s);
                assertThat(st.lastError).isEqualTo("SNAT rules for node lb: Error: Could not process rule: Cannot allocate memory");
                assertThat(st.conditions).singleElement().satisfies(c -> {
                    assertThat(c.getType()).isEqualTo("Programmed");
                    assertThat(c.getStatus()).isEqualTo("False");
                    assertThat(c.getReason()).isEqualTo("SyncFailed");
                    assertThat(c.getMessage()).isEqualTo(st.lastError);
                });
                assertThat(st.mode).as("nothing is programmed yet, so no mode is claimed").isNull();
            }
            assertThat(status()).contains("mode: snat", "reason: Programmed").doesNotContain("lastError");
        }
    }

    /**
     * The table deleted behind the agent's back and the repair refused once: the status says not programmed
     * (RepairFailed, lastError) while the kernel lacks the table; the retry replaces it in full; the delays start
     * over from the first after the success before.
     */
    @Test
    void aFailedDriftRepairSetsLastErrorAndIsRetriedUntilTheTableIsBack() throws Exception {
        objects();
        nft.failures = 1;
        try (RunningAgent agent = start()) {
            Await.until("programmed", () -> kernel.hasTable("ip", "lbmode") && status().contains("status: \"True\""));
            assertThat(delays).containsExactly(ms(40));
            delays.clear();
            nft.statusAtAttempt.clear();

            nft.failures = 1;
            kernel.run("delete table ip lbmode");
            Await.until("the table restored by a retry after the failed repair", Duration.ofSeconds(30),
                    () -> kernel.hasTable("ip", "lbmode") && status().contains("status: \"True\""));
            assertThat(delays).as("backoff started over after the earlier success").containsExactly(ms(40));
            assertThat(nft.statusAtAttempt).hasSize(2);
            NodeDataplaneStatus lacking = parse(nft.statusAtAttempt.get(1));
            assertThat(lacking.lastError).as("the status while the kernel lacked the table").isEqualTo("snat rules were changed "
                    + "by someone else and restoring them failed: SNAT rules for node lb: Error: Could not process rule: Cannot allocate memory");
            assertThat(lacking.conditions).singleElement().satisfies(c -> {
                assertThat(c.getStatus()).isEqualTo("False");
                assertThat(c.getReason()).isEqualTo("RepairFailed");
            });
            assertThat(kernel.elements("ip", "lbmode", "backends")).containsValue("10.244.1.2 . 8080");
            assertThat(agent.runner().agent().driftRepairErrors.get()).isEqualTo(1);
        }
    }

    static NodeDataplaneStatus parse(String yaml) {
        return Serialization.unmarshal(yaml, NodeDataplane.class).getStatus();
    }

    static Duration ms(long millis) {
        return Duration.ofMillis(millis);
    }

    void objects() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"))));
    }

    RunningAgent start() throws Exception {
        AgentOptions o = AgentOptions.parse(new String[]{"--node", "lb", "--state-dir", dir.toString(), "--health-port", "0"}, Map.of());
        Backoff recording = new Backoff(ms(40), ms(1000)) {
            @Override
            Duration next() {
                Duration d = super.next();
                delays.add(d);
                return d;
            }
        };
        AgentRunner runner = new AgentRunner(o, Programmers.snatOnly(nft), () -> {
            throw new AssertionError("no API client in state-dir mode");
        }, recording);
        return RunningAgent.start(runner);
    }
}
