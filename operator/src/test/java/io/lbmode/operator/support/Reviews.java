package io.lbmode.operator.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/** AdmissionReview v1 requests as the API server sends them. */
public final class Reviews {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private Reviews() {
    }

    public static ObjectNode request(String operation, JsonNode object, JsonNode oldObject, boolean dryRun) {
        ObjectNode root = F.objectNode();
        root.put("apiVersion", "admission.k8s.io/v1");
        root.put("kind", "AdmissionReview");
        ObjectNode request = root.putObject("request");
        request.put("uid", UUID.randomUUID().toString());
        request.putObject("kind").put("group", "baremetal.cluster.gke.io").put("version", "v1").put("kind", "Cluster");
        request.putObject("resource").put("group", "baremetal.cluster.gke.io").put("version", "v1").put("resource", "clusters");
        request.putObject("requestKind").put("group", "baremetal.cluster.gke.io").put("version", "v1").put("kind", "Cluster");
        request.putObject("requestResource").put("group", "baremetal.cluster.gke.io").put("version", "v1").put("resource", "clusters");
        JsonNode source = object != null ? object : oldObject;
        if (source != null && source.path("metadata").has("name")) {
            request.put("name", source.path("metadata").path("name").asText());
            request.put("namespace", source.path("metadata").path("namespace").asText());
        }
        request.put("operation", operation);
        ObjectNode user = request.putObject("userInfo");
        user.put("username", "kubernetes-admin");
        user.putArray("groups").add("system:masters").add("system:authenticated");
        if (object != null) {
            request.set("object", object);
        }
        if (oldObject != null) {
            request.set("oldObject", oldObject);
        }
        request.put("dryRun", dryRun);
        request.putObject("options").put("apiVersion", "meta.k8s.io/v1")
                .put("kind", operation.equals("CREATE") ? "CreateOptions" : "UpdateOptions");
        return root;
    }

    public static ObjectNode create(JsonNode object) {
        return request("CREATE", object, null, false);
    }

    public static ObjectNode update(JsonNode oldObject, JsonNode object) {
        return request("UPDATE", object, oldObject, false);
    }

    public static String uid(JsonNode review) {
        return review.path("request").path("uid").asText();
    }

    public static byte[] bytes(JsonNode review) {
        return review.toString().getBytes(StandardCharsets.UTF_8);
    }
}
