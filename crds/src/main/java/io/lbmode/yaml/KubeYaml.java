package io.lbmode.yaml;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.util.JsonParserDelegate;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import io.lbmode.crds.cluster.v1.Cluster;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;
import org.yaml.snakeyaml.LoaderOptions;

/**
 * Reads Kubernetes YAML the way the tools around lbmode need it: several documents per file, with limits that keep
 * hostile input (huge files, deep nesting, alias bombs) from exhausting memory, and errors that say where.
 */
public final class KubeYaml {
    /** The API server refuses request bodies over 3 MiB; nothing larger can be a real object. */
    public static final int MAX_BYTES = 3 * 1024 * 1024;
    /** Far deeper than any cluster configuration (about 8 levels) and far below what would exhaust the stack. */
    public static final int MAX_DEPTH = 64;

    private static final YAMLFactory YAML_FACTORY = YAMLFactory.builder()
            .loaderOptions(loaderOptions())
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_DEPTH)
                    .maxDocumentLength(MAX_BYTES)
                    .maxStringLength(MAX_BYTES)
                    .build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS)
            .enable(YAMLGenerator.Feature.INDENT_ARRAYS_WITH_INDICATOR)
            .build();
    private static final YAMLMapper YAML = new YAMLMapper(YAML_FACTORY);
    private static final ObjectMapper JSON = strict(JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            .build());

    private KubeYaml() {
    }

    private static LoaderOptions loaderOptions() {
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(MAX_BYTES);
        options.setNestingDepthLimit(MAX_DEPTH);
        // Aliases are refused below anyway; this keeps SnakeYAML itself from doing work for them.
        options.setMaxAliasesForCollections(10);
        options.setAllowDuplicateKeys(false);
        return options;
    }

    private static ObjectMapper strict(ObjectMapper mapper) {
        // The API server does not turn 1 into "1" or "true" into true; neither do we, so that types are checked.
        for (CoercionInputShape shape : List.of(CoercionInputShape.Integer, CoercionInputShape.Float, CoercionInputShape.Boolean)) {
            mapper.coercionConfigFor(LogicalType.Textual).setCoercion(shape, CoercionAction.Fail);
        }
        mapper.coercionConfigFor(LogicalType.Boolean).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
        mapper.coercionConfigFor(LogicalType.Integer).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
        mapper.coercionConfigFor(LogicalType.Integer).setCoercion(CoercionInputShape.Float, CoercionAction.Fail);
        return mapper;
    }

    /**
     * One YAML document of a stream.
     *
     * @param index position in the stream, from 0 (empty documents count too, so indexes match the file)
     * @param node  the document; a {@code NullNode} for an empty one
     */
    public record Document(int index, JsonNode node) {
        public Document {
            Objects.requireNonNull(node, "node");
        }

        /** {@code kind}, or "" when absent (e.g. the tooling's header document). */
        public String kind() {
            return text("kind");
        }

        /** {@code apiVersion}, or "" when absent. */
        public String apiVersion() {
            return text("apiVersion");
        }

        public boolean isCluster() {
            return Cluster.KIND.equals(kind()) && Cluster.API_VERSION.equals(apiVersion());
        }

        /** {@code namespace/name} for messages; "-" stands for a missing part. */
        public String displayName() {
            JsonNode metadata = node.path("metadata");
            String ns = metadata.path("namespace").isTextual() ? metadata.path("namespace").asText() : "-";
            String name = metadata.path("name").isTextual() ? metadata.path("name").asText() : "-";
            return ns + "/" + name;
        }

        private String text(String field) {
            JsonNode value = node.path(field);
            return value.isTextual() ? value.asText() : "";
        }
    }

    /** How long {@link #read(Path)} waits for a FIFO to get a writer before it gives up. */
    public static final java.time.Duration OPEN_TIMEOUT = java.time.Duration.ofSeconds(10);

    /**
     * Reads every document of a file, whatever its type: at most {@link #MAX_BYTES} bytes are accepted from a
     * regular file, a pipe, a FIFO or a device alike (one byte more is read to tell that there is more). Opening a
     * FIFO blocks until something writes to it; after {@link #OPEN_TIMEOUT} without a writer it is an error, not a hang.
     */
    public static List<Document> read(Path file) throws KubeYamlException {
        if (Files.isDirectory(file)) {
            throw new KubeYamlException(file + ": is a directory, not a YAML file");
        }
        if (!Files.exists(file)) {
            throw new KubeYamlException(file + ": no such file");
        }
        java.util.concurrent.CompletableFuture<byte[]> read = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.CountDownLatch opened = new java.util.concurrent.CountDownLatch(1);
        Thread reader = Thread.ofPlatform().daemon().name("lbmode-read").start(() -> {
            try (InputStream in = Files.newInputStream(file)) {
                opened.countDown();
                read.complete(in.readNBytes(MAX_BYTES + 1));
            } catch (Throwable e) {
                read.completeExceptionally(e);
            } finally {
                opened.countDown();
            }
        });
        byte[] bytes;
        try {
            if (!opened.await(OPEN_TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)) {
                // The reader thread stays blocked in open(2); it is a daemon and ends with the process.
                throw new KubeYamlException(file + ": nothing wrote to it within " + OPEN_TIMEOUT.toSeconds()
                        + " s (a FIFO without a writer?); give a file, or start the writer first");
            }
            bytes = read.get();
        } catch (InterruptedException e) {
            reader.interrupt();
            Thread.currentThread().interrupt();
            throw new KubeYamlException(file + ": reading was interrupted", e);
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof NoSuchFileException) {
                throw new KubeYamlException(file + ": no such file");
            }
            if (cause instanceof java.nio.file.AccessDeniedException) {
                throw new KubeYamlException(file + ": permission denied");
            }
            throw new KubeYamlException(file + ": can't be read (" + (cause instanceof IOException ? cause.getMessage() : cause) + ")");
        }
        if (bytes.length > MAX_BYTES) {
            throw new KubeYamlException(file + ": more than " + MAX_BYTES + " bytes, larger than the limit of 3 MiB (what the API server accepts)");
        }
        return readBytes(bytes);
    }

    /** Reads every document of a string. */
    public static List<Document> readString(String yaml) throws KubeYamlException {
        return readBytes(yaml.getBytes(StandardCharsets.UTF_8));
    }

    private static List<Document> readBytes(byte[] bytes) throws KubeYamlException {
        if (bytes.length > MAX_BYTES) {
            throw new KubeYamlException(bytes.length + " bytes is larger than the limit of 3 MiB (what the API server accepts)");
        }
        List<Document> documents = new ArrayList<>();
        try (JsonParser parser = new NoAliases(YAML_FACTORY.createParser(bytes))) {
            while (parser.nextToken() != null) {
                JsonNode node = YAML.readTree(parser);
                // An empty document ("---" followed by "---") comes through as an empty string; it is nothing.
                boolean empty = node == null || node.isMissingNode() || (node.isTextual() && node.asText().isEmpty());
                documents.add(new Document(documents.size(), empty ? YAML.nullNode() : node));
            }
        } catch (JsonProcessingException e) {
            throw new KubeYamlException(describe(e), e);
        } catch (IOException e) {
            throw new KubeYamlException("can't be read (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            // SnakeYAML signals its limits (code points, nesting, aliases) with unchecked exceptions.
            throw new KubeYamlException("not valid YAML: " + firstLine(e.getMessage()), e);
        }
        return documents;
    }

    private static String describe(JsonProcessingException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.io.CharConversionException) {
                return "not valid YAML: the input is not UTF-8 text";
            }
        }
        JsonLocation at = e.getLocation();
        String where = at == null || at.getLineNr() < 0 ? "" : "line " + at.getLineNr() + ", column " + at.getColumnNr() + ": ";
        String message = firstLine(e.getOriginalMessage());
        if (message.contains("nesting depth") || message.contains("Nesting Depth")) {
            message = "nested deeper than " + MAX_DEPTH + " levels";
        }
        return "not valid YAML: " + where + message;
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unknown error";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    /**
     * Jackson passes an alias through as the anchor's name, which would silently turn {@code *pool} into the string
     * "pool"; expanding aliases instead is how alias bombs blow up. So an alias is an error that says so.
     */
    private static final class NoAliases extends JsonParserDelegate {
        NoAliases(YAMLParser parser) {
            super(parser);
        }

        @Override
        public JsonToken nextToken() throws IOException {
            JsonToken token = super.nextToken();
            if (((YAMLParser) delegate).isCurrentAlias()) {
                throw new com.fasterxml.jackson.core.JsonParseException(delegate, "alias *" + delegate.getText()
                        + " is not supported: YAML anchors and aliases can't be used in cluster configuration; write the value out");
            }
            return token;
        }
    }

    /** Converts a document to a Cluster; wrong types are reported with their field path. */
    public static Cluster toCluster(JsonNode node) throws KubeYamlException {
        if (node == null || !node.isObject()) {
            throw new KubeYamlException("a Cluster must be a mapping, not " + (node == null ? "nothing" : kindOf(node)));
        }
        try {
            return JSON.treeToValue(node, Cluster.class);
        } catch (JsonMappingException e) {
            throw new KubeYamlException(path(e) + ": " + typeMessage(e), e);
        } catch (JsonProcessingException e) {
            throw new KubeYamlException(firstLine(e.getOriginalMessage()), e);
        }
    }

    /** The document form of a Cluster (modelled and unmodelled fields, in order). */
    public static JsonNode toNode(Cluster cluster) {
        return JSON.valueToTree(cluster);
    }

    /** A deep copy that keeps unmodelled fields. */
    public static Cluster copy(Cluster cluster) {
        try {
            return JSON.treeToValue(JSON.valueToTree(cluster), Cluster.class);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a Cluster could not be copied: " + e.getOriginalMessage(), e);
        }
    }

    /** YAML text of a node or object, in the style of kubectl. */
    public static String toYaml(Object value) {
        try {
            return YAML.writeValueAsString(value instanceof Cluster c ? toNode(c) : value);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads a class-path resource as one JSON tree (used for the generated CRDs). */
    public static JsonNode resource(String name) throws KubeYamlException {
        try (InputStream in = KubeYaml.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new KubeYamlException("resource " + name + " is missing from the class path; rebuild the crds module");
            }
            return readBytes(in.readAllBytes()).getFirst().node();
        } catch (IOException e) {
            throw new KubeYamlException("resource " + name + " can't be read: " + e.getMessage(), e);
        }
    }

    private static String path(JsonMappingException e) {
        StringBuilder path = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                if (!path.isEmpty()) path.append('.');
                path.append(ref.getFieldName());
            } else if (ref.getIndex() >= 0) {
                path.append('[').append(ref.getIndex()).append(']');
            }
        }
        return path.isEmpty() ? "(document)" : path.toString();
    }

    private static String typeMessage(JsonMappingException e) {
        if (e instanceof InvalidFormatException f && f.getTargetType() != null && f.getTargetType().isEnum()) {
            String allowed = Arrays.stream(f.getTargetType().getEnumConstants())
                    .map(c -> JSON.valueToTree(c).asText()).collect(Collectors.joining(", "));
            return "'" + f.getValue() + "' is not allowed; use one of " + allowed;
        }
        if (firstLine(e.getOriginalMessage()).startsWith("Numeric value (")) {
            return "is out of range; use a whole number up to 2147483647";
        }
        if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
            return "must be " + describeType(m.getTargetType());
        }
        return firstLine(e.getOriginalMessage());
    }

    private static String describeType(Class<?> type) {
        if (type == String.class) return "a string";
        if (type == Boolean.class || type == boolean.class) return "true or false";
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class) return "a whole number";
        if (List.class.isAssignableFrom(type)) return "a list";
        if (type.isEnum()) return "one of " + Arrays.stream(type.getEnumConstants())
                .map(c -> JSON.valueToTree(c).asText()).collect(Collectors.joining(", "));
        return "a mapping";
    }

    private static String kindOf(JsonNode node) {
        JsonNodeType type = node.getNodeType();
        return switch (type) {
            case ARRAY -> "a list";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL, MISSING -> "an empty document";
            default -> type.name().toLowerCase(java.util.Locale.ROOT);
        };
    }
}
