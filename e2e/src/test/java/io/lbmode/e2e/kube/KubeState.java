package io.lbmode.e2e.kube;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reading what the API server holds, through kubectl's JSON output (what a user would look at). */
final class KubeState {
    static final ObjectMapper JSON = new ObjectMapper();
    static final YAMLMapper YAML = new YAMLMapper();
    static final String CLUSTERS = "clusters.baremetal.cluster.gke.io";

    private KubeState() {
    }

    /** The Cluster as JSON, or null when kubectl can't read it. */
    static JsonNode cluster(KubeControlPlane kube, String namespace, String name) {
        KubeControlPlane.Result get = kube.kubectl("get", CLUSTERS, name, "-n", namespace, "-o", "json");
        return get.exitCode() == 0 ? readJson(get.stdout()) : null;
    }

    static String condition(JsonNode object, String type) {
        for (JsonNode condition : object.path("status").path("conditions")) {
            if (type.equals(condition.path("type").asText())) {
                return condition.path("status").asText();
            }
        }
        return "";
    }

    static JsonNode readJson(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every YAML document of a file, in order. */
    static List<ObjectNode> documents(Path file) {
        List<ObjectNode> documents = new ArrayList<>();
        try (var parser = new YAMLFactory().createParser(Files.readString(file))) {
            YAML.readValues(parser, ObjectNode.class).forEachRemaining(documents::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return documents;
    }

    static String yaml(List<? extends JsonNode> documents) {
        StringBuilder out = new StringBuilder();
        try {
            for (JsonNode document : documents) {
                out.append("---\n").append(YAML.writeValueAsString(document).replaceFirst("^---\n", ""));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }
}
