package io.lbmode.testsupport;

import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * The API calls a component made against a fabric8 mock API server, as RBAC lines
 * {@code VERB group/resource[/subresource]} (core group empty), in {@code target/api-calls/<TestClass>.txt}: the
 * e2e module's chart RBAC test checks that the chart's Roles grant each of them. Taken from the server's request log,
 * never written by hand; requests of the test's own client (its user agent) are left out.
 */
public final class ApiCallLog {
    private ApiCallLog() {
    }

    /**
     * Takes every request the server recorded, except those sent with {@code testUserAgent}, and adds their RBAC
     * lines to {@code target/api-calls/<testClass>.txt} of the module under test (several tests of one class add to
     * the same file).
     */
    public static void drain(KubernetesMockServer server, Class<?> testClass, String testUserAgent) {
        Set<String> lines = new TreeSet<>();
        try {
            RecordedRequest request;
            while ((request = server.takeRequest(200, TimeUnit.MILLISECONDS)) != null) {
                if (!testUserAgent.equals(request.getHeader("User-Agent"))) {
                    rbacLine(request.getMethod(), request.getPath()).ifPresent(lines::add);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Path file = Path.of(System.getProperty("basedir", "."), "target", "api-calls", testClass.getSimpleName() + ".txt");
        try {
            Files.createDirectories(file.getParent());
            if (Files.exists(file)) {
                lines.addAll(Files.readAllLines(file).stream().filter(l -> !l.isBlank()).toList());
            }
            Files.write(file, lines);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * {@code GET /api/v1/namespaces/ns/configmaps?watch=true} becomes {@code watch /configmaps}; discovery and other
     * non-resource URLs give nothing.
     */
    public static Optional<String> rbacLine(String method, String pathAndQuery) {
        int q = pathAndQuery.indexOf('?');
        String path = q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
        String query = q < 0 ? "" : pathAndQuery.substring(q + 1);
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
            return Optional.empty();
        }
        if (i + 2 < parts.length && parts[i].equals("namespaces")) {
            i += 2; // namespaces/<ns>/<resource>...
        }
        if (i >= parts.length) {
            return Optional.empty();
        }
        String resource = parts[i];
        boolean named = i + 1 < parts.length;
        String subresource = i + 2 < parts.length ? "/" + parts[i + 2] : "";
        boolean watch = query.matches("(.*&)?watch=(true|1)(&.*)?");
        String verb = switch (method.toUpperCase(Locale.ROOT)) {
            case "GET" -> watch ? "watch" : named ? "get" : "list";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> named ? "delete" : "deletecollection";
            default -> method.toLowerCase(Locale.ROOT);
        };
        return Optional.of(verb + " " + group + "/" + resource + subresource);
    }
}
