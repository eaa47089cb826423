package io.lbmode.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The demo's table from a result: the ARP row appears only when the VIP was announced by ARP (demo --kube). */
@Tag("unit")
class LabDemoRowsTest {
    static final LabDemo.Settings SETTINGS = new LabDemo.Settings(1, Duration.ofMillis(300), 10_000_000, 10_000_000);

    static LabDemo.Column column(String name, String saw, String arp) {
        return new LabDemo.Column(name, saw, 1000, 0, 2, 100, 1, 2, 100, 1, 1, 1, arp);
    }

    @Test
    void theArpRowNamesTheNodeThatAnsweredForEachModeAndNothingForTheDirectPath() {
        LabDemo.Result kube = new LabDemo.Result(SETTINGS, List.of(column("direct", "10.0.1.2", ""),
                column("SNAT", "10.0.0.10", "lb (eth0 02:00:00:00:00:01)"), column("DSR", "10.0.1.2", "lb (eth0 02:00:00:00:00:01)")),
                List.of("SNAT: examples/cluster-snat.yaml"), "on a real control plane");
        List<List<String>> rows = LabDemo.rows(kube);
        assertThat(rows.get(1)).containsExactly(LabDemo.ARP_ROW, "-", "lb (eth0 02:00:00:00:00:01)", "lb (eth0 02:00:00:00:00:01)");
        assertThat(rows).contains(List.of("address the pod saw", "10.0.1.2 (the client)", "10.0.0.10 (the LB node)", "10.0.1.2 (the client)"));
        assertThat(LabDemo.text(kube)).contains("on a real control plane");
    }

    @Test
    void theStandaloneTableHasNoArpRow() {
        LabDemo.Result standalone = new LabDemo.Result(SETTINGS, List.of(column("direct", "10.0.1.2", ""),
                column("SNAT", "10.0.0.10", "")), List.of("SNAT: built in"), "standalone agents");
        assertThat(LabDemo.rows(standalone)).extracting(List::getFirst).doesNotContain(LabDemo.ARP_ROW);
    }

    @Test
    void dsrIsAlsoComparedWithTheRoutedPathThroughTheLbNode() {
        LabDemo.Result r = new LabDemo.Result(SETTINGS, List.of(column("direct", "10.0.1.2", ""),
                new LabDemo.Column(LabDemo.ROUTED, "10.0.1.3", 500, 0, 2, 80, 1, 2, 100, 0.8, 1, 1, ""),
                new LabDemo.Column("DSR", "10.0.1.2", 500, 0, 2, 76, 1, 2, 100, 0.76, 1, 0.95, "")),
                List.of("DSR: built in"), "standalone agents");
        assertThat(LabDemo.rows(r)).contains(List.of("requests/s vs " + LabDemo.ROUTED, "1.00x", "1.00x", "0.95x"));
        assertThat(LabDemo.rows(r)).contains(List.of("address the pod saw", "10.0.1.2 (the client)", "10.0.1.3 (the client)",
                "10.0.1.2 (the client)"));
        assertThat(LabDemo.rows(standaloneWithoutRouted())).extracting(List::getFirst)
                .doesNotContain("requests/s vs " + LabDemo.ROUTED);
    }

    static LabDemo.Result standaloneWithoutRouted() {
        return new LabDemo.Result(SETTINGS, List.of(column("direct", "10.0.1.2", ""), column("DSR", "10.0.1.2", "")),
                List.of("DSR: built in"), "standalone agents");
    }
}
