package io.lbmode.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The chart ships copies of the CRDs the crds module generates and commits at the top-level {@code crds/*.yml}.
 * Helm installs files under the chart's crds/ only on first install, so a stale copy would go unnoticed: fail instead.
 * Fix a failure with {@code helm/sync-crds.sh}.
 */
@Tag("unit")
class ChartCrdsTest {

    private static final String FIX = "run helm/sync-crds.sh to copy crds/*.yml into helm/lbmode/crds/";

    @Test
    void chartCrdsAreExactCopiesOfTheGeneratedOnes() throws IOException {
        Path generated = HelmChart.root().resolve("crds");
        Path chart = HelmChart.chartDir().resolve("crds");
        List<String> expected = ymlFiles(generated);
        assertThat(expected).as("the crds module commits its generated CRDs as crds/*.yml (none found in %s)", generated)
                .isNotEmpty();
        assertThat(ymlFiles(chart)).as("CRD files in the chart; %s", FIX).containsExactlyInAnyOrderElementsOf(expected);
        for (String name : expected) {
            assertThat(Files.readString(chart.resolve(name))).as("helm/lbmode/crds/%s differs from crds/%s; %s",
                    name, name, FIX).isEqualTo(Files.readString(generated.resolve(name)));
        }
    }

    @Test
    void chartCrdsAreTheClusterAndNodeDataplaneDefinitions() throws IOException {
        KubernetesSerialization serialization = new KubernetesSerialization();
        Path chart = HelmChart.chartDir().resolve("crds");
        List<String> names = ymlFiles(chart).stream().map(f -> {
            try {
                return serialization.unmarshal(Files.readString(chart.resolve(f)), CustomResourceDefinition.class)
                        .getMetadata().getName();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).toList();
        assertThat(names).containsExactlyInAnyOrder("clusters.baremetal.cluster.gke.io", "nodedataplanes.lbmode.io");
    }

    private static List<String> ymlFiles(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yml") || n.endsWith(".yaml"))
                    .sorted().toList();
        }
    }
}
