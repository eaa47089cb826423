package io.lbmode.operator.support;

import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * Records the API calls the operator made against the mock API server as RBAC lines
 * ({@code VERB group/resource[/subresource]}, core group empty) in {@code target/api-calls/<TestClass>.txt}, for the
 * chart's RBAC test. Read from the mock server's request log; requests of the tests' own client (user agent
 * {@value TestClients#TEST_USER_AGENT}) are left out, they are not the operator's.
 */
public final class ApiCalls {
    private ApiCalls() {
    }

    public static void drain(KubernetesMockServer server, Class<?> testClass) {
        Set<String> lines = new TreeSet<>();
        try {
            RecordedRequest request;
            while ((request = server.takeRequest(200, TimeUnit.MILLISECONDS)) != null) {
                if (TestClients.TEST_USER_AGENT.equals(request.getHeader("User-Agent"))) {
                    continue;
                }
                rbacLine(request.getMethod(), request.getPath()).ifPresent(lines::add);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        write(Path.of("target", "api-calls", testClass.getSimpleName() + ".txt"), lines);
    }

    static void write(Path file, Set<String> lines) {
        try {
            Files.createDirectories(file.getParent());
            Set<String> all = new TreeSet<>(lines);
            if (Files.exists(file)) {
                all.addAll(Files.readAllLines(file).stream().filter(l -> !l.isBlank()).toList());
            }
            Files.write(file, all);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code GET /api/v1/namespaces/ns/configmaps?watch=true} becomes {@code watch /configmaps}. */
    public static Optional<String> rbacLine(String method, String pathAndQuery) {
        String path = pathAndQuery;
        String query = "";
        int q = path.indexOf('?');
        if (q >= 0) {
            query = path.substring(q + 1);
            path = path.substring(0, q);
        }
        String[] parts = path.replaceAll("^/+", "").split("/");
        String group;
        int i;
        if (parts.length >= 2 && parts[0].equals("api")) {
            group = "";
            i = 2;
        } else if (parts.length >= 3 && parts[0].equals("apis")) {
            group = parts[1];
            i = 3;
        } else {
            return Optional.empty(); // discovery and other non-resource URLs
        }
        if (i < parts.length && parts[i].equals("namespaces") && i + 2 < parts.length) {
            i += 2; // namespaces/<ns>/<resource>...
        }
        if (i >= parts.length) {
            return Optional.empty();
        }
        String resource = parts[i];
        boolean named = i + 1 < parts.length;
        String subresource = i + 2 < parts.length ? "/" + parts[i + 2] : "";
        boolean watch = query.contains("watch=true") || query.contains("watch=1");
        String verb = switch (method.toUpperCase()) {
            case "GET" -> watch ? "watch" : named ? "get" : "list";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> named ? "delete" : "deletecollection";
            default -> method.toLowerCase();
        };
        return Optional.of(verb + " " + group + "/" + resource + subresource);
    }
}
