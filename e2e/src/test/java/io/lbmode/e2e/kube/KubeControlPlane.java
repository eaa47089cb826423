package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The real control plane of the kube tier, started the way a user starts it: {@code ./lbmode kube up} (etcd,
 * kube-apiserver and kube-controller-manager built from Go modules, lbmode installed with the real helm, the
 * operator running as the chart's ServiceAccount). One per test run, shared by every kube test class and stopped
 * with {@code ./lbmode kube down} when the run ends.
 *
 * <p>It uses its own address and state directory, so it never touches a control plane a developer left running
 * with {@code ./lbmode kube up}. kubectl and helm are the ones {@code kube up} prints on its PATH line, run as
 * subprocesses, as the README tells users to.
 */
public final class KubeControlPlane {
    /**
     * Not the default of {@code kube up} (198.18.0.1): a developer's own control plane may be running. The system
     * property {@code lbmode.kube.address} (with {@code lbmode.kube.state}) moves it, so two people on one machine can
     * each run the kube tier.
     */
    static final String ADDRESS = System.getProperty("lbmode.kube.address", "198.18.0.2");
    /** kube/kube.sh's API server port. */
    static final int APISERVER_PORT = 16443;
    static final String RELEASE = "lbmode";
    static final String NAMESPACE = "lbmode-system";

    final Path root;
    final Path state;
    final Path kubeconfig;
    final Path bin;

    private KubeControlPlane(Path root, Path state, Path kubeconfig, Path bin) {
        this.root = root;
        this.state = state;
        this.kubeconfig = kubeconfig;
        this.bin = bin;
    }

    /** What a run of a command printed. */
    public record Result(int exitCode, String stdout, String stderr) {
        public Result ok(String what) {
            assertThat(exitCode).as("%s exited %d; stderr: %s; stdout: %s", what, exitCode, stderr, stdout).isZero();
            return this;
        }
    }

    /** Starts the shared control plane once per run; tests are skipped when not root (they fail under CI). */
    public static final class Extension implements BeforeAllCallback {
        @Override
        public void beforeAll(ExtensionContext context) {
            boolean root = "root".equals(System.getProperty("user.name"));
            if (!root && System.getenv("CI") == null) {
                Assumptions.abort("the kube tier needs root (kube up adds an address on a local interface)");
            }
            context.getRoot().getStore(ExtensionContext.Namespace.GLOBAL)
                    .getOrComputeIfAbsent(KubeControlPlane.class, k -> new Running(start()), Running.class);
        }
    }

    /** Stops the control plane when the whole run ends (LBMODE_KUBE_KEEP=1 leaves it running to look at). */
    private record Running(KubeControlPlane plane) implements ExtensionContext.Store.CloseableResource {
        @Override
        public void close() throws IOException, InterruptedException {
            if (!"1".equals(System.getenv("LBMODE_KUBE_KEEP"))) {
                plane.lbmode("kube", "down").ok("./lbmode kube down");
            }
        }
    }

    private static KubeControlPlane current;

    public static synchronized KubeControlPlane get() {
        assertThat(current).as("KubeControlPlane.Extension starts the control plane before any kube test").isNotNull();
        return current;
    }

    private static synchronized KubeControlPlane start() {
        if (current != null) {
            return current;
        }
        Path root = Path.of(System.getProperty("lbmode.root", "..")).toAbsolutePath().normalize();
        Path state = Path.of(System.getProperty("lbmode.kube.state", root.resolve("e2e/target/kube-state").toString()));
        KubeControlPlane starting = new KubeControlPlane(root, state, null, null);
        try {
            Result up = starting.lbmode("kube", "up");
            Path logs = state.resolve("logs");
            if (up.exitCode() != 0 && !"1".equals(System.getenv("LBMODE_KUBE_KEEP"))) {
                // kube up may fail after starting etcd and the API server (e.g. at helm install): stop them, or they
                // outlive the run, holding the address and port the next run's control plane needs. kube down
                // removes the state directory, so its logs are moved beside it first.
                Path kept = state.resolveSibling(state.getFileName() + "-failed-logs");
                if (Files.isDirectory(logs)) {
                    if (Files.exists(kept)) {
                        try (var old = Files.walk(kept)) {
                            old.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                        }
                    }
                    Files.move(logs, kept);
                    logs = kept;
                }
                starting.lbmode("kube", "down");
            }
            up.ok("./lbmode kube up (logs in " + logs + ")");
            io.lbmode.lab.KubeLab.ControlPlane plane = io.lbmode.lab.KubeLab.ControlPlane.fromKubeUp(root, up.stdout());
            current = new KubeControlPlane(root, state, plane.kubeconfig(), plane.bin());
            return current;
        } catch (IOException e) {
            throw new IllegalStateException("could not run ./lbmode kube up", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** kubectl with kube up's kubeconfig, as a user types it after the exports. */
    public Result kubectl(String... args) {
        return kubectlWithInput(null, args);
    }

    public Result kubectlWithInput(String stdin, String... args) {
        return run(stdin, Map.of(), command(bin.resolve("kubectl"), args));
    }

    /** kubectl with extra environment variables (e.g. KUBE_EDITOR for kubectl edit). */
    public Result kubectlWithEnv(Map<String, String> env, String... args) {
        return run(null, env, command(bin.resolve("kubectl"), args));
    }

    public Result helm(String... args) {
        return run(null, Map.of(), command(bin.resolve("helm"), args));
    }

    /** Applies YAML from stdin and fails the test when kubectl does. */
    public void apply(String yaml) {
        kubectlWithInput(yaml, "apply", "-f", "-").ok("kubectl apply");
    }

    /** A fabric8 client with the admin kubeconfig, for reading state (what users do is done with kubectl). */
    public KubernetesClient client() {
        try {
            return new KubernetesClientBuilder()
                    .withConfig(Config.fromKubeconfig(Files.readString(kubeconfig))).build();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A kubeconfig FILE (in the state directory) that acts as the chart's datapath ServiceAccount, with a token from
     * the TokenRequest API: what the agents the tests run use, so the RBAC authorizer judges the chart's roles.
     */
    public Path datapathKubeconfig(String file) throws IOException {
        return io.lbmode.lab.KubeLab.writeDatapathKubeconfig(labPlane(), state.resolve(file));
    }

    /** This control plane for a lab on it ({@link io.lbmode.lab.KubeLab}): kubectl, the admin kubeconfig, the logs. */
    public io.lbmode.lab.KubeLab.ControlPlane labPlane() {
        return new io.lbmode.lab.KubeLab.ControlPlane(root, bin, kubeconfig, state.resolve("logs"));
    }

    /** MetalLB's binaries and CRDs: {@code kube/build-metallb.sh} (built once, cached outside the repository). */
    public Path metallb() {
        Result built = run(null, Map.of(), List.of(root.resolve("kube/build-metallb.sh").toString())).ok("kube/build-metallb.sh");
        return Path.of(built.stdout().strip().lines().reduce((a, b) -> b).orElseThrow());
    }

    /** Everything the operator process wrote so far. */
    public String operatorLog() {
        try {
            return Files.readString(state.resolve("logs/operator.log"));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public Path example(String name) {
        return root.resolve("examples").resolve(name);
    }

    Result lbmode(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(root.resolve("lbmode").toString());
        command.addAll(List.of(args));
        return run(null, Map.of("LBMODE_KUBE_STATE", state.toString(), "LBMODE_KUBE_ADDRESS", ADDRESS), command);
    }

    private static List<String> command(Path executable, String... args) {
        List<String> command = new ArrayList<>();
        command.add(executable.toString());
        command.addAll(List.of(args));
        return command;
    }

    private Result run(String stdin, Map<String, String> env, List<String> command) {
        try {
            Path out = Files.createTempFile("kube-out", ".txt");
            Path err = Files.createTempFile("kube-err", ".txt");
            try {
                ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
                builder.environment().putAll(env);
                if (kubeconfig != null) {
                    builder.environment().put("KUBECONFIG", kubeconfig.toString());
                    builder.environment().put("PATH", bin + ":" + System.getenv("PATH"));
                }
                Process process = builder.start();
                try (var in = process.getOutputStream()) {
                    if (stdin != null) {
                        in.write(stdin.getBytes(StandardCharsets.UTF_8));
                    }
                }
                if (!process.waitFor(20, TimeUnit.MINUTES)) {
                    process.destroyForcibly();
                    throw new AssertionError(String.join(" ", command) + " did not finish in 20 minutes");
                }
                return new Result(process.exitValue(), Files.readString(out), Files.readString(err));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new IllegalStateException("could not run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
