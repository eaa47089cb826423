package io.lbmode.operator.webhook;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.validation.ClusterValidator;
import io.lbmode.validation.Verdict;
import io.lbmode.yaml.KubeYaml;
import io.lbmode.yaml.KubeYamlException;
import java.util.ArrayList;
import java.util.List;

/**
 * Maps an AdmissionReview v1 request body to the decision. The shared validation engine decides; this class only
 * checks the envelope and translates. Anything it can't make sense of is rejected or denied, never allowed.
 */
public final class AdmissionDecider {
    public static final String ADMISSION_API_VERSION = "admission.k8s.io/v1";
    static final String GROUP = Cluster.GROUP;
    static final String KIND = Cluster.KIND;
    /** Same depth limit as the YAML reader of the crds module: a cluster configuration is nowhere near that deep. */
    static final int MAX_NESTING = 64;
    /** Object and old object of the largest Cluster etcd stores (1.5 MiB each) fit; anything larger is not a review. */
    public static final int MAX_BODY_BYTES = 3 * 1024 * 1024;

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    static {
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_NESTING).build());
    }

    private AdmissionDecider() {
    }

    public static AdmissionDecision decide(byte[] body) {
        if (body == null || body.length == 0) {
            return new AdmissionDecision.Rejected(400, "the request body is empty: send an AdmissionReview "
                    + "(apiVersion " + ADMISSION_API_VERSION + ") as JSON");
        }
        if (body.length > MAX_BODY_BYTES) {
            return new AdmissionDecision.Rejected(413, "the request body has " + body.length + " bytes, more than the "
                    + MAX_BODY_BYTES + " (3 MiB) an AdmissionReview for a Cluster may have");
        }
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            return new AdmissionDecision.Rejected(400, "the request body is not valid JSON ("
                    + firstLine(e.getOriginalMessage()) + "): send an AdmissionReview (apiVersion "
                    + ADMISSION_API_VERSION + ") as JSON");
        } catch (java.io.IOException e) {
            return new AdmissionDecision.Rejected(400, "the request body could not be read: " + firstLine(e.getMessage()));
        }
        if (root == null || !root.isObject()) {
            return new AdmissionDecision.Rejected(400, "the request body must be a JSON object (an AdmissionReview)");
        }
        String apiVersion = text(root, "apiVersion");
        if (!ADMISSION_API_VERSION.equals(apiVersion)) {
            return new AdmissionDecision.Rejected(400, "apiVersion must be " + ADMISSION_API_VERSION + ", not '"
                    + apiVersion + "': register the webhook with admissionReviewVersions: [\"v1\"]");
        }
        if (!"AdmissionReview".equals(text(root, "kind"))) {
            return new AdmissionDecision.Rejected(400, "kind must be AdmissionReview, not '" + text(root, "kind") + "'");
        }
        JsonNode request = root.get("request");
        if (request == null || !request.isObject()) {
            return new AdmissionDecision.Rejected(400, "request is missing: an AdmissionReview sent to a webhook "
                    + "carries request.uid, request.kind, request.operation and request.object");
        }
        String uid = text(request, "uid");
        if (uid == null || uid.isBlank()) {
            return new AdmissionDecision.Rejected(400, "request.uid is missing: it is echoed in response.uid");
        }
        String operation = text(request, "operation");
        String op = operation == null ? "unknown" : operation;
        try {
            AdmissionDecision decision = review(uid, op, request);
            return decision instanceof AdmissionDecision.Review r ? r.withName(text(request, "name")) : decision;
        } catch (RuntimeException e) {
            // The engine must never be bypassed: a failure denies (code 500 in the review, HTTP 200 so the API
            // server shows the message instead of a generic webhook error).
            return deny(uid, op, 500, "InternalError", "the lbmode validation engine failed on this request ("
                    + e.getClass().getSimpleName() + "); it is denied to be safe: report this to the lbmode maintainers",
                    List.of(), List.of());
        }
    }

    private static AdmissionDecision review(String uid, String operation, JsonNode request) {
        JsonNode kind = request.get("kind");
        String group = text(kind, "group");
        String kindName = text(kind, "kind");
        if (!GROUP.equals(group) || !KIND.equals(kindName)) {
            return deny(uid, operation, 400, "BadRequest", "this webhook reviews " + KIND + " (" + GROUP
                    + "), not " + kindName + (group == null || group.isEmpty() ? " (core)" : " (" + group + ")")
                    + ": check the rules of the ValidatingWebhookConfiguration", List.of(), List.of());
        }
        return switch (operation) {
            case "CREATE" -> {
                var object = cluster(request, "object");
                if (object instanceof Parsed.Bad bad) {
                    yield deny(uid, operation, bad.code(), bad.reason(), bad.message(), bad.causes(), List.of());
                }
                Cluster created = ((Parsed.Ok) object).cluster();
                yield fromVerdict(uid, operation, created, ClusterValidator.validateCreate(created));
            }
            case "UPDATE" -> {
                var object = cluster(request, "object");
                if (object instanceof Parsed.Bad bad) {
                    yield deny(uid, operation, bad.code(), bad.reason(), bad.message(), bad.causes(), List.of());
                }
                var old = cluster(request, "oldObject");
                if (old instanceof Parsed.Bad bad) {
                    yield deny(uid, operation, bad.code(), bad.reason(), bad.message(), bad.causes(), List.of());
                }
                Cluster updated = ((Parsed.Ok) object).cluster();
                yield fromVerdict(uid, operation, updated,
                        ClusterValidator.validateUpdate(((Parsed.Ok) old).cluster(), updated));
            }
            default -> deny(uid, operation, 400, "BadRequest", "operation '" + operation + "' is not reviewed by "
                    + "this webhook (CREATE and UPDATE only): check the operations of the ValidatingWebhookConfiguration",
                    List.of(), List.of());
        };
    }

    private sealed interface Parsed {
        record Ok(Cluster cluster) implements Parsed {
        }

        record Bad(int code, String reason, String message, List<AdmissionDecision.Cause> causes) implements Parsed {
        }
    }

    private static Parsed cluster(JsonNode request, String field) {
        JsonNode node = request.get(field);
        if (node == null || node.isNull()) {
            return new Parsed.Bad(400, "BadRequest", "request." + field + " is missing: a " + text(request, "operation")
                    + " review must carry it", List.of());
        }
        if (!node.isObject()) {
            return new Parsed.Bad(400, "BadRequest", "request." + field + " must be an object", List.of());
        }
        String kind = text(node, "kind");
        if (kind != null && !KIND.equals(kind)) {
            return new Parsed.Bad(400, "BadRequest", "request." + field + " is a " + kind + ", not a " + KIND, List.of());
        }
        try {
            return new Parsed.Ok(KubeYaml.toCluster(node));
        } catch (KubeYamlException e) {
            String message = firstLine(e.getMessage());
            int colon = message.indexOf(": ");
            String path = colon > 0 ? message.substring(0, colon) : field;
            return new Parsed.Bad(422, "Invalid", message, List.of(new AdmissionDecision.Cause(path,
                    colon > 0 ? message.substring(colon + 2) : message)));
        }
    }

    private static AdmissionDecision fromVerdict(String uid, String operation, Cluster cluster, Verdict verdict) {
        List<String> warnings = new ArrayList<>(verdict.warnings());
        verdict.migration().ifPresent(m -> warnings.add("the lbmode operator will apply: " + m.message()));
        if (verdict.allowed()) {
            return new AdmissionDecision.Review(uid, operation, true, 200, null, null, List.of(), warnings, null);
        }
        String name = cluster.getMetadata() == null ? null : cluster.getMetadata().getName();
        String message = "Cluster" + (name == null ? "" : " \"" + name + "\"") + " is invalid: "
                + String.join("; ", verdict.problems().stream().map(Object::toString).toList());
        List<AdmissionDecision.Cause> causes = verdict.problems().stream()
                .map(p -> new AdmissionDecision.Cause(p.field(), p.message())).toList();
        return deny(uid, operation, 422, "Invalid", message, causes, warnings);
    }

    private static AdmissionDecision.Review deny(String uid, String operation, int code, String reason, String message,
                                                 List<AdmissionDecision.Cause> causes, List<String> warnings) {
        return new AdmissionDecision.Review(uid, operation, false, code, reason, message, causes, warnings, null);
    }

    private static String text(JsonNode node, String field) {
        if (node == null) {
            return null;
        }
        JsonNode value = node.get(field);
        return value == null || !value.isTextual() ? null : value.asText();
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "no detail";
        }
        return message.lines().findFirst().orElse(message);
    }
}
