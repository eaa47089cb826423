package io.lbmode.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * What the datapath image ships ({@code images/datapath.Dockerfile}: {@code datapath/target/lbmode-datapath.jar} and
 * {@code datapath/target/lib/}) is the agent only: no lab, demo, benchmark, fake or chart (java.awt) code, and no
 * library only the lab or the tests use. The build packages the datapath module before this one (a test dependency).
 */
@Tag("unit")
class AgentJarContentsTest {
    static final Path DATAPATH = Path.of(System.getProperty("lbmode.root", "..")).toAbsolutePath().normalize()
            .resolve("datapath/target");

    @Test
    void theAgentJarHoldsNoLabBenchmarkFakeOrAwtClass() throws IOException {
        Path jar = DATAPATH.resolve("lbmode-datapath.jar");
        assertThat(jar).as("build the datapath module first: ./mvnw -B package -pl datapath -am -DskipTests").isRegularFile();
        List<String> classes = new ArrayList<>();
        List<String> awtUsers = new ArrayList<>();
        try (JarFile jf = new JarFile(jar.toFile())) {
            for (JarEntry e : jf.stream().toList()) {
                if (!e.getName().endsWith(".class")) {
                    continue;
                }
                classes.add(e.getName());
                try (InputStream in = jf.getInputStream(e)) {
                    // class file constant pools name referenced classes in internal form
                    if (new String(in.readAllBytes(), StandardCharsets.ISO_8859_1).contains("java/awt/")) {
                        awtUsers.add(e.getName());
                    }
                }
            }
        }
        assertThat(classes).as("the agent's own classes").anyMatch(c -> c.equals("io/lbmode/datapath/Main.class"));
        assertThat(classes).as("lab classes").noneMatch(c -> c.startsWith("io/lbmode/lab/"));
        assertThat(classes).as("benchmarks").noneMatch(c -> c.contains("Benchmark"));
        assertThat(classes).as("fakes").noneMatch(c -> simpleName(c).startsWith("Fake"));
        assertThat(classes).as("test fixtures").noneMatch(c -> c.startsWith("io/lbmode/datapath/fixtures/"));
        assertThat(awtUsers).as("classes referencing java.awt").isEmpty();
    }

    @Test
    void theAgentLibrariesHoldNothingOnlyTheLabOrTheTestsUse() throws IOException {
        Path lib = DATAPATH.resolve("lib");
        assertThat(lib).as("build the datapath module first: ./mvnw -B package -pl datapath -am -DskipTests").isDirectory();
        List<String> jars;
        try (Stream<Path> files = Files.list(lib)) {
            jars = files.map(p -> p.getFileName().toString()).sorted().toList();
        }
        assertThat(jars).as("the agent's libraries").anyMatch(j -> j.startsWith("lbmode-crds"));
        assertThat(jars).as("lab, test-support and test jars in the agent's libraries")
                .noneMatch(j -> j.startsWith("lbmode-lab") || j.startsWith("lbmode-test-support") || j.contains("-tests")
                        || j.startsWith("lbmode-datapath"));
        assertThat(jars).as("test libraries in the agent's libraries")
                .noneMatch(j -> j.startsWith("junit-") || j.startsWith("assertj-") || j.startsWith("opentest4j")
                        || j.startsWith("kubernetes-server-mock") || j.startsWith("mockwebserver"));
        // fabric8 loads every resource class of every model jar on the class path when it starts: only the models the
        // agent reads and the client's own start-up and list calls need (datapath/pom.xml).
        assertThat(jars.stream().filter(j -> j.startsWith("kubernetes-model-")).map(j -> j.replaceFirst("-[0-9][^-]*\\.jar$", "")))
                .as("fabric8 model jars in the agent's libraries")
                .containsExactlyInAnyOrder("kubernetes-model-apps", "kubernetes-model-autoscaling", "kubernetes-model-batch",
                        "kubernetes-model-certificates", "kubernetes-model-common", "kubernetes-model-core",
                        "kubernetes-model-discovery", "kubernetes-model-extensions");
    }

    private static String simpleName(String entry) {
        String name = entry.substring(entry.lastIndexOf('/') + 1);
        return name.substring(0, name.length() - ".class".length());
    }
}
