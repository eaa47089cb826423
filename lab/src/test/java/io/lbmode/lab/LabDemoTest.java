package io.lbmode.lab;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's table-building path ({@code ./lbmode demo}) in a real lab with the real agents in SNAT and then DSR
 * mode from the {@code examples/} Clusters, with short measurement windows.
 */
@Tag("lab")
class LabDemoTest {
    static final String LB_IP = Lab.NODE_IPS.get(Lab.LB);

    @Test
    void buildsTheSideBySideTableMarkdownAndChart(@TempDir Path out) throws Exception {
        LabSupport.requireRoot();
        Path examples = LabMain.findExamples().orElseThrow(() -> new AssertionError("examples/ not found above " + Path.of("").toAbsolutePath()));
        LabDemo.Result result;
        try (Lab lab = Lab.start(LabSpec.unique())) {
            lab.writeObjects("web.yaml", LabObjects.service("web", LabMain.VIP, false, LabObjects.webPorts(),
                    List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.ready("w2p1"), LabObjects.Ep.ready("w2p2"))));
            result = LabDemo.run(lab, LabMain.VIP, List.of(ForwardMode.SNAT, ForwardMode.DSR),
                    m -> LabMain.clusterFor(m, examples),
                    new LabDemo.Settings(1, Duration.ofMillis(300), 10_000_000, 10_000_000), System.out);
        }
        System.out.print(LabDemo.text(result));

        assertThat(result.columns()).extracting(LabDemo.Column::name).containsExactly("direct", LabDemo.ROUTED, "SNAT", "DSR");
        assertThat(result.clusterSources()).anySatisfy(s -> assertThat(s).contains("cluster-snat.yaml"))
                .anySatisfy(s -> assertThat(s).contains("cluster-dsr.yaml"));
        LabDemo.Column direct = result.column("direct");
        LabDemo.Column snat = result.column("SNAT");
        LabDemo.Column dsr = result.column("DSR");
        assertThat(direct.podSaw()).isEqualTo(Lab.CLIENT_IP);
        LabDemo.Column routed = result.column(LabDemo.ROUTED);
        assertThat(routed.podSaw()).as("routed through the LB node, from the client's second address").isEqualTo(Lab.CLIENT_VIA_LB_IP);
        // the routed path passes the LB node in the request direction only, as DSR does
        assertThat(routed.lbBytes()).isPositive().isLessThan(snat.lbBytes() / 100);
        assertThat(snat.podSaw()).as("SNAT: the pod sees the LB node").isEqualTo(LB_IP);
        assertThat(dsr.podSaw()).as("DSR: the pod sees the client").isEqualTo(Lab.CLIENT_IP);
        // SNAT carries the 10 MB response in and out of the LB node; DSR only the request direction
        assertThat(snat.lbBytes()).isGreaterThan(2 * 10_000_000L);
        assertThat(dsr.lbBytes()).isPositive().isLessThan(snat.lbBytes() / 100);
        assertThat(direct.lbBytes()).isLessThan(dsr.lbBytes());
        assertThat(snat.conntrack()).as("SNAT tracks its flows on the LB node").isGreaterThanOrEqualTo(snat.flows());
        assertThat(dsr.conntrack()).as("DSR keeps no conntrack state on the LB node").isZero();
        for (LabDemo.Column c : result.columns()) {
            assertThat(c.rps()).as(c.name() + " requests/s").isPositive();
            assertThat(c.p50Ms()).as(c.name() + " p50").isPositive().isLessThanOrEqualTo(c.p99Ms());
            assertThat(c.mbPerSecond()).as(c.name() + " MB/s").isPositive();
        }

        List<Path> files = LabDemo.write(result, out);
        Path md = out.resolve("demo.md");
        Path png = out.resolve("demo.png");
        assertThat(files).contains(md, png);
        String markdown = Files.readString(md);
        assertThat(markdown).contains("| measure | direct | " + LabDemo.ROUTED + " | SNAT | DSR |")
                .contains("| address the pod saw | " + Lab.CLIENT_IP + " (the client) | " + Lab.CLIENT_VIA_LB_IP + " (the client) | "
                        + LB_IP + " (the LB node) | " + Lab.CLIENT_IP + " (the client) |")
                .contains(String.format(java.util.Locale.ROOT, "%,d", snat.lbBytes()));
        BufferedImage image = ImageIO.read(png.toFile());
        assertThat(image).as("demo.png decodes").isNotNull();
        assertThat(image.getWidth()).isGreaterThan(500);
        assertThat(image.getHeight()).isGreaterThan(300);
    }
}
