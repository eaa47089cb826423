package io.lbmode.validation;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.yaml.KubeYaml;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Whatever a document holds, the engine answers with problems that name a field, never with an exception:
 * thousands of seeded random mutations (wrong types, nulls, removals, odd strings) of the full example.
 */
@Tag("unit")
class MutationRobustnessTest {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    @Test
    void randomMutationsNeverThrowAndAlwaysNameAField() throws Exception {
        Path examples = Path.of(System.getProperty("basedir", ".")).resolve("../examples").normalize();
        ObjectNode full = (ObjectNode) KubeYaml.read(examples.resolve("cluster-full.yaml")).get(2).node();
        Cluster old = KubeYaml.toCluster(full);
        Random random = new Random(20261125);
        int denied = 0;
        for (int i = 0; i < 1500; i++) {
            ObjectNode doc = full.deepCopy();
            int mutations = 1 + random.nextInt(4);
            for (int m = 0; m < mutations; m++) {
                mutate(doc, random);
            }
            Verdict create = ClusterValidator.validateCreate(doc);
            Verdict update = ClusterValidator.validateUpdate(old, doc);
            for (Problem p : concat(create.problems(), update.problems())) {
                assertThat(p.field()).as("case %d: %s", i, doc)
                        .matches("(apiVersion|kind|metadata|spec)([.\\[].*)?|\\(document\\)");
                assertThat(p.message()).isNotBlank().doesNotContain("Exception").doesNotContain("\n");
            }
            denied += update.allowed() ? 0 : 1;
        }
        // Most random changes touch an immutable or constrained field; the engine must notice.
        assertThat(denied).isGreaterThan(750);
    }

    private static List<Problem> concat(List<Problem> a, List<Problem> b) {
        List<Problem> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** Replaces or removes one random value somewhere inside the document. */
    private static void mutate(JsonNode root, Random random) {
        JsonNode parent = root;
        JsonNode child = root;
        String key = null;
        int index = -1;
        for (int depth = 0; depth < 8 && child.isContainerNode() && !child.isEmpty(); depth++) {
            parent = child;
            if (child.isObject()) {
                List<String> names = new ArrayList<>();
                child.fieldNames().forEachRemaining(names::add);
                key = names.get(random.nextInt(names.size()));
                index = -1;
                child = child.get(key);
            } else {
                index = random.nextInt(child.size());
                key = null;
                child = child.get(index);
            }
            if (random.nextInt(4) == 0) {
                break;
            }
        }
        JsonNode value = switch (random.nextInt(10)) {
            case 0 -> F.nullNode();
            case 1 -> F.numberNode(random.nextInt(1 << 20) - 1000);
            case 2 -> F.numberNode(random.nextDouble() * 1e12);
            case 3 -> F.textNode("");
            case 4 -> F.textNode(List.of("dsr", "snat", "10.0.0.0/8", "1.16.0", "256.1.1.1", "a-b", "enable", "admin")
                    .get(random.nextInt(8)));
            case 5 -> F.booleanNode(random.nextBoolean());
            case 6 -> F.arrayNode().add(F.objectNode().put("x", 1)).add(F.nullNode());
            case 7 -> F.objectNode().put("unexpected", true);
            case 8 -> F.numberNode(Long.MAX_VALUE);
            default -> null; // remove
        };
        if (parent instanceof ObjectNode object && key != null) {
            if (value == null) object.remove(key); else object.set(key, value);
        } else if (parent instanceof ArrayNode array && index >= 0) {
            if (value == null) array.remove(index); else array.set(index, value);
        }
    }
}
