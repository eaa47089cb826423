package io.lbmode.datapath.agent;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * {@code GET /healthz} (200 {@code ok} when the kernel holds the desired state, else 503 {@code not ok}: readiness),
 * {@code GET /livez} (200 while the agent's loop runs, 503 when it has not ticked for {@link #LOOP_STALL}: liveness;
 * a kernel that refuses rules is retried with backoff, and a restart would not fix it) and {@code GET /metrics}
 * (Prometheus text), on one address of the node. Anyone who reaches the port may ask, so the
 * answers hold no error text (object names, addresses, paths): why the node is not programmed is in the
 * NodeDataplane status and the log, where RBAC decides who reads it.
 */
final class HealthServer implements AutoCloseable {
    /** How long the loop may go without its 3-second check before /livez fails (a full load at 10,000 Services takes ~4 s). */
    static final java.time.Duration LOOP_STALL = java.time.Duration.ofSeconds(60);
    private final HttpServer server;

    HealthServer(InetAddress address, int port, Agent agent) throws IOException {
        server = HttpServer.create(new InetSocketAddress(address, port), 16);
        server.createContext("/healthz", ex -> {
            boolean ok = agent.healthy;
            reply(ex, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "not ok\n");
        });
        server.createContext("/livez", ex -> {
            boolean alive = System.nanoTime() - agent.loopTick < LOOP_STALL.toNanos();
            reply(ex, alive ? 200 : 503, "text/plain", alive ? "ok\n" : "not ok\n");
        });
        server.createContext("/metrics", ex -> {
            StringBuilder m = new StringBuilder();
            metric(m, "lbmode_agent_syncs_total", "counter", "Syncs attempted.", agent.syncs.get());
            metric(m, "lbmode_agent_sync_errors_total", "counter", "Syncs that failed.", agent.syncErrors.get());
            metric(m, "lbmode_agent_drift_repairs_total", "counter", "Times rules changed by others were restored.", agent.driftRepairs.get());
            metric(m, "lbmode_agent_drift_repair_errors_total", "counter", "Drift repairs that failed (retried with backoff).", agent.driftRepairErrors.get());
            metric(m, "lbmode_agent_ruleset_generation", "gauge", "Changes applied to the kernel.", agent.generation());
            metric(m, "lbmode_agent_service_ports", "gauge", "Service ports programmed.", agent.services);
            metric(m, "lbmode_agent_backends", "gauge", "Backends programmed.", agent.endpoints);
            metric(m, "lbmode_agent_last_apply_seconds", "gauge", "Duration of the last kernel update.", agent.lastApplyMicros.get() / 1e6);
            metric(m, "lbmode_agent_healthy", "gauge", "1 when the kernel holds the desired state.", agent.healthy ? 1 : 0);
            m.append("# HELP lbmode_datapath_drops_total Packets dropped by the datapath, by reason.\n# TYPE lbmode_datapath_drops_total counter\n");
            for (Map.Entry<String, Long> e : agent.drops().entrySet()) {
                m.append("lbmode_datapath_drops_total{reason=\"").append(e.getKey()).append("\"} ").append(e.getValue()).append('\n');
            }
            reply(ex, 200, "text/plain; version=0.0.4", m.toString());
        });
        server.start();
    }

    int port() {
        return server.getAddress().getPort();
    }

    InetSocketAddress address() {
        return server.getAddress();
    }

    private static void metric(StringBuilder m, String name, String type, String help, Number value) {
        m.append("# HELP ").append(name).append(' ').append(help).append('\n')
                .append("# TYPE ").append(name).append(' ').append(type).append('\n')
                .append(name).append(' ').append(value).append('\n');
    }

    private static void reply(HttpExchange ex, int code, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(code, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
