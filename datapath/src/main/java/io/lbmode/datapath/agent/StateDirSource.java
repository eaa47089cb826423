package io.lbmode.datapath.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.lbmode.datapathconfig.DatapathConfig;
import io.lbmode.yaml.KubeYaml;
import io.lbmode.yaml.KubeYamlException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Standalone source: every YAML document in the files of a directory ({@code *.yaml}, {@code *.yml}, {@code *.json};
 * dot-files and dot-directories such as {@code .status/} are ignored), in normal Kubernetes form.
 * A ConfigMap {@code lbmode-datapath} wins over a Cluster document, as in the cluster.
 */
final class StateDirSource {
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private final Path dir;

    StateDirSource(Path dir) {
        this.dir = dir;
    }

    /** Files read, in name order. */
    List<Path> files() throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("--state-dir " + dir + " is not a directory: create it and put the YAML objects there");
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().startsWith("."))
                    .filter(Files::isRegularFile)
                    .filter(p -> p.toString().matches(".*\\.(ya?ml|json)$"))
                    .sorted().toList();
        }
    }

    /** Changes whenever a file is added, removed or rewritten: what the watch loop polls. */
    String fingerprint() {
        try {
            StringBuilder s = new StringBuilder();
            for (Path p : files()) {
                s.append(p.getFileName()).append(' ').append(Files.getLastModifiedTime(p).toMillis()).append(' ')
                        .append(Files.size(p)).append('\n');
            }
            return s.toString();
        } catch (IOException e) {
            return "error " + e.getMessage();
        }
    }

    Inputs read() {
        Optional<DatapathConfig> fromCluster = Optional.empty();
        Optional<DatapathConfig> fromConfigMap = Optional.empty();
        List<Node> nodes = new ArrayList<>();
        List<Service> services = new ArrayList<>();
        List<EndpointSlice> slices = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        List<Path> files;
        try {
            files = files();
        } catch (IOException e) {
            return new Inputs(Optional.empty(), List.of(), List.of(), List.of(), Optional.of(e.getMessage()));
        }
        for (Path file : files) {
            List<KubeYaml.Document> docs;
            try {
                docs = KubeYaml.read(file);
            } catch (KubeYamlException e) {
                problems.add(file.getFileName() + ": " + e.getMessage());
                continue;
            }
            for (KubeYaml.Document doc : docs) {
                String where = file.getFileName() + " document " + (doc.index() + 1) + " (" + doc.kind() + " " + doc.displayName() + ")";
                try {
                    switch (doc.kind()) {
                        case "Cluster" -> {
                            if (doc.isCluster()) {
                                fromCluster = Optional.of(DatapathConfig.fromCluster(KubeYaml.toCluster(doc.node())));
                            }
                        }
                        case "ConfigMap" -> {
                            ConfigMap cm = convert(doc.node(), ConfigMap.class);
                            if (cm.getMetadata() != null && DatapathConfig.CONFIG_MAP_NAME.equals(cm.getMetadata().getName())) {
                                fromConfigMap = Optional.of(DatapathConfig.fromConfigMapData(cm.getData()));
                            }
                        }
                        case "Node" -> nodes.add(convert(doc.node(), Node.class));
                        case "Service" -> services.add(convert(doc.node(), Service.class));
                        case "EndpointSlice" -> slices.add(convert(doc.node(), EndpointSlice.class));
                        default -> {
                            // Other kinds (NodePool, the tooling's header document, ...) do not affect the datapath.
                        }
                    }
                } catch (KubeYamlException | IllegalArgumentException e) {
                    problems.add(where + ": " + e.getMessage());
                }
            }
        }
        Optional<DatapathConfig> cluster = fromCluster;
        Optional<DatapathConfig> config = fromConfigMap.or(() -> cluster);
        return new Inputs(config, nodes, services, slices,
                problems.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", problems)));
    }

    private static <T> T convert(JsonNode node, Class<T> type) {
        try {
            return MAPPER.treeToValue(node, type);
        } catch (IOException e) {
            // Jackson's message names the JSON path of the wrong field; drop its source-location noise.
            String msg = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
            throw new IllegalArgumentException("not a valid " + type.getSimpleName() + ": " + msg);
        }
    }
}
