package io.lbmode.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the CLI as a separate JVM, as ./lbmode does, and checks output and exit codes. */
@Tag("unit")
class CliTest {
    static final Path MODULE = Path.of(System.getProperty("basedir", ".")).toAbsolutePath();
    static final Path EXAMPLES = MODULE.resolve("../examples").normalize();

    record Run(int code, String out, String err) {
        List<String> outLines() {
            return out.lines().toList();
        }
    }

    static Run lbmode(String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse("java"));
        // A short-lived JVM: C1 only and the serial collector start about 40% faster on 2 shared cores.
        command.add("-XX:TieredStopAtLevel=1");
        command.add("-XX:+UseSerialGC");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(Main.class.getName());
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(MODULE.toFile()).start();
        process.getOutputStream().close();
        byte[] out = process.getInputStream().readAllBytes();
        byte[] err = process.getErrorStream().readAllBytes();
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        Run run = new Run(process.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
        // Never a stack trace, whatever the input.
        assertThat(run.out + run.err).doesNotContain("\tat ").doesNotContain("Exception");
        return run;
    }

    static String example(String name) {
        return EXAMPLES.resolve(name).toString();
    }

    @Test
    void everyExampleIsValid() throws Exception {
        File[] files = EXAMPLES.toFile().listFiles((d, n) -> n.endsWith(".yaml"));
        assertThat(files).hasSizeGreaterThanOrEqualTo(4);
        List<String> args = new ArrayList<>(List.of("validate"));
        for (File f : files) {
            args.add(f.getPath());
        }
        Run run = lbmode(args.toArray(String[]::new));
        assertThat(run.code()).as(run.out() + run.err()).isZero();
        assertThat(run.outLines()).hasSize(files.length).allSatisfy(l -> assertThat(l).contains(": valid (forwardMode "));
        assertThat(run.out()).contains(example("cluster-dsr.yaml") + ": cluster-lb-mode/lb-mode: valid (forwardMode dsr)");
        assertThat(run.err()).contains("document 1 (v1 Namespace) skipped: not a Cluster")
                .contains("document 3 (baremetal.cluster.gke.io/v1 NodePool) skipped");
    }

    @Test
    void invalidClusterPrintsOneLinePerProblem(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("bad.yaml");
        Files.writeString(file, Files.readString(Path.of(example("cluster-dsr.yaml")))
                .replace("forwardMode: dsr", "forwardMode: fast")
                .replace("controlPlaneVIP: 10.200.0.49", "controlPlaneVIP: 172.16.20.9")
                .replace("- 192.168.0.0/16", "- 192.168.0.0/20"));
        Run run = lbmode("validate", file.toString(), example("cluster-snat.yaml"));
        assertThat(run.code()).isEqualTo(1);
        assertThat(run.outLines()).containsExactly(
                file + ": cluster-lb-mode/lb-mode: spec.clusterNetwork.forwardMode: 'fast' is not allowed; use one of dsr, snat",
                file + ": cluster-lb-mode/lb-mode: spec.clusterNetwork.pods.cidrBlocks[0]: 192.168.0.0/20 is a /20; use a block between /8 (largest) and /18 (smallest)",
                file + ": cluster-lb-mode/lb-mode: spec.loadBalancer.vips.controlPlaneVIP: 172.16.20.9 lies inside the address pool range 172.16.20.0/24; take the control-plane VIP from outside every pool",
                example("cluster-snat.yaml") + ": cluster-lb-snat/lb-snat: valid (forwardMode snat)");
    }

    @Test
    void unreadableOrNonYamlInputIsExit2(@TempDir Path dir) throws Exception {
        Path notYaml = dir.resolve("x.yaml");
        Files.writeString(notYaml, "spec: [1, 2\n");
        Run run = lbmode("validate", notYaml.toString(), example("cluster-dsr.yaml"));
        assertThat(run.code()).isEqualTo(2);
        assertThat(run.err()).contains(notYaml + ": not valid YAML: line");
        assertThat(run.out()).contains("valid (forwardMode dsr)");
        assertThat(lbmode("validate", dir.resolve("missing.yaml").toString()).err()).contains("missing.yaml: no such file");
    }

    @Test
    void usageErrorsAreExit2() throws Exception {
        Run none = lbmode();
        assertThat(none.code()).isEqualTo(2);
        assertThat(none.err()).contains("usage: lbmode validate FILE...");
        assertThat(lbmode("validate").code()).isEqualTo(2);
        assertThat(lbmode("frobnicate").err()).contains("unknown command 'frobnicate'");
        assertThat(lbmode("check-update", example("cluster-dsr.yaml")).code()).isEqualTo(2);
        Run help = lbmode("--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("check-update OLD NEW");
    }

    @Test
    void checkUpdatePrintsTheMigration(@TempDir Path dir) throws Exception {
        Path upgraded = dir.resolve("upgraded.yaml");
        Files.writeString(upgraded, Files.readString(Path.of(example("cluster-1.16-preview.yaml")))
                .replace("anthosBareMetalVersion: 1.16.0", "anthosBareMetalVersion: 1.28.300-gke.131"));
        Run run = lbmode("check-update", example("cluster-1.16-preview.yaml"), upgraded.toString());
        assertThat(run.code()).as(run.err()).isZero();
        assertThat(run.outLines()).containsExactly(
                "allowed: update of cluster-lb-preview/lb-preview (forwardMode dsr)",
                "migration: spec.clusterNetwork.forwardMode set to dsr from the 1.16 preview annotation "
                        + "preview.baremetal.cluster.gke.io/dpv2-lbmode-dsr=enable on the upgrade from 1.16.0 to 1.28.300-gke.131");
    }

    @Test
    void checkUpdateDeniesWithReasons(@TempDir Path dir) throws Exception {
        Path changed = dir.resolve("changed.yaml");
        Files.writeString(changed, Files.readString(Path.of(example("cluster-dsr.yaml")))
                .replace("forwardMode: dsr", "forwardMode: snat")
                .replace("- 10.96.0.0/20", "- 10.96.0.0/22"));
        Run run = lbmode("check-update", example("cluster-dsr.yaml"), changed.toString());
        assertThat(run.code()).isEqualTo(1);
        assertThat(run.outLines()).containsExactly(
                "denied: update of cluster-lb-mode/lb-mode",
                "spec.clusterNetwork.forwardMode: can't change from dsr to snat; the forward mode is chosen at cluster "
                        + "creation only; create a new cluster to use another mode",
                "spec.clusterNetwork.services.cidrBlocks[0]: can't change from 10.96.0.0/20 to 10.96.0.0/22; the service "
                        + "range may only grow (a shorter mask that contains 10.96.0.0/20)");
        Run other = lbmode("check-update", example("cluster-dsr.yaml"), example("cluster-snat.yaml"));
        assertThat(other.code()).isEqualTo(2);
        assertThat(other.err()).contains("give two versions of the same Cluster");
    }

    @Test
    void checkUpdateRatchetsLikeTheWebhook(@TempDir Path dir) throws Exception {
        // A Cluster stored before the rule existed: 2 control-plane nodes. A label is allowed; a new problem is not.
        String stored = Files.readString(Path.of(example("cluster-dsr.yaml")))
                .replace("      - address: 10.200.0.2\n", "      - address: 10.200.0.2\n      - address: 10.200.0.3\n");
        Path old = dir.resolve("old.yaml");
        Files.writeString(old, stored);
        assertThat(lbmode("validate", old.toString()).code()).as("today's rules refuse the stored object").isEqualTo(1);
        Path labeled = dir.resolve("labeled.yaml");
        Files.writeString(labeled, stored.replace("  namespace: cluster-lb-mode\n", "  namespace: cluster-lb-mode\n  labels: {team: platform}\n"));
        Run allowed = lbmode("check-update", old.toString(), labeled.toString());
        assertThat(allowed.code()).as(allowed.out() + allowed.err()).isZero();
        assertThat(allowed.out()).contains("allowed: update of cluster-lb-mode/lb-mode");
        Path worse = dir.resolve("worse.yaml");
        Files.writeString(worse, stored.replace("controlPlaneLBPort: 443", "controlPlaneLBPort: 70000"));
        Run denied = lbmode("check-update", old.toString(), worse.toString());
        assertThat(denied.code()).isEqualTo(1);
        assertThat(denied.out()).contains("spec.loadBalancer.ports.controlPlaneLBPort").doesNotContain("spec.controlPlane");
    }

    @Test
    void aFileWithNoClusterIsNeverValid(@TempDir Path dir) throws Exception {
        String cluster = Files.readString(Path.of(example("cluster-dsr.yaml")));
        java.util.Map<String, String> inputs = new java.util.LinkedHashMap<>();
        inputs.put("empty.yaml", "");
        inputs.put("comments.yaml", "# only a comment\n---\n");
        inputs.put("configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
        inputs.put("v1beta1.yaml", cluster.replace("apiVersion: baremetal.cluster.gke.io/v1\n", "apiVersion: baremetal.cluster.gke.io/v1beta1\n"));
        inputs.put("lowercase.yaml", cluster.replace("kind: Cluster\n", "kind: cluster\n"));
        for (var input : inputs.entrySet()) {
            Path file = dir.resolve(input.getKey());
            Files.writeString(file, input.getValue());
            Run run = lbmode("validate", file.toString());
            assertThat(run.code()).as(input.getKey() + ": " + run.err()).isEqualTo(2);
            assertThat(run.out()).as(input.getKey()).doesNotContain("valid");
            assertThat(run.err()).contains(file + ": no Cluster (apiVersion baremetal.cluster.gke.io/v1, kind Cluster) in this file");
        }
        assertThat(lbmode("validate", dir.resolve("v1beta1.yaml").toString()).err())
                .contains("apiVersion baremetal.cluster.gke.io/v1beta1 is not baremetal.cluster.gke.io/v1");
        assertThat(lbmode("validate", dir.resolve("lowercase.yaml").toString()).err())
                .contains("kind 'cluster' is not Cluster (kinds are case-sensitive)");
    }

    @Test
    void theItemsOfAKindListAreValidated(@TempDir Path dir) throws Exception {
        // What kubectl get clusters -A -o yaml writes: one List document holding the Clusters.
        var docs = io.lbmode.yaml.KubeYaml.read(Path.of(example("cluster-dsr.yaml")));
        var good = docs.stream().filter(io.lbmode.yaml.KubeYaml.Document::isCluster).findFirst().orElseThrow().node();
        var bad = good.deepCopy();
        ((com.fasterxml.jackson.databind.node.ObjectNode) bad.path("metadata")).put("name", "Bad_Name!");
        ((com.fasterxml.jackson.databind.node.ObjectNode) bad.at("/spec/clusterNetwork")).put("forwardMode", "fast");
        var list = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode().put("apiVersion", "v1").put("kind", "List");
        list.putArray("items").add(good).add(bad);
        Path file = dir.resolve("list.yaml");
        Files.writeString(file, io.lbmode.yaml.KubeYaml.toYaml(list));
        Run run = lbmode("validate", file.toString());
        assertThat(run.code()).as(run.out() + run.err()).isEqualTo(1);
        assertThat(run.out()).contains(file + ": cluster-lb-mode/lb-mode: valid (forwardMode dsr)")
                .contains(file + ": cluster-lb-mode/Bad_Name!: metadata.name: 'Bad_Name!' is not a valid name")
                .contains(file + ": cluster-lb-mode/Bad_Name!: spec.clusterNetwork.forwardMode: 'fast' is not allowed");
    }

    @Test
    void everyReadIsBoundedWhateverTheFileType(@TempDir Path dir) throws Exception {
        Run zero = lbmode("validate", "/dev/zero");
        assertThat(zero.code()).isEqualTo(2);
        assertThat(zero.err()).contains("/dev/zero: more than 3145728 bytes, larger than the limit of 3 MiB");

        Path fifo = dir.resolve("fifo.yaml");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assertThat(mkfifo.waitFor()).isZero();
        long started = System.nanoTime();
        Run noWriter = lbmode("validate", fifo.toString());
        assertThat(noWriter.code()).isEqualTo(2);
        assertThat(noWriter.err()).contains(fifo + ": nothing wrote to it within 10 s (a FIFO without a writer?)");
        assertThat(java.time.Duration.ofNanos(System.nanoTime() - started)).isLessThan(java.time.Duration.ofSeconds(50));
    }

    @Test
    void aPipeWithAClusterIsRead(@TempDir Path dir) throws Exception {
        // Process substitution (./lbmode validate <(kubectl get ...)) hands the CLI a pipe: it is read like a file.
        Path fifo = dir.resolve("pipe.yaml");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        Process writer = new ProcessBuilder("sh", "-c", "cat " + example("cluster-dsr.yaml") + " > " + fifo).start();
        Run run = lbmode("validate", fifo.toString());
        assertThat(writer.waitFor()).isZero();
        assertThat(run.code()).as(run.err()).isZero();
        assertThat(run.out()).contains(": cluster-lb-mode/lb-mode: valid (forwardMode dsr)");
    }
}
