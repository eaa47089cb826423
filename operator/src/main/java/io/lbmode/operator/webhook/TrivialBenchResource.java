package io.lbmode.operator.webhook;

import io.lbmode.operator.config.OperatorConfig;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/**
 * The baseline of the admission benchmark: same server, same TLS, same body size, no decision. Answers 404 unless
 * {@code lbmode.bench.trivial-endpoint=true}. Runs on the I/O thread like the webhook, so the two differ only by the
 * decision.
 */
@Path("/bench/trivial")
public class TrivialBenchResource {
    private static final String ALLOWED = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
            + "\"response\":{\"uid\":\"bench\",\"allowed\":true}}";

    private static final byte[] ALLOWED_BYTES = ALLOWED.getBytes(java.nio.charset.StandardCharsets.UTF_8);

    @Inject
    OperatorConfig config;

    @POST
    @io.smallrye.common.annotation.NonBlocking
    @Consumes(MediaType.WILDCARD)
    @Produces(MediaType.APPLICATION_JSON)
    public Response trivial(byte[] body) {
        if (!config.bench().trivialEndpoint()) {
            return Response.status(404).build();
        }
        return Response.ok(ALLOWED_BYTES).build();
    }
}
