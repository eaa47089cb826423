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
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Standalone source: every YAML document in the files of a directory ({@code *.yaml}, {@code *.yml}, {@code *.json};
 * dot-files and dot-directories such as {@code .status/} are ignored), in normal Kubernetes form.
 * A ConfigMap {@code lbmode-datapath} wins over a Cluster document, as in the cluster.
 *
 * <p>A read parses only what changed since the last one: a file whose size and modification time are unchanged (and
 * were not within {@link #RACY} of the last read, when a same-size rewrite could keep the time) is not read again; in
 * a file that changed, only documents whose text changed are parsed again (a YAML file is split at its document
 * markers, which end any scalar, and each document is known by a digest of its text). Unchanged documents keep their
 * objects, so {@code NodeStateBuilder.Memo} reuses their Services' ports: at 10,000 Services one endpoint changed
 * costs one small document's parse instead of reading 20,000 documents.
 *
 * <p>After the first read the agent is handed only the Services and EndpointSlices whose documents changed
 * ({@link Inputs.Changed}, keyed as the cluster's informers key them), so its desired state is updated in place
 * rather than rebuilt from every object.
 */
final class StateDirSource {
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    /** A file modified this close to the last read may have been rewritten within the file system's time granularity. */
    static final Duration RACY = Duration.ofSeconds(2);

    private final Path dir;
    /** What each file held at the last read. */
    private Map<Path, FileDocs> cache = new HashMap<>();
    /**
     * The Services and EndpointSlices of the last read the agent took whole or as changes, by {@link Inputs.Changed#keyOf}
     * (an unchanged document keeps its object, so the same instance means the same object); empty while the next read
     * must hand over every object.
     */
    private Optional<Held> held = Optional.empty();

    private record Held(Map<String, Service> services, Map<String, EndpointSlice> slices) {
    }

    StateDirSource(Path dir) {
        this.dir = dir;
    }

    /** One parsed document, without its position (which changes when documents above it come or go). */
    private sealed interface Doc {
        record ClusterConfig(DatapathConfig config) implements Doc {
        }

        record ConfigMapConfig(DatapathConfig config) implements Doc {
        }

        record NodeDoc(Node node) implements Doc {
        }

        record ServiceDoc(Service service) implements Doc {
        }

        record SliceDoc(EndpointSlice slice) implements Doc {
        }

        /** A document that does not affect the datapath (other kinds, a ConfigMap with another name, empty). */
        record Ignored() implements Doc {
        }

        record Problem(String kind, String displayName, String message) implements Doc {
        }
    }

    /** The documents of one text chunk (one document, unless the file could not be split). */
    private record Chunk(Digest digest, List<Doc> docs) {
    }

    /** The documents of a file, or why it could not be read. */
    private record FileDocs(FileTime modified, long size, Instant readAt, List<Chunk> chunks, Optional<String> problem) {
    }

    /** 128 bits of SHA-256 of a chunk's bytes. */
    private record Digest(long high, long low) {
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
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                s.append(p.getFileName()).append(' ').append(a.lastModifiedTime().to(java.util.concurrent.TimeUnit.NANOSECONDS))
                        .append(' ').append(a.size()).append('\n');
            }
            return s.toString();
        } catch (IOException e) {
            return "error " + e.getMessage();
        }
    }

    /**
     * Runs {@code onChange} (on a daemon thread) whenever the kernel reports that a file in the directory was created,
     * written, renamed or removed (inotify, through the JDK's WatchService), so a change is read at once instead of
     * at the next poll. Closing the result stops it.
     */
    AutoCloseable watch(Runnable onChange) throws IOException {
        WatchService service = dir.getFileSystem().newWatchService();
        try {
            dir.register(service, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
                    StandardWatchEventKinds.ENTRY_MODIFY);
        } catch (IOException | RuntimeException e) {
            service.close();
            throw e;
        }
        Thread.ofPlatform().daemon().name("lbmode-state-dir-watch").start(() -> {
            try {
                while (true) {
                    WatchKey key = service.take();
                    key.pollEvents();
                    onChange.run();
                    if (!key.reset()) {
                        return; // the directory is gone: the poll reports it
                    }
                }
            } catch (InterruptedException | ClosedWatchServiceException e) {
                // closed: the agent is stopping
            }
        });
        return service;
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
            held = Optional.empty();
            return new Inputs(Optional.empty(), List.of(), List.of(), List.of(), Optional.of(e.getMessage()));
        }
        Map<Path, FileDocs> next = new HashMap<>();
        for (Path file : files) {
            FileDocs docs = fileDocs(file, cache.get(file));
            next.put(file, docs);
            if (docs.problem().isPresent()) {
                problems.add(file.getFileName() + ": " + docs.problem().get());
                continue;
            }
            int index = 0;
            for (Chunk chunk : docs.chunks()) {
                for (Doc doc : chunk.docs()) {
                    index++;
                    switch (doc) {
                        case Doc.ClusterConfig c -> fromCluster = Optional.of(c.config());
                        case Doc.ConfigMapConfig c -> fromConfigMap = Optional.of(c.config());
                        case Doc.NodeDoc n -> nodes.add(n.node());
                        case Doc.ServiceDoc s -> services.add(s.service());
                        case Doc.SliceDoc s -> slices.add(s.slice());
                        case Doc.Ignored i -> {
                            // Other kinds (NodePool, the tooling's header document, ...) do not affect the datapath.
                        }
                        case Doc.Problem p -> problems.add(file.getFileName() + " document " + index + " (" + p.kind() + " "
                                + p.displayName() + "): " + p.message());
                    }
                }
            }
        }
        cache = next;
        Optional<DatapathConfig> cluster = fromCluster;
        Optional<DatapathConfig> config = fromConfigMap.or(() -> cluster);
        Optional<String> problem = problems.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", problems));
        return new Inputs(config, nodes, objects(services, slices, problem.isPresent()), problem);
    }

    /**
     * What the agent is handed: the objects whose documents were added, changed or removed since the last read, or
     * every object on the first read and whenever a change set could not say the same. A read with a problem is
     * handed whole (the agent keeps the last good objects then) and the next good one too, as are reads holding
     * EndpointSlices without a name or two of one key (the desired state tells those apart by their order).
     */
    private Inputs.ServiceObjects objects(List<Service> services, List<EndpointSlice> slices, boolean problem) {
        Inputs.Every every = new Inputs.Every(services, slices);
        if (problem) {
            held = Optional.empty();
            return every;
        }
        Map<String, Service> nowServices = new HashMap<>(services.size() * 2);
        for (Service s : services) {
            if (s.getMetadata() != null && s.getMetadata().getName() != null) {
                nowServices.put(Inputs.Changed.keyOf(s), s); // of two with one key the later is held, as in a full read
            }
        }
        Map<String, EndpointSlice> nowSlices = new HashMap<>(slices.size() * 2);
        boolean keyed = true;
        for (EndpointSlice s : slices) {
            if (s.getMetadata() == null || s.getMetadata().getName() == null || nowSlices.put(Inputs.Changed.keyOf(s), s) != null) {
                keyed = false;
            }
        }
        Optional<Held> before = held;
        held = keyed ? Optional.of(new Held(nowServices, nowSlices)) : Optional.empty();
        if (before.isEmpty() || !keyed) {
            return every;
        }
        return new Inputs.Changed(changes(before.get().services(), nowServices), changes(before.get().slices(), nowSlices));
    }

    /** Each key whose object is not the same instance as before: the object now, or empty when it is gone. */
    private static <T> Map<String, Optional<T>> changes(Map<String, T> before, Map<String, T> now) {
        Map<String, Optional<T>> out = new HashMap<>();
        now.forEach((key, object) -> {
            if (before.get(key) != object) {
                out.put(key, Optional.of(object));
            }
        });
        before.keySet().forEach(key -> {
            if (!now.containsKey(key)) {
                out.put(key, Optional.empty());
            }
        });
        return out;
    }

    /** The file's documents: the cached ones when the file is unchanged, else its changed documents parsed anew. */
    private static FileDocs fileDocs(Path file, FileDocs cached) {
        Instant now = Instant.now();
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (IOException e) {
            return wholeFile(file, null, 0, now);
        }
        if (cached != null && cached.problem().isEmpty() && cached.modified().equals(attrs.lastModifiedTime())
                && cached.size() == attrs.size()
                && attrs.lastModifiedTime().toInstant().plus(RACY).isBefore(cached.readAt())) {
            return cached;
        }
        if (attrs.size() > KubeYaml.MAX_BYTES || file.toString().endsWith(".json")) {
            return wholeFile(file, attrs.lastModifiedTime(), attrs.size(), now);
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            return wholeFile(file, attrs.lastModifiedTime(), attrs.size(), now);
        }
        Optional<List<byte[]>> split = splitDocuments(bytes);
        if (split.isEmpty()) {
            return wholeFile(file, attrs.lastModifiedTime(), attrs.size(), now);
        }
        Map<Digest, Chunk> known = new HashMap<>();
        if (cached != null) {
            cached.chunks().forEach(c -> known.put(c.digest(), c));
        }
        List<Chunk> chunks = new ArrayList<>(split.get().size());
        for (byte[] text : split.get()) {
            Digest digest = digest(text);
            Chunk chunk = known.get(digest);
            if (chunk == null) {
                List<KubeYaml.Document> parsed;
                try {
                    parsed = KubeYaml.readString(StandardCharsets.UTF_8.newDecoder()
                            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                            .decode(ByteBuffer.wrap(text)).toString());
                } catch (KubeYamlException | CharacterCodingException e) {
                    // The whole file's parse gives the message with the file's own line numbers.
                    return wholeFile(file, attrs.lastModifiedTime(), attrs.size(), now);
                }
                chunk = new Chunk(digest, parsed.stream().map(StateDirSource::interpret).toList());
            }
            chunks.add(chunk);
        }
        return new FileDocs(attrs.lastModifiedTime(), attrs.size(), now, chunks, Optional.empty());
    }

    /** Parses the whole file as one (JSON, too large, or not splittable): one chunk, never reused. */
    private static FileDocs wholeFile(Path file, FileTime modified, long size, Instant now) {
        FileTime time = modified == null ? FileTime.fromMillis(0) : modified;
        try {
            List<Doc> docs = KubeYaml.read(file).stream().map(StateDirSource::interpret).toList();
            return new FileDocs(time, size, now, List.of(new Chunk(new Digest(0, 0), docs)), Optional.empty());
        } catch (KubeYamlException e) {
            return new FileDocs(time, size, now, List.of(), Optional.of(e.getMessage()));
        }
    }

    /**
     * The file's text cut before every document marker ({@code ---} or {@code ...} at the start of a line, followed by
     * a blank or the line's end): YAML ends every scalar at such a line, so each piece holds at most one document.
     * Empty when the file needs the parser's view of the whole stream: directives ({@code %YAML}) or a byte order mark.
     */
    static Optional<List<byte[]>> splitDocuments(byte[] b) {
        if (b.length >= 3 && (b[0] & 0xff) == 0xef && (b[1] & 0xff) == 0xbb && (b[2] & 0xff) == 0xbf) {
            return Optional.empty();
        }
        List<byte[]> out = new ArrayList<>();
        int start = 0;
        for (int line = 0; line < b.length; ) {
            if (b[line] == '%') {
                return Optional.empty();
            }
            if (line > start && isMarker(b, line)) {
                out.add(java.util.Arrays.copyOfRange(b, start, line));
                start = line;
            }
            int nl = line;
            while (nl < b.length && b[nl] != '\n') {
                nl++;
            }
            line = nl + 1;
        }
        if (start < b.length) {
            out.add(java.util.Arrays.copyOfRange(b, start, b.length));
        }
        return Optional.of(out);
    }

    private static boolean isMarker(byte[] b, int at) {
        if (at + 3 > b.length) {
            return false;
        }
        byte c = b[at];
        if ((c != '-' && c != '.') || b[at + 1] != c || b[at + 2] != c) {
            return false;
        }
        if (at + 3 == b.length) {
            return true;
        }
        byte after = b[at + 3];
        return after == ' ' || after == '\t' || after == '\n' || after == '\r';
    }

    private static Digest digest(byte[] text) {
        try {
            ByteBuffer d = ByteBuffer.wrap(MessageDigest.getInstance("SHA-256").digest(text));
            return new Digest(d.getLong(), d.getLong());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    private static Doc interpret(KubeYaml.Document doc) {
        try {
            return switch (doc.kind()) {
                case "Cluster" -> doc.isCluster()
                        ? new Doc.ClusterConfig(DatapathConfig.fromCluster(KubeYaml.toCluster(doc.node())))
                        : new Doc.Ignored();
                case "ConfigMap" -> {
                    ConfigMap cm = convert(doc.node(), ConfigMap.class);
                    yield cm.getMetadata() != null && DatapathConfig.CONFIG_MAP_NAME.equals(cm.getMetadata().getName())
                            ? new Doc.ConfigMapConfig(DatapathConfig.fromConfigMapData(cm.getData()))
                            : new Doc.Ignored();
                }
                case "Node" -> new Doc.NodeDoc(convert(doc.node(), Node.class));
                // Kept between reads: only what the desired state reads (as the informers keep them).
                case "Service" -> new Doc.ServiceDoc(SlimStore.slim(convert(doc.node(), Service.class)));
                case "EndpointSlice" -> new Doc.SliceDoc(SlimStore.slim(convert(doc.node(), EndpointSlice.class)));
                default -> new Doc.Ignored();
            };
        } catch (KubeYamlException | IllegalArgumentException e) {
            return new Doc.Problem(doc.kind(), doc.displayName(), e.getMessage());
        }
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
