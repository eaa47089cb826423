package io.lbmode.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.lbmode.crds.cluster.v1.Cluster;
import java.io.IOException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The chart's {@code crds/} holds the one committed copy of the CRDs the crds module generates (in its jar, under
 * {@code META-INF/fabric8/}). Helm installs files under the chart's crds/ only on first install, so a stale copy would
 * go unnoticed: fail instead (crds' {@code GeneratedCrdTest} checks the same; this one also runs from the e2e module).
 */
@Tag("unit")
class ChartCrdsTest {

    private static final String FIX = "refresh them with: ./mvnw -B -q process-classes -pl crds && "
            + "cp crds/target/classes/META-INF/fabric8/*.yml helm/lbmode/crds/";

    @Test
    void chartCrdsAreExactCopiesOfTheGeneratedOnes() throws Exception {
        Path location = Path.of(Cluster.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        try (FileSystem jar = Files.isDirectory(location) ? null : FileSystems.newFileSystem(location)) {
            Path generated = (jar == null ? location : jar.getPath("/")).resolve("META-INF/fabric8");
            Path chart = HelmChart.chartDir().resolve("crds");
            List<String> expected = ymlFiles(generated);
            assertThat(expected).as("the crds module generates its CRDs into META-INF/fabric8 (none found in %s)", location)
                    .isNotEmpty();
            assertThat(ymlFiles(chart)).as("CRD files in the chart; %s", FIX).containsExactlyInAnyOrderElementsOf(expected);
            for (String name : expected) {
                assertThat(Files.readString(chart.resolve(name))).as("helm/lbmode/crds/%s differs from the generated %s; %s",
                        name, name, FIX).isEqualTo(Files.readString(generated.resolve(name)));
            }
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
