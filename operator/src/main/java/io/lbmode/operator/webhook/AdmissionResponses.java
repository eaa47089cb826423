package io.lbmode.operator.webhook;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Renders decisions as the JSON the API server expects. */
final class AdmissionResponses {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private AdmissionResponses() {
    }

    /** An AdmissionReview v1 with {@code response} filled in. */
    static ObjectNode review(AdmissionDecision.Review review) {
        ObjectNode root = F.objectNode();
        root.put("apiVersion", AdmissionDecider.ADMISSION_API_VERSION);
        root.put("kind", "AdmissionReview");
        ObjectNode response = root.putObject("response");
        response.put("uid", review.uid());
        response.put("allowed", review.allowed());
        if (!review.allowed()) {
            ObjectNode status = response.putObject("status");
            status.put("status", "Failure");
            status.put("code", review.code());
            status.put("reason", review.reason());
            status.put("message", review.message());
            if (!review.causes().isEmpty()) {
                ObjectNode details = status.putObject("details");
                // As the API server's own validation errors carry them: kubectl prints "The KIND "NAME" is invalid".
                if (review.name() != null && !review.name().isEmpty()) {
                    details.put("name", review.name());
                }
                details.put("group", AdmissionDecider.GROUP);
                details.put("kind", AdmissionDecider.KIND);
                var causes = details.putArray("causes");
                for (var cause : review.causes()) {
                    causes.addObject().put("reason", "FieldValueInvalid").put("field", cause.field())
                            .put("message", cause.message());
                }
            }
        }
        if (!review.warnings().isEmpty()) {
            var warnings = response.putArray("warnings");
            review.warnings().forEach(warnings::add);
        }
        return root;
    }

    /** A plain error body for requests that are not answerable AdmissionReviews, in the shape of a Kubernetes Status. */
    static ObjectNode rejected(AdmissionDecision.Rejected rejected) {
        ObjectNode status = F.objectNode();
        status.put("apiVersion", "v1");
        status.put("kind", "Status");
        status.put("status", "Failure");
        status.put("code", rejected.httpStatus());
        status.put("reason", rejected.httpStatus() == 413 ? "RequestEntityTooLarge"
                : rejected.httpStatus() == 403 ? "Forbidden" : "BadRequest");
        status.put("message", rejected.message());
        return status;
    }
}
