package io.lbmode.crds;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.yaml.KubeYaml;
import io.lbmode.yaml.KubeYamlException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Build step after the fabric8 CRD generator (process-classes): puts the printer columns in the order users expect.
 *
 * <p>fabric8 sorts {@code additionalPrinterColumns} by JSON path, which would show Age first and the forward mode
 * last; kubectl shows them in CRD order. Columns not listed here keep fabric8's order, after the listed ones.
 */
public final class CrdPostProcessor {
    static final Map<String, List<String>> COLUMN_ORDER = Map.of(
            "clusters.baremetal.cluster.gke.io", List.of("Forward-Mode", "Version", "Ready", "Age"),
            "nodedataplanes.lbmode.io", List.of("Mode", "Services", "Endpoints", "Synced", "Error"));
    /**
     * Root fields the API server must require. {@code spec} is required: without it the CEL transition rule on
     * {@code spec.clusterNetwork} would not run, so {@code {"spec": null}} (a merge patch that removes it) would drop a
     * set forwardMode unchecked while the webhook is down. fabric8 can't mark the inherited spec field required.
     */
    static final Map<String, List<String>> ROOT_REQUIRED = Map.of("clusters.baremetal.cluster.gke.io", List.of("spec"));
    static final String HEADER = """
            # Generated from the Java types in crds/src/main/java/io/lbmode/crds by the fabric8 crd-generator-maven-plugin,
            # then io.lbmode.crds.CrdPostProcessor. Do not edit: change the types and rebuild (see crds/README.md).
            """;

    private CrdPostProcessor() {
    }

    public static void main(String[] args) throws IOException, KubeYamlException {
        if (args.length != 1) {
            throw new IllegalArgumentException("usage: CrdPostProcessor DIRECTORY (with the generated *.yml)");
        }
        try (var files = Files.list(Path.of(args[0]))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yml")).sorted().toList()) {
                Files.writeString(file, process(Files.readString(file)), StandardCharsets.UTF_8);
            }
        }
    }

    static String process(String crdYaml) throws KubeYamlException {
        JsonNode crd = KubeYaml.readString(crdYaml).getFirst().node();
        List<String> order = COLUMN_ORDER.getOrDefault(crd.path("metadata").path("name").asText(), List.of());
        List<String> required = ROOT_REQUIRED.getOrDefault(crd.path("metadata").path("name").asText(), List.of());
        for (JsonNode version : crd.path("spec").path("versions")) {
            if (!required.isEmpty() && version.path("schema").path("openAPIV3Schema") instanceof ObjectNode root) {
                ArrayNode list = root.putArray("required");
                required.forEach(list::add);
            }
            if (version.get("additionalPrinterColumns") instanceof ArrayNode columns) {
                List<JsonNode> sorted = new ArrayList<>();
                columns.forEach(sorted::add);
                sorted.sort(Comparator.comparingInt(c -> {
                    int at = order.indexOf(c.path("name").asText());
                    return at < 0 ? order.size() : at;
                }));
                columns.removeAll();
                sorted.forEach(columns::add);
                ((ObjectNode) version).set("additionalPrinterColumns", columns);
            }
        }
        return HEADER + KubeYaml.toYaml(crd);
    }
}
