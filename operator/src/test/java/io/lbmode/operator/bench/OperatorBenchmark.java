package io.lbmode.operator.bench;

import io.fabric8.kubernetes.api.model.authorization.v1.ResourceRuleBuilder;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.operator.support.Fixtures;
import io.lbmode.operator.support.Reviews;
import io.lbmode.operator.support.TestCertificates;
import io.lbmode.operator.support.TestClients;
import io.lbmode.testsupport.Await;
import io.lbmode.testsupport.MockKubeconfig;
import io.lbmode.testsupport.TrustingTls;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Benchmark of the packaged operator (not a timed test). Starts {@value #BENCH_APP} (the operator built with
 * {@code -Pbench}: the production app plus the baseline endpoint {@code POST /bench/trivial}) against a mock API
 * server and measures, in the same run:
 * <ol>
 *   <li>admission latency p50/p99 over HTTPS for the UPDATE path at a fixed 200 requests/s, side by side with a
 *       trivial endpoint on the same server (same TLS, same body), in alternating rounds, and the ratio;</li>
 *   <li>saturation throughput of both endpoints with 8 concurrent connections;</li>
 *   <li>the time for the operator to bring N Clusters (default 1,000) to a Valid status, and the process RSS.</li>
 * </ol>
 * Run with {@code operator/bench/run-benchmark.sh}. Arguments: {@code [seconds-per-round] [clusters]}.
 */
public final class OperatorBenchmark {
    static final String NS = "lbmode-system";
    static final int RATE = 200;
    static final String BENCH_APP = "target/bench-app/quarkus-app/quarkus-run.jar";

    public static void main(String[] args) throws Exception {
        int roundSeconds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int clusters = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        Path work = Files.createDirectories(Path.of("target", "bench").toAbsolutePath());
        StringBuilder report = new StringBuilder();

        // The decision alone, in process: what the webhook adds to a request before any HTTP or TLS cost.
        String sample = Fixtures.valid("cluster-lb-mode", "lb-mode", "standalone", "dsr");
        byte[] review = Reviews.bytes(Reviews.update(Fixtures.node(sample),
                Fixtures.node(sample.replace("address: 10.200.0.2", "address: 10.200.0.3"))));
        for (int i = 0; i < 20_000; i++) {
            io.lbmode.operator.webhook.AdmissionDecider.decide(review);
        }
        long decideStart = System.nanoTime();
        for (int i = 0; i < 20_000; i++) {
            io.lbmode.operator.webhook.AdmissionDecider.decide(review);
        }
        line(report, "in-process decision (parse + engine + response) for an UPDATE review: %.1f us each",
                (System.nanoTime() - decideStart) / 20_000 / 1e3);

        var server = new KubernetesServer(false, true, InetAddress.getLoopbackAddress(), 0, List.of());
        server.before();
        server.expect().post().withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
                .andReturn(201, new SelfSubjectRulesReviewBuilder().withNewStatus().withIncomplete(false)
                        .withResourceRules(new ResourceRuleBuilder().withApiGroups("coordination.k8s.io")
                                .withResources("leases").withVerbs("*").build()).endStatus().build())
                .always();
        KubernetesClient client = TestClients.testClient(server.getClient().getConfiguration());
        TestClients.installCrds(client);

        Path kubeconfig = work.resolve("kubeconfig");
        Files.writeString(kubeconfig, MockKubeconfig.text(server.getClient().getMasterUrl().toString(), NS));
        var ca = TestCertificates.ca();
        Path certs = work.resolve("webhook-tls");
        TestCertificates.writeSecret(certs, TestCertificates.server(ca, "lbmode-webhook"));
        int httpPort = freePort();
        int httpsPort = freePort();
        // OPERATOR_JAVA_OPTS: JVM options for the operator process, e.g. "-Xmx256m" to size a container limit.
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        String javaOpts = System.getenv().getOrDefault("OPERATOR_JAVA_OPTS", "").trim();
        if (!javaOpts.isEmpty()) {
            command.addAll(List.of(javaOpts.split("\\s+")));
        }
        line(report, "operator JVM options: %s", javaOpts.isEmpty() ? "(defaults)" : javaOpts);
        command.addAll(List.of("-Dlbmode.webhook.cert-dir=" + certs,
                "-Dquarkus.http.port=" + httpPort, "-Dquarkus.http.ssl-port=" + httpsPort,
                "-Dquarkus.log.level=WARN", "-jar", BENCH_APP));
        var builder = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(work.resolve("operator.log").toFile());
        builder.environment().put("KUBECONFIG", kubeconfig.toString());
        Process operator = builder.start();
        try {
            HttpClient https = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .sslContext(TrustingTls.trusting(ca.certificate()))
                    .executor(Executors.newFixedThreadPool(4)).build();
            URI webhook = URI.create("https://localhost:" + httpsPort + "/validate-cluster");
            URI trivial = URI.create("https://localhost:" + httpsPort + "/bench/trivial");
            waitUp(https, trivial);

            String old = Fixtures.valid("cluster-lb-mode", "lb-mode", "standalone", "dsr");
            byte[] body = Reviews.bytes(Reviews.update(Fixtures.node(old),
                    Fixtures.node(old.replace("address: 10.200.0.2", "address: 10.200.0.3"))));
            line(report, "UPDATE AdmissionReview body: %d bytes; HTTP/1.1 keep-alive over TLS; %d req/s open loop",
                    body.length, RATE);

            // Warm-up (JIT, connection pool), then alternating rounds so drift hits both endpoints alike.
            fixedRate(https, trivial, body, 3);
            fixedRate(https, webhook, body, 3);
            List<Long> trivialNs = new ArrayList<>();
            List<Long> webhookNs = new ArrayList<>();
            int errors = 0;
            for (int round = 0; round < 4; round++) {
                var t = fixedRate(https, trivial, body, roundSeconds);
                var w = fixedRate(https, webhook, body, roundSeconds);
                trivialNs.addAll(t.latencies);
                webhookNs.addAll(w.latencies);
                errors += t.errors + w.errors;
            }
            Collections.sort(trivialNs);
            Collections.sort(webhookNs);
            line(report, "trivial endpoint : n=%d p50=%.2f ms p99=%.2f ms", trivialNs.size(), ms(pct(trivialNs, 50)), ms(pct(trivialNs, 99)));
            line(report, "webhook UPDATE   : n=%d p50=%.2f ms p99=%.2f ms", webhookNs.size(), ms(pct(webhookNs, 50)), ms(pct(webhookNs, 99)));
            line(report, "ratio webhook/trivial: p50 %.2fx, p99 %.2fx (goal p99 <= 1.2x); errors %d",
                    (double) pct(webhookNs, 50) / pct(trivialNs, 50), (double) pct(webhookNs, 99) / pct(trivialNs, 99), errors);
            double tTput = saturate(https, trivial, body, roundSeconds);
            double wTput = saturate(https, webhook, body, roundSeconds);
            line(report, "saturation, 8 connections: trivial %.0f req/s, webhook %.0f req/s (%.2fx)", tTput, wTput, wTput / tTput);

            // 1,000 Clusters to Valid.
            long createStart = System.nanoTime();
            var pool = Executors.newFixedThreadPool(8);
            List<CompletableFuture<Void>> creates = new ArrayList<>();
            for (int i = 0; i < clusters; i++) {
                String name = "user-" + i;
                creates.add(CompletableFuture.runAsync(() -> client.resource(Fixtures.cluster(
                        Fixtures.valid("bench-" + (Integer.parseInt(name.substring(5)) % 20), name, "user", "dsr"))).create(), pool));
            }
            CompletableFuture.allOf(creates.toArray(CompletableFuture[]::new)).join();
            pool.shutdown();
            double createdS = (System.nanoTime() - createStart) / 1e9;
            int valid = 0;
            while (valid < clusters && System.nanoTime() - createStart < TimeUnit.MINUTES.toNanos(10)) {
                valid = (int) client.resources(Cluster.class).inAnyNamespace().list().getItems().stream()
                        .filter(c -> c.getStatus() != null && c.getStatus().conditions != null && c.getStatus().conditions.stream()
                                .anyMatch(cond -> "Valid".equals(cond.getType()) && "True".equals(cond.getStatus())))
                        .count();
                Thread.sleep(250);
            }
            double allValidS = (System.nanoTime() - createStart) / 1e9;
            line(report, "%d Clusters: created in %.1f s, all Valid=True %.1f s after the first create (%d valid)",
                    clusters, createdS, allValidS, valid);
            line(report, "operator process: %s", rss(operator.pid()));
        } finally {
            operator.destroy();
            operator.waitFor(20, TimeUnit.SECONDS);
            client.close();
            server.after();
        }
        Files.writeString(work.resolve("operator-bench.txt"), report);
        System.out.println("\nwritten to " + work.resolve("operator-bench.txt"));
        System.exit(0);
    }

    record Run(List<Long> latencies, int errors) {
    }

    /** Open loop: one request every 1/RATE s; latency measured from the scheduled time, so queueing counts. */
    static Run fixedRate(HttpClient http, URI uri, byte[] body, int seconds) throws InterruptedException {
        int total = RATE * seconds;
        var latencies = new ConcurrentLinkedQueue<Long>();
        AtomicInteger errors = new AtomicInteger();
        List<CompletableFuture<?>> inflight = new ArrayList<>();
        long start = System.nanoTime();
        long interval = 1_000_000_000L / RATE;
        for (int i = 0; i < total; i++) {
            long scheduled = start + i * interval;
            long wait = scheduled - System.nanoTime();
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait);
            }
            inflight.add(http.sendAsync(request(uri, body), HttpResponse.BodyHandlers.ofByteArray())
                    .whenComplete((r, e) -> {
                        if (e != null || r.statusCode() != 200) {
                            if (errors.incrementAndGet() == 1) {
                                System.out.println("first error on " + uri + ": " + (e != null ? e : r.statusCode() + " " + new String(r.body())));
                            }
                        } else {
                            latencies.add(System.nanoTime() - scheduled);
                        }
                    }));
        }
        CompletableFuture.allOf(inflight.toArray(CompletableFuture[]::new)).exceptionally(e -> null).join();
        return new Run(new ArrayList<>(latencies), errors.get());
    }

    static double saturate(HttpClient http, URI uri, byte[] body, int seconds) throws Exception {
        AtomicLong done = new AtomicLong();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        var pool = Executors.newFixedThreadPool(8);
        for (int i = 0; i < 8; i++) {
            pool.submit(() -> {
                while (System.nanoTime() < end) {
                    try {
                        if (http.send(request(uri, body), HttpResponse.BodyHandlers.ofByteArray()).statusCode() == 200) {
                            done.incrementAndGet();
                        }
                    } catch (IOException | InterruptedException e) {
                        return;
                    }
                }
            });
        }
        pool.shutdown();
        pool.awaitTermination(seconds + 30L, TimeUnit.SECONDS);
        return done.get() / (double) seconds;
    }

    static HttpRequest request(URI uri, byte[] body) {
        return HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).timeout(Duration.ofSeconds(10)).build();
    }

    static void waitUp(HttpClient http, URI uri) {
        Await.until("the operator up (see target/bench/operator.log)", Duration.ofSeconds(60), Duration.ofMillis(200), () -> {
            try {
                return http.send(request(uri, "{}".getBytes()), HttpResponse.BodyHandlers.discarding()).statusCode();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e); // not up yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }, code -> code == 200);
    }

    static long pct(List<Long> sorted, int p) {
        if (sorted.isEmpty()) {
            return -1;
        }
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1));
    }

    static double ms(long nanos) {
        return nanos / 1e6;
    }

    static String rss(long pid) {
        try {
            var lines = Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"));
            return lines.stream().filter(l -> l.startsWith("VmRSS") || l.startsWith("VmHWM"))
                    .map(l -> l.replaceAll("\\s+", " ")).reduce((a, b) -> a + ", " + b).orElse("?");
        } catch (IOException e) {
            return "RSS unavailable: " + e.getMessage();
        }
    }

    static int freePort() throws IOException {
        try (var socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    static void line(StringBuilder report, String format, Object... args) {
        String text = String.format(Locale.ROOT, format, args);
        System.out.println(text);
        report.append(text).append('\n');
    }
}
