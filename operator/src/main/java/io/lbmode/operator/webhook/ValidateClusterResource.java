package io.lbmode.operator.webhook;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.http.HttpServerRequest;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/**
 * The validating admission webhook for {@code clusters.baremetal.cluster.gke.io} (CREATE and UPDATE), served over
 * HTTPS only. Dry-run requests get the same answer: the review has no side effects.
 */
@Path("/validate-cluster")
public class ValidateClusterResource {

    @Inject
    MeterRegistry registry;

    @POST
    @Consumes(MediaType.WILDCARD)
    @Produces(MediaType.APPLICATION_JSON)
    public Response review(byte[] body, @Context HttpServerRequest http) {
        Timer.Sample sample = Timer.start(registry);
        AdmissionDecision decision = http.isSSL() ? AdmissionDecider.decide(body)
                : new AdmissionDecision.Rejected(403, "the admission webhook is served over HTTPS only; "
                + "point the ValidatingWebhookConfiguration at the HTTPS port");
        sample.stop(Timer.builder("lbmode.admission.duration")
                .description("Time to decide one admission request")
                .tag("operation", decision.operation()).tag("result", decision.result())
                .publishPercentileHistogram().register(registry));
        Counter.builder("lbmode.admission.decisions").description("Admission decisions by result")
                .tag("operation", decision.operation()).tag("result", decision.result())
                .register(registry).increment();
        return switch (decision) {
            case AdmissionDecision.Review review -> Response.ok(AdmissionResponses.review(review)).build();
            case AdmissionDecision.Rejected rejected -> Response.status(rejected.httpStatus())
                    .entity(AdmissionResponses.rejected(rejected)).build();
        };
    }
}
