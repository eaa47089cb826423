package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guards the ratios of the scale work in CI: each check times the work against its baseline in the same JVM,
 * interleaved, medians of 5, and asserts a ratio far below what this machine kind measures, so a busy runner still
 * passes and losing the optimisation still fails. No absolute times. The measured figures: datapath/README.md.
 */
@Tag("unit")
class ScaleRatiosTest {
    @TempDir
    Path dir;

    /** Warms both up, then runs them interleaved {@code rounds} times; returns {baseline, candidate} medians in ms. */
    private static double[] medians(int rounds, Runnable baseline, Runnable candidate) {
        baseline.run();
        candidate.run();
        double[] b = new double[rounds];
        double[] c = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            b[r] = millis(baseline);
            c[r] = millis(candidate);
        }
        Arrays.sort(b);
        Arrays.sort(c);
        return new double[]{b[rounds / 2], c[rounds / 2]};
    }

    private static double millis(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Measured here: the whole directory costs 14-18x a re-read after one endpoint changed. */
    @Test
    void aChangedStateDirIsReadAtLeastFiveTimesFasterThanTheWholeDirectory() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        Path services = dir.resolve("services.yaml");
        writeServices(services, 2000, 0);
        StateDirSource source = new StateDirSource(dir);
        source.read();
        int[] change = {0};
        double[] ms = medians(5,
                () -> assertThat(new StateDirSource(dir).read().services()).hasSize(2000),
                () -> {
                    writeServices(services, 2000, ++change[0]);
                    Inputs in = source.read();
                    assertThat(in.services()).hasSize(2000);
                    assertThat(in.endpointSlices().get(change[0]).getEndpoints().getFirst().getAddresses().getFirst())
                            .startsWith("10.201.");
                });
        System.out.printf("state dir, 2,000 Services x 4 endpoints: whole directory %.1f ms, after one change %.1f ms (%.1fx)%n",
                ms[0], ms[1], ms[0] / ms[1]);
        assertThat(ms[0] / ms[1]).as("whole directory / re-read after one change").isGreaterThan(5);
    }

    /** Service {@code changed} (0: none) gets its first endpoint in 10.201/16 instead of 10.100/16. */
    private static void writeServices(Path file, int n, int changed) {
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (int i = 0; i < n; i++) {
                w.write("---\napiVersion: v1\nkind: Service\nmetadata: {name: s" + i + ", namespace: default}\n"
                        + "spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP, targetPort: 8080}]}\n"
                        + "status: {loadBalancer: {ingress: [{ip: 172.16." + (i / 250) + "." + (i % 250 + 1) + "}]}}\n"
                        + "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s" + i
                        + "-1, namespace: default, labels: {kubernetes.io/service-name: s" + i + "}}\naddressType: IPv4\n"
                        + "ports: [{port: 8080, protocol: TCP}]\nendpoints:\n");
                for (int e = 0; e < 4; e++) {
                    String net = i == changed && e == 0 ? "201" : "100";
                    w.write("- {addresses: [10." + net + "." + (i / 250) + "." + (i % 250 + 1) + "], nodeName: w, conditions: {ready: true}}\n");
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
