package io.lbmode.operator.webhook;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.smallrye.common.annotation.NonBlocking;
import io.vertx.core.http.HttpServerRequest;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The validating admission webhook for {@code clusters.baremetal.cluster.gke.io} (CREATE and UPDATE), served over
 * HTTPS only. Dry-run requests get the same answer: the review has no side effects.
 *
 * <p>Runs on the I/O thread: a decision is pure computation (tens of microseconds) with no blocking call, so the
 * hand-off to a worker thread would cost more than the decision.
 */
@Path("/validate-cluster")
public class ValidateClusterResource {
    private static final ObjectMapper JSON = JsonMapper.builder().build();

    @Inject
    MeterRegistry registry;

    /** One timer and counter per (operation, result), built once: meter registration is not free per request. */
    private final ConcurrentMap<String, Meters> meters = new ConcurrentHashMap<>();

    private record Meters(Timer timer, Counter counter) {
    }

    @POST
    @NonBlocking
    @Consumes(MediaType.WILDCARD)
    @Produces(MediaType.APPLICATION_JSON)
    public Response review(byte[] body, @Context HttpServerRequest http) {
        long start = System.nanoTime();
        AdmissionDecision decision = http.isSSL() ? AdmissionDecider.decide(body)
                : new AdmissionDecision.Rejected(403, "the admission webhook is served over HTTPS only; "
                + "point the ValidatingWebhookConfiguration at the HTTPS port");
        Response response = switch (decision) {
            case AdmissionDecision.Review review -> Response.ok(json(AdmissionResponses.review(review))).build();
            case AdmissionDecision.Rejected rejected -> Response.status(rejected.httpStatus())
                    .entity(json(AdmissionResponses.rejected(rejected))).type(MediaType.APPLICATION_JSON).build();
        };
        Meters m = meters.computeIfAbsent(decision.operation() + "/" + decision.result(), key -> new Meters(
                Timer.builder("lbmode.admission.duration").description("Time to decide one admission request")
                        .tag("operation", decision.operation()).tag("result", decision.result())
                        .publishPercentileHistogram().register(registry),
                Counter.builder("lbmode.admission.decisions").description("Admission decisions by result")
                        .tag("operation", decision.operation()).tag("result", decision.result()).register(registry)));
        m.timer().record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
        m.counter().increment();
        return response;
    }

    private static byte[] json(Object node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("an admission response could not be written", e);
        }
    }
}
