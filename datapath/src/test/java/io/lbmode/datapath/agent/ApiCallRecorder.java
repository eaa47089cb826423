package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * Writes every request the mock API server served, as RBAC lines {@code VERB group/resource[/subresource]} (core
 * group empty), to {@code target/api-calls/<TestClass>.txt}: the chart's RBAC test checks the agent's ClusterRole
 * grants each of them. Taken from the server's request log, never written by hand. Requests of the test's own
 * client carry {@link #TEST_USER_AGENT} and are left out.
 */
final class ApiCallRecorder {
    static final String TEST_USER_AGENT = "lbmode-datapath-test";

    private ApiCallRecorder() {
    }

    static void drain(KubernetesMockServer server, Class<?> testClass) throws IOException, InterruptedException {
        Set<String> lines = new TreeSet<>();
        RecordedRequest r;
        while ((r = server.takeRequest(200, TimeUnit.MILLISECONDS)) != null) {
            if (!TEST_USER_AGENT.equals(r.getHeader("User-Agent"))) {
                rbacLine(r.getMethod(), r.getPath()).ifPresent(lines::add);
            }
        }
        Path file = Path.of(System.getProperty("basedir", "."), "target", "api-calls", testClass.getSimpleName() + ".txt");
        Files.createDirectories(file.getParent());
        if (Files.exists(file)) { // several tests of one class add to the same file
            lines.addAll(Files.readAllLines(file).stream().filter(l -> !l.isBlank()).toList());
        }
        Files.write(file, lines);
    }

    static Optional<String> rbacLine(String method, String pathAndQuery) {
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
            i += 2;
        }
        if (i >= parts.length) {
            return Optional.empty();
        }
        String resource = parts[i];
        boolean named = i + 1 < parts.length;
        String sub = i + 2 < parts.length ? "/" + parts[i + 2] : "";
        boolean watch = query.matches("(.*&)?watch=(true|1)(&.*)?");
        String verb = switch (method) {
            case "GET" -> watch ? "watch" : named ? "get" : "list";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> named ? "delete" : "deletecollection";
            default -> method.toLowerCase(java.util.Locale.ROOT);
        };
        return Optional.of(verb + " " + group + "/" + resource + sub);
    }
}
