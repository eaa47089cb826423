package io.lbmode.e2e.kube;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.lab.KubeDemo;
import io.lbmode.lab.KubeLab;
import io.lbmode.lab.Lab;
import io.lbmode.lab.LabDemo;
import io.lbmode.lab.LabMain;
import io.lbmode.lab.LabSpec;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code ./lbmode demo --kube} without its control plane start: {@link KubeDemo#run} (what the command runs once
 * {@code kube up} and MetalLB's build are done) with one measuring round, on the kube tier's control plane.
 */
@Tag("kube")
@Tag("lab")
@Order(8)
@ExtendWith(KubeControlPlane.Extension.class)
class DemoKubeTest {
    @Test
    void theDemoOnTheControlPlaneShowsWhatEachPathShowsThePodAndWhichNodeAnsweredArp() throws Exception {
        KubeControlPlane kube = KubeControlPlane.get();
        LabDemo.Result result;
        String lbMac;
        try (KubeLab kubeLab = KubeLab.start(Lab.start(LabSpec.unique()), kube.labPlane(), kube.metallb())) {
            lbMac = kubeLab.mac(Lab.LB, "eth0");
            result = KubeDemo.run(kubeLab, List.of(ForwardMode.SNAT, ForwardMode.DSR),
                    m -> LabMain.clusterFor(m, kube.root.resolve("examples")),
                    new LabDemo.Settings(1, Duration.ofMillis(300), 10_000_000, 10_000_000), System.out);
        }
        System.out.print(LabDemo.text(result));

        assertThat(result.columns()).extracting(LabDemo.Column::name).containsExactly("direct", LabDemo.ROUTED, "SNAT", "DSR");
        assertThat(result.column("direct").podSaw()).isEqualTo(Lab.CLIENT_IP);
        assertThat(result.column("SNAT").podSaw()).isEqualTo(Lab.NODE_IPS.get(Lab.LB));
        assertThat(result.column("DSR").podSaw()).isEqualTo(Lab.CLIENT_IP);
        assertThat(result.column("SNAT").lbBytes()).as("SNAT: the response enters and leaves the LB node").isGreaterThan(20_000_000);
        assertThat(result.column("DSR").lbBytes()).as("DSR: the response bypasses the LB node").isLessThan(1_000_000);

        List<List<String>> rows = LabDemo.rows(result);
        assertThat(rows).contains(List.of(LabDemo.ARP_ROW, "-", "-", "lb (eth0 " + lbMac + ")", "lb (eth0 " + lbMac + ")"));
        assertThat(rows).contains(List.of("address the pod saw", "10.0.1.2 (the client)", "10.0.1.3 (the client)",
                "10.0.0.10 (the LB node)", "10.0.1.2 (the client)"));
        assertThat(String.join(",", result.clusterSources())).contains("cluster-snat.yaml", "cluster-dsr.yaml");
        assertThat(result.setting()).contains("real control plane");
    }
}
