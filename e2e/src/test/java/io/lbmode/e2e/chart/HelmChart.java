package io.lbmode.e2e.chart;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The chart under test, rendered by the real Helm engine (helm-java's native library). */
final class HelmChart {

    static final String RELEASE = "lbmode";
    static final String NAMESPACE = "lbmode-system";

    private HelmChart() {
    }

    /** The repository root: the pom passes it, so the tests also work when started from the e2e folder. */
    static Path root() {
        return Path.of(System.getProperty("lbmode.root", "..")).toAbsolutePath().normalize();
    }

    static Path chartDir() {
        return root().resolve("helm/lbmode");
    }

    static LintResult lint() {
        return new Helm(chartDir()).lint().strict().call();
    }

    /** Renders with {@code --set key=value} for each entry; throws IllegalStateException with Helm's message on error. */
    static Rendered template(Map<String, Object> values) {
        TemplateCommand command = new Helm(chartDir()).template().withName(RELEASE).withNamespace(NAMESPACE);
        values.forEach(command::set);
        return new Rendered(command.call());
    }

    /** Renders with a values file (for values --set can't express, such as lists of objects). */
    static Rendered template(String valuesYaml) {
        try {
            Path file = Files.createTempFile("lbmode-values", ".yaml");
            try {
                Files.writeString(file, valuesYaml);
                return new Rendered(new Helm(chartDir()).template().withName(RELEASE).withNamespace(NAMESPACE)
                        .withValuesFile(file).call());
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The output of {@code helm template}: its text and every document parsed into its fabric8 type. */
    record Rendered(String yaml, List<HasMetadata> objects) {
        private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

        Rendered(String yaml) {
            this(yaml, parse(yaml));
        }

        private static List<HasMetadata> parse(String yaml) {
            List<HasMetadata> objects = new ArrayList<>();
            // Helm separates documents with "---" lines and heads each with "# Source: <template>".
            for (String document : yaml.split("(?m)^---\\s*$")) {
                if (document.lines().allMatch(l -> l.isBlank() || l.startsWith("#"))) {
                    continue;
                }
                KubernetesResource parsed = SERIALIZATION.unmarshal(document);
                if (!(parsed instanceof HasMetadata object)) {
                    throw new AssertionError("rendered document is not a Kubernetes object:\n" + document);
                }
                objects.add(object);
            }
            return List.copyOf(objects);
        }

        <T extends HasMetadata> List<T> all(Class<T> type) {
            return objects.stream().filter(type::isInstance).map(type::cast).toList();
        }

        <T extends HasMetadata> T one(Class<T> type, String name) {
            List<T> matches = all(type).stream().filter(o -> o.getMetadata().getName().equals(name)).toList();
            if (matches.size() != 1) {
                throw new AssertionError("expected one " + type.getSimpleName() + " named " + name + ", found "
                        + matches.size() + " among " + objects.stream()
                        .map(o -> o.getKind() + "/" + o.getMetadata().getName()).toList());
            }
            return matches.getFirst();
        }

        <T extends HasMetadata> T only(Class<T> type) {
            List<T> matches = all(type);
            if (matches.size() != 1) {
                throw new AssertionError("expected one " + type.getSimpleName() + ", found " + matches.size());
            }
            return matches.getFirst();
        }
    }
}
