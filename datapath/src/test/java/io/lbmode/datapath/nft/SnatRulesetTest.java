package io.lbmode.datapath.nft;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.program.Applied;
import io.lbmode.datapath.program.ProgrammingException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class SnatRulesetTest {
    static final NodeInfo NODE = new NodeInfo("lb", Addresses.ipv4("10.0.0.10"));

    static Backend be(String ip) {
        return new Backend(Addresses.ipv4(ip), 8080, "w1", false);
    }

    static ServicePort sp(String vip, Protocol p, int port, boolean local, Backend... backends) {
        return new ServicePort("default", "s-" + vip + "-" + port, "", p, Addresses.ipv4(vip), port, local, List.of(backends));
    }

    static NodeState state(ServicePort... ports) {
        return new NodeState(ForwardMode.SNAT, NODE, 1, List.of(ports));
    }

    final FakeNftRunner nft = new FakeNftRunner();
    final SnatProgrammer programmer = new SnatProgrammer(nft);

    Map<String, String> el(String set) {
        return nft.elements("ip", "lbmode", set);
    }

    @Test
    void fullLoadIsOneTransactionWithStaticChainsAndElementsOnly() {
        Applied a = programmer.apply(state(
                sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.2.2"), be("10.244.2.3")),
                sp("172.16.20.16", Protocol.UDP, 53, false, be("10.244.1.2")),
                sp("172.16.20.17", Protocol.TCP, 80, true, be("10.244.1.2")),
                sp("172.16.20.18", Protocol.TCP, 80, false)));
        assertThat(a.full()).isTrue();
        assertThat(nft.scripts()).hasSize(1);
        String script = nft.scripts().getFirst();
        assertThat(script).startsWith("add table ip lbmode\ndelete table ip lbmode\n");
        assertThat(el("service-ports")).containsOnly(
                Map.entry("172.16.20.16 . tcp . 80", "goto pick-3"), Map.entry("172.16.20.16 . udp . 53", "goto pick-1"),
                Map.entry("172.16.20.17 . tcp . 80", "goto pick-1"));
        assertThat(el("backends")).containsEntry("172.16.20.16 . tcp . 80 . 0", "10.244.1.2 . 8080")
                .containsEntry("172.16.20.16 . tcp . 80 . 2", "10.244.2.3 . 8080").hasSize(5);
        assertThat(el("masquerade-ports")).as("ETP Local is never masqueraded").containsOnlyKeys(
                "172.16.20.16 . tcp . 80", "172.16.20.16 . udp . 53");
        assertThat(el("reject-ports")).containsOnlyKeys("172.16.20.18 . tcp . 80");
        assertThat(nft.rules("ip", "lbmode", "pick-3")).containsExactly(
                "dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map @backends");
        assertThat(nft.rules("ip", "lbmode", "nat-postrouting")).singleElement().asString().endsWith("masquerade fully-random");
        assertThat(nft.rules("ip", "lbmode", "filter-forward")).containsExactly(
                "ip daddr . meta l4proto . th dport @reject-ports meta l4proto tcp reject with tcp reset",
                "ip daddr . meta l4proto . th dport @reject-ports reject");
        assertThat(script).doesNotContain("svc-").as("no per-service chains");
    }

    @Test
    void aFullLoadSendsItsElementsApartFromTheTextAndARestartSwapsOnlyTheElementsOfATableOfTheSameLayout() {
        FakeNftRunner kernel = new FakeNftRunner().withNetlink();
        NodeState s = state(
                sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.2.2"), be("10.244.2.3")),
                sp("172.16.20.16", Protocol.UDP, 53, false, be("10.244.1.2")),
                sp("172.16.20.17", Protocol.TCP, 80, true, be("10.244.1.2")),
                sp("172.16.20.18", Protocol.TCP, 80, false),
                new ServicePort("default", "restricted", "", Protocol.TCP, Addresses.ipv4("172.16.20.19"), 443, false,
                        List.of(be("10.244.3.3")), List.of(), new ServicePort.Policy(
                        List.of(io.lbmode.datapath.model.Cidr.parse("192.0.2.0/24").orElseThrow()), 0)),
                new ServicePort("default", "sticky", "", Protocol.TCP, Addresses.ipv4("172.16.20.20"), 80, false,
                        List.of(be("10.244.3.4"), be("10.244.3.5")), List.of(), new ServicePort.Policy(List.of(), 10800)));
        Applied a = new SnatProgrammer(kernel).apply(s);

        assertThat(a.full()).isTrue();
        assertThat(a.changes()).isEqualTo(SnatRuleset.Elements.of(s).size());
        assertThat(kernel.elements("ip", "lbmode", "service-ports")).containsEntry("172.16.20.20 . tcp . 80",
                "goto aff-172.16.20.20-tcp-80");
        assertThat(kernel.scripts()).singleElement().asString().contains("add chain ip lbmode aff-172.16.20.20-tcp-80")
                .doesNotContain("add element");
        assertThat(kernel.elementBatches()).singleElement().asString()
                .contains("add element ip lbmode backends", "add element ip lbmode service-ports",
                        "add element ip lbmode masquerade-ports", "add element ip lbmode reject-ports",
                        "add element ip lbmode source-ranges", "add element ip lbmode source-range-ports");
        FakeNftRunner oneTransaction = new FakeNftRunner();
        oneTransaction.run(SnatRuleset.full(s));
        for (String set : List.of("service-ports", "backends", "masquerade-ports", "reject-ports", "source-range-ports", "source-ranges")) {
            assertThat(kernel.elements("ip", "lbmode", set)).as(set).isEqualTo(oneTransaction.elements("ip", "lbmode", set));
        }
        assertThat(Listing.parse(kernel.listTable("ip", "lbmode").orElseThrow()))
                .isEqualTo(Listing.parse(oneTransaction.listTable("ip", "lbmode").orElseThrow()));

        // A restarted agent finds the table this load creates: it swaps the elements in one transaction and keeps
        // the table, with the affinity clients and the drop counter.
        kernel.count("ip", "lbmode", "source-range-drops", 7);
        NodeState moved = state(s.services().stream().map(p -> p.backends().size() == 1 && !p.policy().restricted()
                ? new ServicePort(p.namespace(), p.name(), "", p.protocol(), p.vip(), p.port(), p.localOnly(), List.of(be("10.244.9.9")))
                : p).toArray(ServicePort[]::new));
        new SnatProgrammer(kernel).apply(moved);
        assertThat(kernel.scripts()).hasSize(1);
        assertThat(kernel.elementBatches()).hasSize(2).last().asString()
                .startsWith("flush set ip lbmode source-ranges\n").contains("flush map ip lbmode backends");
        assertThat(kernel.elements("ip", "lbmode", "backends")).containsEntry("172.16.20.16 . udp . 53 . 0", "10.244.9.9 . 8080")
                .containsEntry("172.16.20.17 . tcp . 80 . 0", "10.244.9.9 . 8080")
                .containsEntry("172.16.20.16 . tcp . 80 . 2", "10.244.2.3 . 8080");
        assertThat(new SnatProgrammer(kernel).dropCounters()).containsEntry(SnatRuleset.SOURCE_RANGE_DROP_REASON, 7L);
        FakeNftRunner movedInOne = new FakeNftRunner();
        movedInOne.run(SnatRuleset.full(moved));
        assertThat(Listing.parse(kernel.listTable("ip", "lbmode").orElseThrow()))
                .isEqualTo(Listing.parse(movedInOne.listTable("ip", "lbmode").orElseThrow()));

        // Another layout (here: a backend count without its pick chain, so another set of chains) is one
        // transaction that replaces the table whole.
        List<Backend> many = new ArrayList<>();
        for (int i = 1; i <= SnatRuleset.STATIC_PICKS + 1; i++) {
            many.add(be("10.245.0." + i));
        }
        new SnatProgrammer(kernel).apply(state(sp("172.16.20.30", Protocol.TCP, 80, false, many.toArray(Backend[]::new))));
        assertThat(kernel.elementBatches()).hasSize(2);
        assertThat(kernel.scripts()).hasSize(2).last().asString().contains("delete table ip lbmode", "add element ip lbmode backends",
                "add chain ip lbmode pick-65");
    }

    @Test
    void aChangeOfOneTableWithTheFirstLoadOfTheOtherIsOneTransaction() {
        FakeNftRunner kernel = new FakeNftRunner().withNetlink();
        SnatProgrammer p = new SnatProgrammer(kernel);
        p.apply(state(sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.2"))));
        ServicePort v6 = new ServicePort("default", "s-v6", "", Protocol.TCP, Addresses.ip("fd00:16::16"), 80, false,
                List.of(new Backend(Addresses.ip("fd00:244::2"), 8080, "w1", false)));
        p.apply(state(sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.3")), v6));

        assertThat(kernel.elementBatches()).as("only the first load's").hasSize(1);
        assertThat(kernel.scripts()).hasSize(2).last().asString()
                .contains("add element ip lbmode backends { 172.16.20.16 . tcp . 80 . 0 : 10.244.1.3 . 8080 }",
                        "add table ip6 lbmode", "add element ip6 lbmode backends { fd00:16::16 . tcp . 80 . 0 : fd00:244::2 . 8080 }");
    }

    @Test
    void laterChangesAreElementDiffsOnly() {
        List<ServicePort> many = new ArrayList<>();
        for (int i = 1; i <= 200; i++) {
            many.add(sp("172.16.21." + i, Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.2.2")));
        }
        programmer.apply(new NodeState(ForwardMode.SNAT, NODE, 1, many));
        List<ServicePort> next = new ArrayList<>(many);
        next.set(0, sp("172.16.21.1", Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.2.2"), be("10.244.2.3")));
        Applied a = programmer.apply(new NodeState(ForwardMode.SNAT, NODE, 1, next));
        assertThat(a.full()).isFalse();
        String diff = nft.scripts().getLast();
        assertThat(diff).doesNotContain("table").doesNotContain("flush");
        assertThat(diff.lines()).containsExactly(
                "delete element ip lbmode service-ports { 172.16.21.1 . tcp . 80 }",
                "add element ip lbmode backends { 172.16.21.1 . tcp . 80 . 2 : 10.244.2.3 . 8080 }",
                "add element ip lbmode service-ports { 172.16.21.1 . tcp . 80 : goto pick-3 }");
        assertThat(a.changes()).isEqualTo(3);

        // Endpoint removed: slots shift, only this service's elements move; the service goes back to pick-2.
        next.set(0, sp("172.16.21.1", Protocol.TCP, 80, false, be("10.244.2.2"), be("10.244.2.3")));
        programmer.apply(new NodeState(ForwardMode.SNAT, NODE, 1, next));
        assertThat(nft.scripts().getLast()).doesNotContain("172.16.21.2 ").doesNotContain("add chain");
        assertThat(el("backends")).containsEntry("172.16.21.1 . tcp . 80 . 0", "10.244.2.2 . 8080")
                .containsEntry("172.16.21.1 . tcp . 80 . 1", "10.244.2.3 . 8080").doesNotContainKey("172.16.21.1 . tcp . 80 . 2");

        // Last endpoint gone: reject instead of black-holing; unmasqueraded.
        next.set(0, sp("172.16.21.1", Protocol.TCP, 80, false));
        programmer.apply(new NodeState(ForwardMode.SNAT, NODE, 1, next));
        assertThat(el("reject-ports")).containsOnlyKeys("172.16.21.1 . tcp . 80");
        assertThat(el("service-ports")).doesNotContainKey("172.16.21.1 . tcp . 80").hasSize(199);
        assertThat(el("masquerade-ports")).doesNotContainKey("172.16.21.1 . tcp . 80");

        int scripts = nft.scripts().size();
        Applied same = programmer.apply(new NodeState(ForwardMode.SNAT, NODE, 1, next));
        assertThat(same.changedAnything()).isFalse();
        assertThat(nft.scripts()).as("nothing sent to the kernel").hasSize(scripts);
    }

    @Test
    void aBackendCountBeyondTheStaticPickChainsIsAFullReplace() {
        programmer.apply(state(sp("172.16.20.1", Protocol.TCP, 80, false, be("10.244.1.2"))));
        Backend[] many = new Backend[SnatRuleset.STATIC_PICKS + 1];
        for (int i = 0; i < many.length; i++) {
            many[i] = be("10.244.3." + (i + 1));
        }
        Applied a = programmer.apply(state(sp("172.16.20.1", Protocol.TCP, 80, false, many)));
        assertThat(a.full()).isTrue();
        assertThat(nft.rules("ip", "lbmode", "pick-" + many.length)).hasSize(1);
        Applied b = programmer.apply(state(sp("172.16.20.1", Protocol.TCP, 80, false, java.util.Arrays.copyOf(many, many.length - 1))));
        assertThat(b.full()).isFalse();
    }

    @Test
    void removedUdpBackendsGetTheirConntrackEntriesDeleted() {
        List<String> deleted = new ArrayList<>();
        SnatProgrammer p = new SnatProgrammer(nft, (vip, port, backend) -> deleted.add(vip + ":" + port + "->" + backend));
        p.apply(state(sp("172.16.20.16", Protocol.UDP, 53, false, be("10.244.1.2"), be("10.244.1.3")),
                sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.1.3"))));
        p.apply(state(sp("172.16.20.16", Protocol.UDP, 53, false, be("10.244.1.3")),
                sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.3"))));
        assertThat(deleted).containsExactly("172.16.20.16:53->10.244.1.2");
        p.apply(state(sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.3"))));
        assertThat(deleted).containsExactly("172.16.20.16:53->10.244.1.2", "172.16.20.16:53->10.244.1.3");
    }

    @Test
    void incrementalStateEqualsAFreshFullLoad() {
        programmer.apply(state(sp("172.16.20.1", Protocol.TCP, 80, false, be("10.244.1.2")),
                sp("172.16.20.2", Protocol.UDP, 53, true, be("10.244.1.3"), be("10.244.1.4"))));
        NodeState target = state(sp("172.16.20.2", Protocol.UDP, 53, false, be("10.244.1.4")),
                sp("172.16.20.3", Protocol.TCP, 443, false, be("10.244.1.5"), be("10.244.1.6")),
                sp("172.16.20.4", Protocol.TCP, 443, false));
        programmer.apply(target);
        FakeNftRunner fresh = new FakeNftRunner();
        new SnatProgrammer(fresh).apply(target);
        for (String set : List.of("service-ports", "backends", "masquerade-ports", "reject-ports")) {
            assertThat(el(set)).as(set).isEqualTo(fresh.elements("ip", "lbmode", set));
        }
    }

    @Test
    void driftChecksListTheTableOnlyWhenTheRulesetGenerationMoved() {
        programmer.apply(state(sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.2"))));
        assertThat(programmer.drifted()).isFalse();
        assertThat(programmer.drifted()).isFalse();
        assertThat(nft.listings()).as("nothing committed since our own transaction").isZero();
        nft.run("add table ip someone-else");
        assertThat(programmer.drifted()).as("another table changed").isFalse();
        assertThat(nft.listings()).isEqualTo(1);
        assertThat(programmer.drifted()).isFalse();
        assertThat(nft.listings()).as("the clean check remembered the generation").isEqualTo(1);
        nft.run("delete element ip lbmode backends { 172.16.20.16 . tcp . 80 . 0 }");
        assertThat(programmer.drifted()).isTrue();
    }

    @Test
    void driftIsDetectedAndRepairedAndCleanupRemovesTheTable() {
        NodeState s = state(sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.2")));
        assertThat(programmer.drifted()).isFalse();
        programmer.apply(s);
        assertThat(programmer.drifted()).isFalse();
        nft.run("delete element ip lbmode backends { 172.16.20.16 . tcp . 80 . 0 }");
        assertThat(programmer.drifted()).isTrue();
        programmer.repair();
        assertThat(programmer.drifted()).isFalse();
        assertThat(el("backends")).containsKey("172.16.20.16 . tcp . 80 . 0");
        nft.run("delete table ip lbmode");
        assertThat(programmer.drifted()).isTrue();
        programmer.repair();
        assertThat(nft.hasTable("ip", "lbmode")).isTrue();
        programmer.cleanup();
        assertThat(nft.hasTable("ip", "lbmode")).isFalse();
        programmer.cleanup(); // idempotent
    }

    @Test
    void aRefusedChangeNamesTheNodeAndTheNextApplyStartsOver() {
        programmer.apply(state(sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.2"))));
        nft.run("delete table ip lbmode"); // someone removed it: the diff will fail
        assertThatThrownBy(() -> programmer.apply(state(sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.3")))))
                .isInstanceOf(ProgrammingException.class).hasMessageContaining("node lb");
        Applied again = programmer.apply(state(sp("172.16.20.16", Protocol.TCP, 80, false, be("10.244.1.3"))));
        assertThat(again.full()).isTrue();
    }

    @Test
    void listingParserIgnoresElementOrderAndHandlesButSeesMissingRules() {
        String a = "table ip lbmode {\n\tset s {\n\t\ttype x\n\t\telements = { 1.1.1.1 . tcp . 80,\n\t\t\t2.2.2.2 . tcp . 80 }\n\t}\n"
                + "\tchain c { # handle 4\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tip daddr 1.1.1.1 accept # handle 5\n\t}\n}";
        String b = a.replace("1.1.1.1 . tcp . 80,\n\t\t\t2.2.2.2 . tcp . 80", "2.2.2.2 . tcp . 80, 1.1.1.1 . tcp . 80").replace("handle 4", "handle 9");
        assertThat(Listing.parse(a)).isEqualTo(Listing.parse(b));
        assertThat(Listing.parse(a).elements().get("s")).containsExactly("1.1.1.1 . tcp . 80", "2.2.2.2 . tcp . 80");
        assertThat(Listing.parse(a).ruleCounts()).containsEntry("c", 1);
        assertThat(Listing.parse(a.replace("\t\tip daddr 1.1.1.1 accept # handle 5\n", ""))).isNotEqualTo(Listing.parse(a));
    }

    static ServicePort withPolicy(ServicePort sp, List<String> ranges, int affinitySeconds) {
        return new ServicePort(sp.namespace(), sp.name(), sp.portName(), sp.protocol(), sp.vip(), sp.port(), sp.localOnly(),
                sp.backends(), sp.draining(), new ServicePort.Policy(ranges.stream().map(r -> Cidr.parse(r).orElseThrow()).toList(),
                affinitySeconds));
    }

    @Test
    void sourceRangesAreAnIntervalSetCheckedBeforeDnatAndRefusedPacketsAreCounted() {
        ServicePort limited = withPolicy(sp("172.16.20.20", Protocol.TCP, 80, false, be("10.244.1.2")),
                List.of("10.0.1.0/24", "10.0.1.128/25", "192.0.2.7/32"), 0);
        ServicePort limitedEmpty = withPolicy(sp("172.16.20.21", Protocol.UDP, 53, false), List.of("0.0.0.0/0"), 0);
        programmer.apply(state(limited, limitedEmpty, sp("172.16.20.22", Protocol.TCP, 80, false, be("10.244.1.3"))));
        assertThat(el("source-range-ports")).containsOnlyKeys("172.16.20.20 . tcp . 80", "172.16.20.21 . udp . 53");
        assertThat(el("source-ranges")).as("a prefix inside another is left out (interval sets refuse overlaps); a /32 as nft lists it")
                .containsOnlyKeys("172.16.20.20 . tcp . 80 . 10.0.1.0/24", "172.16.20.20 . tcp . 80 . 192.0.2.7",
                        "172.16.20.21 . udp . 53 . 0.0.0.0/0");
        for (String hook : List.of("prerouting", "output")) {
            assertThat(nft.rules("ip", "lbmode", "firewall-" + hook)).containsExactly(
                    "ct state new ip daddr . meta l4proto . th dport @source-range-ports ip daddr . meta l4proto . th dport"
                            + " . ip saddr != @source-ranges counter name source-range-drops drop");
        }
        assertThat(nft.scripts().getFirst()).contains("add chain ip lbmode firewall-prerouting { type filter hook prerouting priority -110;");
        assertThat(programmer.dropCounters()).as("nothing dropped yet").isEmpty();
        nft.count("ip", "lbmode", "source-range-drops", 3);
        assertThat(programmer.dropCounters()).containsExactly(Map.entry("notInSourceRanges", 3L));

        // Narrowing a range: the new range is added before the old one goes, in one transaction.
        programmer.apply(state(withPolicy(limited, List.of("10.0.1.0/25"), 0), limitedEmpty,
                sp("172.16.20.22", Protocol.TCP, 80, false, be("10.244.1.3"))));
        assertThat(nft.scripts().getLast().lines()).containsExactly(
                "add element ip lbmode source-ranges { 172.16.20.20 . tcp . 80 . 10.0.1.0/25 }",
                "delete element ip lbmode source-ranges { 172.16.20.20 . tcp . 80 . 10.0.1.0/24, 172.16.20.20 . tcp . 80 . 192.0.2.7 }");
        // Lifting the restriction removes the port from the check.
        programmer.apply(state(sp("172.16.20.20", Protocol.TCP, 80, false, be("10.244.1.2")), limitedEmpty,
                sp("172.16.20.22", Protocol.TCP, 80, false, be("10.244.1.3"))));
        assertThat(el("source-range-ports")).containsOnlyKeys("172.16.20.21 . udp . 53");
        assertThat(el("source-ranges")).containsOnlyKeys("172.16.20.21 . udp . 53 . 0.0.0.0/0");
        assertThat(programmer.drifted()).isFalse();

        // A full replace (restart, repair) carries the count over instead of starting again at 0.
        nft.run("delete element ip lbmode source-ranges { 172.16.20.21 . udp . 53 . 0.0.0.0/0 }");
        assertThat(programmer.drifted()).isTrue();
        programmer.repair();
        assertThat(nft.scripts().getLast()).contains("add counter ip lbmode source-range-drops { packets 3 bytes 0 }");
        assertThat(programmer.dropCounters()).containsExactly(Map.entry("notInSourceRanges", 3L));
    }

    @Test
    void clientIpAffinityIsKubeProxysPerBackendSetsCheckedBeforeTheRandomPick() {
        ServicePort sticky = withPolicy(sp("172.16.20.30", Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.2.2")), List.of(), 60);
        programmer.apply(state(sticky, sp("172.16.20.31", Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.2.2"))));
        String dispatch = "aff-172.16.20.30-tcp-80";
        String ep1 = dispatch + "-10.244.1.2-8080";
        String ep2 = dispatch + "-10.244.2.2-8080";
        assertThat(el("service-ports")).containsEntry("172.16.20.30 . tcp . 80", "goto " + dispatch)
                .containsEntry("172.16.20.31 . tcp . 80", "goto pick-2");
        assertThat(el("backends")).as("affinity ports don't use the pick map").doesNotContainKey("172.16.20.30 . tcp . 80 . 0");
        assertThat(nft.rules("ip", "lbmode", dispatch)).containsExactly(
                "ip saddr @" + ep1 + " goto " + ep1,
                "ip saddr @" + ep2 + " goto " + ep2,
                "numgen random mod 2 vmap { 0 : goto " + ep1 + ", 1 : goto " + ep2 + " }");
        assertThat(nft.rules("ip", "lbmode", ep1)).containsExactly(
                "update @" + ep1 + " { ip saddr }", "meta l4proto tcp dnat ip to 10.244.1.2:8080");
        assertThat(nft.scripts().getFirst()).contains("add set ip lbmode " + ep1 + " { type ipv4_addr; flags dynamic,timeout; timeout 60s; }");
        assertThat(el("masquerade-ports")).containsKey("172.16.20.30 . tcp . 80");

        // The kernel remembers clients in the sets: not drift.
        nft.run("add element ip lbmode " + ep1 + " { 10.0.1.2 }");
        assertThat(programmer.drifted()).isFalse();

        // A backend leaves: its chain and set go (its clients pick again), the other keeps its set and clients.
        programmer.apply(state(withPolicy(sp("172.16.20.30", Protocol.TCP, 80, false, be("10.244.2.2")), List.of(), 60),
                sp("172.16.20.31", Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.2.2"))));
        assertThat(nft.scripts().getLast().lines()).containsExactly(
                "flush chain ip lbmode " + dispatch,
                "flush chain ip lbmode " + ep1,
                "delete chain ip lbmode " + ep1,
                "delete set ip lbmode " + ep1,
                "add chain ip lbmode " + dispatch,
                "add rule ip lbmode " + dispatch + " ip saddr @" + ep2 + " goto " + ep2,
                "add rule ip lbmode " + dispatch + " numgen random mod 1 vmap { 0 : goto " + ep2 + " }");
        assertThat(el(ep1)).isEmpty();

        // Affinity off: back to the pick chains, every affinity object gone; equal to a fresh full load.
        NodeState plain = state(sp("172.16.20.30", Protocol.TCP, 80, false, be("10.244.2.2")),
                sp("172.16.20.31", Protocol.TCP, 80, false, be("10.244.1.2"), be("10.244.2.2")));
        programmer.apply(plain);
        assertThat(el("service-ports")).containsEntry("172.16.20.30 . tcp . 80", "goto pick-1");
        assertThat(nft.rules("ip", "lbmode", dispatch)).isEmpty();
        assertThat(nft.listTable("ip", "lbmode").orElseThrow()).doesNotContain("aff-");
        assertThat(programmer.drifted()).isFalse();
        FakeNftRunner fresh = new FakeNftRunner();
        new SnatProgrammer(fresh).apply(plain);
        assertThat(Listing.parse(nft.listTable("ip", "lbmode").orElseThrow()))
                .isEqualTo(Listing.parse(fresh.listTable("ip", "lbmode").orElseThrow()));
    }
}
