package io.lbmode.operator.webhook;

import java.util.List;

/** What the webhook answers to one HTTP request. */
public sealed interface AdmissionDecision {

    /** Label for the decisions metric: allowed, denied, or rejected (no AdmissionReview could be answered). */
    String result();

    /** The operation reviewed (CREATE, UPDATE, ...), or {@code unknown}. */
    String operation();

    /** One cause of a denial: the field path and what is wrong with it. */
    record Cause(String field, String message) {
    }

    /**
     * An AdmissionReview response, HTTP 200.
     *
     * @param code    HTTP-style code in {@code response.status}: 422 for an invalid Cluster, 400 for a malformed
     *                review, 500 when the engine failed (and so the request is denied)
     * @param reason  {@code response.status.reason}, e.g. {@code Invalid}
     * @param name    the reviewed object's name ({@code request.name}), or null when the request has none: kubectl
     *                prints a denial with causes as {@code The Cluster "NAME" is invalid: FIELD: MESSAGE}
     */
    record Review(String uid, String operation, boolean allowed, int code, String reason, String message,
                  List<Cause> causes, List<String> warnings, String name) implements AdmissionDecision {
        public Review {
            causes = List.copyOf(causes);
            warnings = List.copyOf(warnings);
        }

        Review withName(String objectName) {
            return new Review(uid, operation, allowed, code, reason, message, causes, warnings, objectName);
        }

        @Override
        public String result() {
            return allowed ? "allowed" : "denied";
        }
    }

    /** The body is not an answerable AdmissionReview v1 (no uid to echo): a plain 4xx with a message. */
    record Rejected(int httpStatus, String message) implements AdmissionDecision {
        @Override
        public String result() {
            return "rejected";
        }

        @Override
        public String operation() {
            return "unknown";
        }
    }
}
