package io.lbmode.validation;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.forwardmode.Migration;
import io.lbmode.yaml.KubeYaml;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/** Runs every case of src/test/resources/fixtures/{create,update}.yaml (format: fixtures/README.md). */
@Tag("unit")
class ValidationFixturesTest {

    @org.junit.jupiter.api.Test
    void theSeedFixtureIsTheShippedExample() throws Exception {
        java.nio.file.Path example = java.nio.file.Path.of(System.getProperty("basedir", "."))
                .resolve("../examples/cluster-dsr.yaml").normalize();
        assertThat(KubeYaml.readString(resource("seed.yaml")).getFirst().node())
                .isEqualTo(KubeYaml.read(example).getFirst().node());
    }

    @TestFactory
    Stream<DynamicTest> create() throws Exception {
        return cases("create.yaml").stream().map(c -> DynamicTest.dynamicTest(c.path("name").asText(), () -> {
            ObjectNode document = patched(base(c), c.path("patch"));
            Verdict verdict = ClusterValidator.validateCreate(document);
            check(c, verdict);
            // The typed entry point must agree whenever the document converts and the schema found nothing.
            boolean schemaProblems = verdict.problems().stream().anyMatch(p -> p.message().contains("is not allowed; use one of")
                    || p.message().startsWith("must be") || p.message().startsWith("is out of range"));
            if (!schemaProblems) {
                Verdict typed = ClusterValidator.validateCreate(KubeYaml.toCluster(document));
                assertThat(typed.problems()).containsExactlyInAnyOrderElementsOf(verdict.problems());
            }
        }));
    }

    @TestFactory
    Stream<DynamicTest> update() throws Exception {
        return cases("update.yaml").stream().map(c -> DynamicTest.dynamicTest(c.path("name").asText(), () -> {
            ObjectNode base = base(c);
            Cluster old = KubeYaml.toCluster(patched(base, c.path("old")));
            ObjectNode updated = patched(base, c.path("new"));
            Verdict verdict = ClusterValidator.validateUpdate(old, updated);
            check(c, verdict);
            Verdict typed = ClusterValidator.validateUpdate(old, KubeYaml.toCluster(updated));
            assertThat(typed.problems()).containsExactlyInAnyOrderElementsOf(verdict.problems());
            if (verdict.migration().isPresent()) {
                Migration m = verdict.migration().get();
                // Applying the migration gives an object the same rules accept, with the mode unchanged.
                Cluster migrated = m.applyTo(KubeYaml.toCluster(updated));
                assertThat(ForwardMode.field(migrated)).contains(m.mode());
                assertThat(ForwardMode.effective(migrated)).isEqualTo(ForwardMode.effective(old));
                if (verdict.allowed()) {
                    assertThat(ClusterValidator.validateUpdate(old, migrated).problems()).isEmpty();
                }
            }
        }));
    }

    private static void check(JsonNode c, Verdict verdict) {
        List<String> expected = new ArrayList<>();
        c.path("problems").forEach(p -> expected.add(p.asText()));
        List<String> actual = verdict.problems().stream().map(Problem::toString).toList();
        assertThat(actual).as("problems").hasSameSizeAs(expected);
        Set<Integer> used = new HashSet<>();
        for (String want : expected) {
            String field = want.substring(0, want.indexOf(": "));
            String message = want.substring(want.indexOf(": ") + 2);
            int match = -1;
            for (int i = 0; i < verdict.problems().size() && match < 0; i++) {
                Problem p = verdict.problems().get(i);
                if (!used.contains(i) && p.field().equals(field) && p.message().contains(message)) {
                    match = i;
                }
            }
            assertThat(match).as("a problem '%s' among %s", want, actual).isNotNegative();
            used.add(match);
        }
        assertThat(verdict.allowed()).isEqualTo(expected.isEmpty());
        c.path("warnings").forEach(w -> assertThat(verdict.warnings()).as("warnings")
                .anySatisfy(actualWarning -> assertThat(actualWarning).contains(w.asText())));
        if (c.has("migration")) {
            String want = c.path("migration").asText();
            assertThat(verdict.migration().map(Migration::mode).map(Object::toString).orElse("none")).isEqualTo(want);
        }
    }

    static List<JsonNode> cases(String name) throws Exception {
        List<JsonNode> cases = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (KubeYaml.Document doc : KubeYaml.readString(resource(name))) {
            assertThat(names.add(doc.node().path("name").asText())).as("unique case name %s", doc.node().path("name")).isTrue();
            cases.add(doc.node());
        }
        return cases;
    }

    static ObjectNode base(JsonNode c) throws Exception {
        return (ObjectNode) KubeYaml.readString(resource(c.path("base").asText() + ".yaml")).getFirst().node();
    }

    /** RFC 7386 JSON merge patch on a copy: objects merge, null removes, anything else replaces. */
    static ObjectNode patched(ObjectNode target, JsonNode patch) {
        ObjectNode copy = target.deepCopy();
        merge(copy, patch);
        return copy;
    }

    private static void merge(ObjectNode target, JsonNode patch) {
        for (Iterator<Map.Entry<String, JsonNode>> it = patch.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            JsonNode value = field.getValue();
            if (value.isNull()) {
                target.remove(field.getKey());
            } else if (value.isObject() && target.get(field.getKey()) instanceof ObjectNode existing) {
                merge(existing, value);
            } else if (value.isObject()) {
                ObjectNode fresh = target.putObject(field.getKey());
                merge(fresh, value);
            } else {
                target.set(field.getKey(), value.deepCopy());
            }
        }
    }

    static String resource(String name) throws IOException {
        try (InputStream in = ValidationFixturesTest.class.getResourceAsStream("/fixtures/" + name)) {
            assertThat(in).as("fixture %s", name).isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
