package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.datapath.nft.FakeNftRunner;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** /healthz and /metrics: on the address asked for, and without error text for whoever asks. */
@Tag("unit")
class HealthServerTest {
    @TempDir
    Path dir;

    @Test
    void aFailingAgentAnswersNotOkWithoutTheReason() throws Exception {
        AgentOptions o = AgentOptions.parse(new String[]{"--node", "secret-node-7", "--state-dir", dir.toString()}, Map.of());
        Agent agent = new Agent(o, Programmers.snatOnly(new FakeNftRunner()), StatusSink.NONE, Clock.systemUTC());
        var result = agent.sync(new Inputs(Optional.empty(), List.of(), List.of(), List.of(), Optional.of("/etc/lbmode/x.yaml: line 3")));
        assertThat(result.error()).hasValueSatisfying(e -> assertThat(e).contains("x.yaml"));
        try (HealthServer health = new HealthServer(InetAddress.getLoopbackAddress(), 0, agent);
             HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> healthz = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + health.port() + "/healthz")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(healthz.statusCode()).isEqualTo(503);
            assertThat(healthz.body()).isEqualTo("not ok\n");
            // Not programmed, but its loop runs: alive, so liveness does not restart it (retries run with backoff).
            HttpResponse<String> livez = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + health.port() + "/livez")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(livez.statusCode()).isEqualTo(200);
            agent.loopTick = System.nanoTime() - HealthServer.LOOP_STALL.toNanos() - 1;
            HttpResponse<String> stalled = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + health.port() + "/livez")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(stalled.statusCode()).isEqualTo(503);
            assertThat(stalled.body()).isEqualTo("not ok\n");
            HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + health.port() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(metrics.body()).contains("lbmode_agent_healthy 0", "lbmode_agent_sync_errors_total 1")
                    .doesNotContain("x.yaml", "secret-node-7", "Exception");
        }
    }

    @Test
    void itListensOnTheAddressAskedForLoopbackByDefault() throws Exception {
        AgentOptions byHand = AgentOptions.parse(new String[]{"--node", "n1", "--state-dir", dir.toString()}, Map.of());
        assertThat(byHand.healthAddress()).isEqualTo(InetAddress.getLoopbackAddress());
        AgentOptions daemonSet = AgentOptions.parse(new String[]{"--node", "n1", "--config-namespace", "x",
                "--health-address=127.0.0.2", "--health-port", "0"}, Map.of());
        assertThat(daemonSet.healthAddress().getHostAddress()).isEqualTo("127.0.0.2");
        Agent agent = new Agent(daemonSet, Programmers.snatOnly(new FakeNftRunner()), StatusSink.NONE, Clock.systemUTC());
        try (HealthServer health = new HealthServer(daemonSet.healthAddress(), 0, agent)) {
            assertThat(health.address().getAddress().getHostAddress()).isEqualTo("127.0.0.2");
        }
        assertThatThrownBy(() -> AgentOptions.parse(new String[]{"--node", "n1", "--state-dir", dir.toString(),
                "--health-address", "node-1.example"}, Map.of()))
                .isInstanceOf(AgentOptions.UsageException.class)
                .hasMessage("--health-address must be an IPv4 or IPv6 address (e.g. 127.0.0.1, or the node's InternalIP), not 'node-1.example'");
    }
}
