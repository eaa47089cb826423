package io.lbmode.datapath.nft;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.program.Applied;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** SNAT of IPv6 service ports: the table {@code ip6 lbmode}, same layout as {@code ip lbmode}, on the fake kernel. */
@Tag("unit")
class SnatIpv6Test {
    final FakeNftRunner nft = new FakeNftRunner();
    final SnatProgrammer programmer = new SnatProgrammer(nft);

    static Backend be(String ip) {
        return new Backend(Addresses.ip(ip), 8080, "w1", false);
    }

    static ServicePort sp(String name, String vip, Backend... backends) {
        return new ServicePort("default", name, "", Protocol.TCP, Addresses.ip(vip), 80, false, List.of(backends));
    }

    static NodeState state(ServicePort... ports) {
        return new NodeState(ForwardMode.SNAT, SnatRulesetTest.NODE, 1, List.of(ports));
    }

    /** A dual-stack Service: one port per family. */
    static NodeState dualStack(Backend... v6) {
        return state(sp("web", "172.16.20.16", be("10.244.1.2"), be("10.244.2.2")), sp("web", "fd00:172:16:20::10", v6));
    }

    @Test
    void aDualStackServiceIsProgrammedInBothTablesInOneTransaction() {
        Applied a = programmer.apply(dualStack(be("fd00:10:244:1::2"), be("fd00:10:244:2::2")));
        assertThat(a.full()).isTrue();
        assertThat(nft.scripts()).as("one nft run: both families change together").hasSize(1);
        assertThat(nft.scripts().getFirst()).contains("add table ip lbmode\n", "add table ip6 lbmode\n");
        assertThat(nft.elements("ip", "lbmode", "service-ports")).containsOnlyKeys("172.16.20.16 . tcp . 80");
        assertThat(nft.elements("ip6", "lbmode", "service-ports")).containsOnly(Map.entry("fd00:172:16:20::10 . tcp . 80", "goto pick-2"));
        assertThat(nft.elements("ip6", "lbmode", "backends")).containsOnly(
                Map.entry("fd00:172:16:20::10 . tcp . 80 . 0", "fd00:10:244:1::2 . 8080"),
                Map.entry("fd00:172:16:20::10 . tcp . 80 . 1", "fd00:10:244:2::2 . 8080"));
        assertThat(nft.elements("ip6", "lbmode", "masquerade-ports")).containsOnlyKeys("fd00:172:16:20::10 . tcp . 80");
        assertThat(nft.rules("ip6", "lbmode", "pick-2")).containsExactly(
                "dnat ip6 to ip6 daddr . meta l4proto . th dport . numgen random mod 2 map @backends");
        assertThat(nft.rules("ip6", "lbmode", "nat-prerouting")).containsExactly(
                "ip6 daddr . meta l4proto . th dport @masquerade-ports meta mark set meta mark | 0x02000000",
                "ip6 daddr . meta l4proto . th dport vmap @service-ports");
        assertThat(programmer.drifted()).isFalse();
    }

    @Test
    void anIpv4OnlyNodeNeverSeesAnIpv6TableAndItsScriptIsTheIpv4One() {
        NodeState v4 = state(sp("web", "172.16.20.16", be("10.244.1.2")));
        programmer.apply(v4);
        assertThat(nft.hasTable("ip6", "lbmode")).isFalse();
        assertThat(nft.scripts()).containsExactly(SnatRuleset.full(v4));
        assertThat(programmer.render(v4)).isEqualTo(SnatRuleset.full(v4));
    }

    @Test
    void ipv6ChangesAreElementChangesAndTheTableStaysWhenTheLastIpv6PortGoes() {
        programmer.apply(dualStack(be("fd00:10:244:1::2"), be("fd00:10:244:2::2")));
        Applied change = programmer.apply(dualStack(be("fd00:10:244:1::2"), be("fd00:10:244:2::3")));
        assertThat(change.full()).isFalse();
        assertThat(nft.scripts().getLast()).doesNotContain("table ip lbmode").contains("element ip6 lbmode backends");
        assertThat(nft.elements("ip6", "lbmode", "backends")).containsValue("fd00:10:244:2::3 . 8080");

        Applied gone = programmer.apply(state(sp("web", "172.16.20.16", be("10.244.1.2"), be("10.244.2.2"))));
        assertThat(gone.full()).isFalse();
        assertThat(nft.hasTable("ip6", "lbmode")).isTrue();
        assertThat(nft.elements("ip6", "lbmode", "service-ports")).isEmpty();
        assertThat(nft.elements("ip6", "lbmode", "backends")).isEmpty();
        assertThat(programmer.drifted()).isFalse();
    }

    @Test
    void anIpv6PortWithoutBackendsRejects() {
        programmer.apply(state(sp("web", "fd00:172:16:20::10")));
        assertThat(nft.elements("ip6", "lbmode", "reject-ports")).containsOnlyKeys("fd00:172:16:20::10 . tcp . 80");
    }

    @Test
    void driftInTheIpv6TableIsSeenAndRepaired() {
        NodeState desired = dualStack(be("fd00:10:244:1::2"));
        programmer.apply(desired);
        nft.run("delete element ip6 lbmode service-ports { fd00:172:16:20::10 . tcp . 80 }\n");
        assertThat(programmer.drifted()).isTrue();
        programmer.repair();
        assertThat(programmer.drifted()).isFalse();
        assertThat(nft.elements("ip6", "lbmode", "service-ports")).containsOnlyKeys("fd00:172:16:20::10 . tcp . 80");
    }

    @Test
    void cleanupRemovesBothTables() {
        programmer.apply(dualStack(be("fd00:10:244:1::2")));
        programmer.cleanup();
        assertThat(nft.hasTable("ip", "lbmode")).isFalse();
        assertThat(nft.hasTable("ip6", "lbmode")).isFalse();
    }

    @Test
    void anIpv6PortWithOnlyIpv4SourceRangesAcceptsNoClientAndEachTableCountsItsDrops() {
        ServicePort v4 = SnatRulesetTest.withPolicy(sp("web", "172.16.20.16", be("10.244.1.2")), List.of("10.0.1.0/24"), 0);
        ServicePort v6 = SnatRulesetTest.withPolicy(sp("web", "fd00:172:16:20::10", be("fd00:10:244:1::2")), List.of("10.0.1.0/24"), 0);
        programmer.apply(state(v4, v6));
        assertThat(nft.elements("ip", "lbmode", "source-ranges")).containsOnlyKeys("172.16.20.16 . tcp . 80 . 10.0.1.0/24");
        assertThat(nft.elements("ip6", "lbmode", "source-range-ports")).containsOnlyKeys("fd00:172:16:20::10 . tcp . 80");
        assertThat(nft.elements("ip6", "lbmode", "source-ranges")).as("restricted, and no IPv6 client allowed: closed, never open")
                .isEmpty();
        assertThat(nft.scripts().getFirst()).contains(
                "add set ip6 lbmode source-ranges { type ipv6_addr . inet_proto . inet_service . ipv6_addr; flags interval; }",
                "add set ip lbmode source-ranges { type ipv4_addr . inet_proto . inet_service . ipv4_addr; flags interval; }");
        for (String hook : List.of("prerouting", "output")) {
            assertThat(nft.rules("ip6", "lbmode", "firewall-" + hook)).containsExactly(
                    "ct state new ip6 daddr . meta l4proto . th dport @source-range-ports ip6 daddr . meta l4proto . th dport"
                            + " . ip6 saddr != @source-ranges counter name source-range-drops drop");
        }
        assertThat(programmer.drifted()).isFalse();
        nft.count("ip", "lbmode", "source-range-drops", 3);
        nft.count("ip6", "lbmode", "source-range-drops", 4);
        assertThat(programmer.dropCounters()).as("one key, both tables").containsExactly(Map.entry("notInSourceRanges", 7L));
        // A full replace carries each table's own count over.
        programmer.repair();
        assertThat(nft.scripts().getLast()).contains("add counter ip lbmode source-range-drops { packets 3 bytes 0 }",
                "add counter ip6 lbmode source-range-drops { packets 4 bytes 0 }");
    }

    @Test
    void ipv6SourceRangesAreInTheIp6TableAndEachTableGetsItsOwnFamilysPrefixes() {
        List<String> ranges = List.of("10.0.1.0/24", "2001:db8::/32", "2001:db8:1::/48", "fd00:1::2", "0.0.0.0/0");
        ServicePort v4 = SnatRulesetTest.withPolicy(sp("web", "172.16.20.16", be("10.244.1.2")), ranges, 0);
        ServicePort v6 = SnatRulesetTest.withPolicy(sp("web", "fd00:172:16:20::10", be("fd00:10:244:1::2")), ranges, 0);
        programmer.apply(state(v4, v6));
        assertThat(nft.elements("ip", "lbmode", "source-ranges")).as("0.0.0.0/0 holds 10.0.1.0/24: outermost only")
                .containsOnlyKeys("172.16.20.16 . tcp . 80 . 0.0.0.0/0");
        assertThat(nft.elements("ip6", "lbmode", "source-range-ports")).containsOnlyKeys("fd00:172:16:20::10 . tcp . 80");
        assertThat(nft.elements("ip6", "lbmode", "source-ranges")).as("a /128 as nft lists it; a prefix inside another left out")
                .containsOnlyKeys("fd00:172:16:20::10 . tcp . 80 . 2001:db8::/32", "fd00:172:16:20::10 . tcp . 80 . fd00:1::2");
        assertThat(programmer.drifted()).isFalse();

        // Narrowing the IPv6 range is an element change in the IPv6 table alone, the new range added first.
        List<String> narrowed = List.of("10.0.1.0/24", "2001:db8:1::/48", "0.0.0.0/0");
        programmer.apply(state(SnatRulesetTest.withPolicy(v4, narrowed, 0), SnatRulesetTest.withPolicy(v6, narrowed, 0)));
        assertThat(nft.scripts().getLast().lines()).containsExactly(
                "add element ip6 lbmode source-ranges { fd00:172:16:20::10 . tcp . 80 . 2001:db8:1::/48 }",
                "delete element ip6 lbmode source-ranges { fd00:172:16:20::10 . tcp . 80 . 2001:db8::/32,"
                        + " fd00:172:16:20::10 . tcp . 80 . fd00:1::2 }");
        // Only IPv4 ranges left: the IPv6 VIP stays checked and admits no client.
        programmer.apply(state(SnatRulesetTest.withPolicy(v4, List.of("10.0.1.0/24"), 0),
                SnatRulesetTest.withPolicy(v6, List.of("10.0.1.0/24"), 0)));
        assertThat(nft.elements("ip6", "lbmode", "source-range-ports")).containsOnlyKeys("fd00:172:16:20::10 . tcp . 80");
        assertThat(nft.elements("ip6", "lbmode", "source-ranges")).isEmpty();
        assertThat(programmer.drifted()).isFalse();
    }

    @Test
    void ipv6ClientIpAffinityUsesIp6SetsAndDnatWithNamesWithoutColons() {
        ServicePort sticky = SnatRulesetTest.withPolicy(
                sp("web", "fd00:172:16:20::10", be("fd00:10:244:1::2"), be("fd00:10:244:2::2")), List.of(), 60);
        NodeState desired = state(sp("web", "172.16.20.16", be("10.244.1.2")), sticky);
        programmer.apply(desired);
        String dispatch = "aff-fd00.172.16.20..10-tcp-80";
        String ep1 = dispatch + "-fd00.10.244.1..2-8080";
        String ep2 = dispatch + "-fd00.10.244.2..2-8080";
        assertThat(nft.elements("ip6", "lbmode", "service-ports")).containsOnly(Map.entry("fd00:172:16:20::10 . tcp . 80", "goto " + dispatch));
        assertThat(nft.rules("ip6", "lbmode", dispatch)).containsExactly(
                "ip6 saddr @" + ep1 + " goto " + ep1,
                "ip6 saddr @" + ep2 + " goto " + ep2,
                "numgen random mod 2 vmap { 0 : goto " + ep1 + ", 1 : goto " + ep2 + " }");
        assertThat(nft.rules("ip6", "lbmode", ep1)).containsExactly(
                "update @" + ep1 + " { ip6 saddr }", "meta l4proto tcp dnat ip6 to [fd00:10:244:1::2]:8080");
        assertThat(nft.scripts().getFirst()).contains(
                "add set ip6 lbmode " + ep1 + " { type ipv6_addr; flags dynamic,timeout; timeout 60s; }");
        assertThat(nft.listTable("ip", "lbmode").orElseThrow()).doesNotContain("aff-");
        assertThat(programmer.drifted()).isFalse();
        // A backend leaves: only its objects go, in the IPv6 table.
        programmer.apply(state(sp("web", "172.16.20.16", be("10.244.1.2")), SnatRulesetTest.withPolicy(
                sp("web", "fd00:172:16:20::10", be("fd00:10:244:2::2")), List.of(), 60)));
        assertThat(nft.scripts().getLast()).doesNotContain("table ip lbmode").contains("delete set ip6 lbmode " + ep1);
        assertThat(programmer.drifted()).isFalse();
    }
}
