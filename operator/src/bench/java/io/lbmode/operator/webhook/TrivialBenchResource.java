package io.lbmode.operator.webhook;

import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/**
 * The baseline of the admission benchmark: same server, same TLS, same body size, no decision. Runs on the I/O thread
 * like the webhook, so the two differ only by the decision.
 *
 * <p>Never in the operator's image: this source folder is compiled only into the tests (where it also serves a
 * cheap TLS endpoint) and into the benchmark build ({@code -Pbench}, see operator/README.md).
 */
@Path("/bench/trivial")
public class TrivialBenchResource {
    private static final String ALLOWED = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
            + "\"response\":{\"uid\":\"bench\",\"allowed\":true}}";

    private static final byte[] ALLOWED_BYTES = ALLOWED.getBytes(java.nio.charset.StandardCharsets.UTF_8);

    @POST
    @io.smallrye.common.annotation.NonBlocking
    @Consumes(MediaType.WILDCARD)
    @Produces(MediaType.APPLICATION_JSON)
    public Response trivial(byte[] body) {
        return Response.ok(ALLOWED_BYTES).build();
    }
}
