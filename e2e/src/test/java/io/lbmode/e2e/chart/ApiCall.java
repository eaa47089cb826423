package io.lbmode.e2e.chart;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * One API request recorded by the operator's or the datapath's tests: a line {@code VERB group/resource[/subresource]}
 * in {@code <module>/target/api-calls/<TestClass>.txt}, the core group written as empty ({@code get /configmaps}).
 */
record ApiCall(String verb, String group, String resource, String source) {

    static final Set<String> VERBS = Set.of("get", "list", "watch", "create", "update", "patch", "delete",
            "deletecollection");

    /** resource or resource/subresource, as RBAC rules name it. */
    String rbacResource() {
        return resource;
    }

    @Override
    public String toString() {
        return verb + " " + group + "/" + resource;
    }

    static ApiCall parse(String line, String source) {
        String[] parts = line.trim().split("\\s+");
        if (parts.length != 2) {
            throw new IllegalArgumentException(source + ": expected 'VERB group/resource[/subresource]', got '" + line + "'");
        }
        String verb = parts[0].toLowerCase(Locale.ROOT);
        if (!VERBS.contains(verb)) {
            throw new IllegalArgumentException(source + ": '" + parts[0] + "' is not a Kubernetes RBAC verb " + VERBS);
        }
        int slash = parts[1].indexOf('/');
        if (slash < 0 || slash == parts[1].length() - 1) {
            throw new IllegalArgumentException(source + ": '" + parts[1]
                    + "' is not group/resource (core group: '/configmaps')");
        }
        return new ApiCall(verb, parts[1].substring(0, slash), parts[1].substring(slash + 1), source);
    }

    /**
     * Every call recorded by {@code module}'s tests.
     *
     * @throws AssertionError naming the folder and the command to run when nothing was recorded
     */
    static List<ApiCall> recordedBy(Path root, String module) throws IOException {
        Path dir = root.resolve(module).resolve("target/api-calls");
        List<Path> files;
        if (Files.isDirectory(dir)) {
            try (Stream<Path> list = Files.list(dir)) {
                files = list.filter(p -> p.toString().endsWith(".txt")).sorted().toList();
            }
        } else {
            files = List.of();
        }
        if (files.isEmpty()) {
            throw new AssertionError("No API calls recorded in " + dir + ": the " + module + " module's tests against "
                    + "the mock API server write them there. Run them first, e.g. ./mvnw -B verify (the e2e module "
                    + "builds after " + module + "), or ./mvnw -B test -pl " + module + ".");
        }
        List<ApiCall> calls = new ArrayList<>();
        for (Path file : files) {
            String source = root.relativize(file).toString();
            for (String line : Files.readAllLines(file)) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    calls.add(parse(line, source));
                }
            }
        }
        return calls;
    }
}
