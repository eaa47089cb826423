package io.lbmode.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithName;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The chart and the code agree: every LBMODE_* variable the chart sets is a setting the operator reads (from its
 * {@code @ConfigMapping} interface or a {@code @ConfigProperty}), and the datapath jar the image packages holds the
 * entrypoint class and the compiled BPF objects.
 */
@Tag("apiserver")
class ChartOperatorContractTest {

    private static MockApiServer api;

    @BeforeAll
    static void start() {
        api = new MockApiServer();
    }

    @AfterAll
    static void stop() {
        api.close();
    }

    @Test
    void everyOperatorSettingTheChartSetsIsOneTheOperatorReads() throws Exception {
        Set<String> known = new TreeSet<>();
        Class<?> config = Class.forName("io.lbmode.operator.config.OperatorConfig");
        collect(config.getAnnotation(ConfigMapping.class).prefix(), config, known);
        known.addAll(configPropertiesInSources(HelmChart.root().resolve("operator/src/main/java")));
        assertThat(known).as("settings found in the operator").contains("LBMODE_DATAPATH_IMAGE");

        for (HelmChart.Rendered rendered : new HelmChart.Rendered[] {HelmChart.template(java.util.Map.of()),
                HelmChart.template(ChartRenderTest.ALL_OPTIONS)}) {
            Container operator = rendered.only(Deployment.class).getSpec().getTemplate().getSpec().getContainers()
                    .getFirst();
            assertThat(operator.getEnv()).filteredOn(e -> e.getName().startsWith("LBMODE_"))
                    .allSatisfy(e -> assertThat(known).as("the operator reads no setting named %s", e.getName())
                            .contains(e.getName()));
        }
    }

    @Test
    void theOperatorImageAndTheLauncherRunWithTheSameJvmOptions() throws Exception {
        String dockerfile = Files.readString(HelmChart.root().resolve("images/operator.Dockerfile"));
        assertThat(dockerfile).contains("COPY operator/jvm.options /deployments/jvm.options")
                .contains("\"java\", \"@/deployments/jvm.options\", \"-jar\", \"/deployments/quarkus-run.jar\"");
        assertThat(Files.readString(HelmChart.root().resolve("images/operator.Dockerfile.dockerignore")))
                .contains("!operator/jvm.options");
        assertThat(Files.readString(HelmChart.root().resolve("lbmode"))).contains("@\"$ROOT/operator/jvm.options\"");
        // Quarkus logs through JBoss LogManager only when the JVM starts with it (the image did so before the file).
        assertThat(Files.readAllLines(HelmChart.root().resolve("operator/jvm.options")))
                .contains("-Djava.util.logging.manager=org.jboss.logmanager.LogManager", "-XX:+ExitOnOutOfMemoryError");
    }

    @Test
    void theDatapathJarHoldsTheImageEntrypointAndTheBpfObjects() throws Exception {
        Path jar = HelmChart.root().resolve("datapath/target/lbmode-datapath.jar");
        assertThat(jar).as("build it with ./mvnw -B package -pl datapath -am -DskipTests").exists();
        String dockerfile = Files.readString(HelmChart.root().resolve("images/datapath.Dockerfile"));
        assertThat(dockerfile).contains("\"io.lbmode.datapath.Main\"")
                .contains("\"@/app/jvm.options\", \"-cp\", \"/app/lbmode-datapath.jar:/app/lib/*\"")
                .contains("COPY datapath/jvm.options /app/jvm.options");
        // An agent out of heap exits (and the kubelet restarts it) instead of staying half alive.
        assertThat(Files.readAllLines(HelmChart.root().resolve("datapath/jvm.options"))).as("the agent's JVM options")
                .contains("--enable-native-access=ALL-UNNAMED", "-XX:+ExitOnOutOfMemoryError");
        assertThat(Files.readString(HelmChart.root().resolve("lbmode"))).contains("@\"$ROOT/datapath/jvm.options\"");
        try (JarFile file = new JarFile(jar.toFile())) {
            assertThat(file.getEntry("io/lbmode/datapath/Main.class")).as("entrypoint class").isNotNull();
            assertThat(file.stream().map(e -> e.getName()).filter(n -> n.startsWith("bpf/") && n.endsWith(".o")))
                    .as("compiled BPF objects under bpf/").isNotEmpty();
        }
    }

    /** Property names of a SmallRye @ConfigMapping interface, as environment variables. */
    private static void collect(String prefix, Class<?> type, Set<String> into) {
        for (Method method : type.getDeclaredMethods()) {
            if (method.isDefault() || Modifier.isStatic(method.getModifiers()) || method.getParameterCount() > 0) {
                continue;
            }
            WithName withName = method.getAnnotation(WithName.class);
            String name = prefix + "." + (withName != null ? withName.value() : kebab(method.getName()));
            Class<?> result = method.getReturnType();
            if (result.isInterface() && result.getDeclaringClass() != null) {
                collect(name, result, into);
            } else {
                into.add(env(name));
            }
        }
    }

    private static final Pattern CONFIG_PROPERTY = Pattern.compile("@ConfigProperty\\(name\\s*=\\s*\"(lbmode\\.[^\"]+)\"");

    /** Names read with MicroProfile's @ConfigProperty (outside the mapping interface). */
    private static Set<String> configPropertiesInSources(Path sources) throws IOException {
        Set<String> names = new TreeSet<>();
        try (Stream<Path> files = Files.walk(sources)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                Matcher m = CONFIG_PROPERTY.matcher(Files.readString(file));
                while (m.find()) {
                    names.add(env(m.group(1)));
                }
            }
        }
        return names;
    }

    private static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }

    /** SmallRye's environment variable form: non-alphanumerics become '_', upper case. */
    private static String env(String property) {
        return property.replaceAll("[^A-Za-z0-9]", "_").toUpperCase(Locale.ROOT);
    }
}
