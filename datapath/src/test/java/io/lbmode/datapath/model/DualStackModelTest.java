package io.lbmode.datapath.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.lbmode.crds.cluster.v1.ForwardMode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** IPv6 and dual-stack Services in the desired state: VIPs and backends of both families, each VIP served by its own. */
@Tag("unit")
class DualStackModelTest {

    /** A dual-stack Service as Kubernetes and MetalLB write it: both families, one ingress address of each. */
    static final VipRanges VIPS = NodeStateBuilderTest.VIPS;

    static Service dualStack(String name, String vip4, String vip6) {
        return new ServiceBuilder(NodeStateBuilderTest.lb(name, vip4, "Cluster",
                NodeStateBuilderTest.port("http", "TCP", 80, new IntOrString(8080))))
                .editSpec().withIpFamilies("IPv4", "IPv6").withIpFamilyPolicy("RequireDualStack").endSpec()
                .editStatus().editLoadBalancer().addNewIngress().withIp(vip6).endIngress().endLoadBalancer().endStatus()
                .build();
    }

    /** The IPv6 EndpointSlice of a Service (what the EndpointSlice controller writes beside the IPv4 one). */
    static EndpointSlice ipv6Slice(String svc, String... eps) {
        EndpointSliceBuilder b = new EndpointSliceBuilder().withNewMetadata().withName(svc + "-v6").withNamespace("default")
                .addToLabels(NodeStateBuilder.SERVICE_NAME_LABEL, svc).endMetadata().withAddressType("IPv6")
                .addNewPort().withName("http").withProtocol("TCP").withPort(8080).endPort();
        for (String ep : eps) { // "address@node", ready
            int at = ep.lastIndexOf('@');
            b.addToEndpoints(new EndpointBuilder().withAddresses(ep.substring(0, at)).withNodeName(ep.substring(at + 1))
                    .withNewConditions().withReady(true).endConditions().build());
        }
        return b.build();
    }

    @Test
    void aDualStackServiceHasAPortPerFamilyEachServedByItsOwnFamilysEndpoints() {
        NodeState s = NodeStateBuilderTest.build(List.of(dualStack("web", "172.16.20.16", "fd00:172:16:20::10")),
                List.of(NodeStateBuilderTest.slice("web", "http", "TCP", 8080, "10.244.1.2@w1", "10.244.2.2@w2"),
                        ipv6Slice("web", "fd00:10:244:1::2@w1", "fd00:10:244:2::2@w2")));
        assertThat(s.services()).extracting(sp -> sp.key().toString())
                .containsExactly("172.16.20.16:80/tcp", "[fd00:172:16:20::10]:80/tcp");
        assertThat(s.services().get(0).family()).isEqualTo(IpFamily.IPV4);
        assertThat(s.services().get(0).backends()).extracting(Backend::endpoint)
                .containsExactly("10.244.1.2:8080", "10.244.2.2:8080");
        assertThat(s.services().get(1).family()).isEqualTo(IpFamily.IPV6);
        assertThat(s.services().get(1).backends()).extracting(Backend::endpoint)
                .containsExactly("[fd00:10:244:1::2]:8080", "[fd00:10:244:2::2]:8080");
        assertThat(s.services().get(1).backends()).extracting(Backend::local).containsExactly(true, false);
    }

    @Test
    void anIpv6OnlyServiceWithoutIpv6EndpointsRejectsInsteadOfSendingToIpv4Pods() {
        NodeState s = NodeStateBuilderTest.build(List.of(NodeStateBuilderTest.lb("v6", "fd00:172:16:20::11", "Cluster",
                        NodeStateBuilderTest.port("http", "TCP", 80, new IntOrString(8080)))),
                List.of(NodeStateBuilderTest.slice("v6", "http", "TCP", 8080, "10.244.1.2@w1")));
        assertThat(s.services()).singleElement().satisfies(sp -> assertThat(sp.backends()).isEmpty());
    }

    @Test
    void ipv4SortsBeforeIpv6AndTheIpv4HashIsTheOneBeforeIpv6Existed() throws Exception {
        NodeState s = NodeStateBuilderTest.build(List.of(NodeStateBuilderTest.lb("web", "172.16.20.16", "Cluster",
                        NodeStateBuilderTest.port("", "TCP", 80, new IntOrString(8080)))),
                List.of(NodeStateBuilderTest.slice("web", "", "TCP", 8080, "10.244.1.2@w1", "10.244.2.2@w2")));
        // The canonical text as NodeState.hash wrote it for IPv4 before IPv6 support: status.rulesetHash of an
        // IPv4-only node does not change with the upgrade.
        String before = "mode=snat\nnode=w1 10.0.0.11\nseed=7\n"
                + "172.16.20.16:80/tcp default/web cluster 10.244.1.2:8080@w1* 10.244.2.2:8080@w2\n";
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(before.getBytes(StandardCharsets.UTF_8));
        assertThat(s.hash()).isEqualTo(HexFormat.of().formatHex(digest, 0, 8));

        assertThat(List.of(Addresses.ip("fd00::1"), Addresses.ip("255.255.255.255"), Addresses.ip("::2"), Addresses.ip("0.0.0.1"))
                .stream().sorted(Addresses.ORDER).map(Addresses::text).toList())
                .containsExactly("0.0.0.1", "255.255.255.255", "::2", "fd00::1");
    }

    @Test
    void ipv6TextIsTheShortFormNftListsAndParsingNeverResolves() {
        assertThat(Addresses.text(Addresses.ip("FD00:0:0:0:0:0:0:1"))).isEqualTo("fd00::1");
        assertThat(Addresses.text(Addresses.ip("fd00:0:0:1:0:0:0:1"))).isEqualTo("fd00:0:0:1::1");
        assertThat(Addresses.text(Addresses.ip("fd00:1:0:1:1:1:1:1"))).isEqualTo("fd00:1:0:1:1:1:1:1");
        assertThat(Addresses.text(Addresses.ip("::"))).isEqualTo("::");
        assertThat(Addresses.parse("localhost")).isEmpty();
        assertThat(Addresses.parse("fe80::1%eth0")).isEmpty();
        assertThat(Addresses.parseIpv6("::ffff:10.0.0.1")).as("IPv4-mapped is IPv4 in disguise").isEmpty();
        assertThat(Addresses.parse("fd00::g")).isEmpty();
    }

    @Test
    void aServicePortNeverMixesFamilies() {
        Backend v4 = new Backend(Addresses.ip("10.244.1.2"), 8080, "w1", true);
        assertThatThrownBy(() -> new ServicePort("default", "web", "", Protocol.TCP, Addresses.ip("fd00::10"), 80, false, List.of(v4)))
                .hasMessageContaining("IPv6 VIP's backends must be IPv6");
    }

    @Test
    void endpointSlicesOfBothFamiliesAreRead() {
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NodeStateBuilderTest.NODES,
                List.of(dualStack("web", "172.16.20.16", "fd00:172:16:20::10")),
                List.of(ipv6Slice("web", "fd00:10:244:1::2@w1")));
        assertThat(r.skips()).isEmpty();
        assertThat(r.state().services()).extracting(sp -> sp.backends().size()).containsExactly(0, 1);
    }

    @Test
    void dsrProgramsADualStackServiceInBothFamilies() {
        var r = NodeStateBuilder.build(ForwardMode.DSR, 7, VIPS, "w1", NodeStateBuilderTest.NODES,
                List.of(dualStack("web", "172.16.20.16", "fd00:172:16:20::10")), List.of());
        assertThat(r.state().services()).extracting(sp -> sp.key().toString())
                .containsExactly("172.16.20.16:80/tcp", "[fd00:172:16:20::10]:80/tcp");
        assertThat(r.skips()).isEmpty();
    }

    @Test
    void ipv6VipsAreCheckedAgainstTheIpv6PoolsAndTheClustersOwnIpv6Ranges() {
        Service svc = new ServiceBuilder(dualStack("web", "172.16.20.16", "fd00:172:16:20::10"))
                .editStatus().editLoadBalancer().addNewIngress().withIp("2001:db8::1").endIngress()
                .addNewIngress().withIp("fd00:10:96::1").endIngress().endLoadBalancer().endStatus().build();
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NodeStateBuilderTest.NODES, List.of(svc), List.of());
        assertThat(r.state().services()).extracting(sp -> Addresses.text(sp.vip()))
                .containsExactly("172.16.20.16", "fd00:172:16:20::10");
        assertThat(r.skips()).extracting(NodeStateBuilder.Skip::reason).satisfiesExactly(
                w -> assertThat(w).contains("2001:db8::1", "outside the Cluster's load-balancer address pools", "fd00:172:16:20::/64"),
                w -> assertThat(w).contains("fd00:10:96::1", "the cluster's own pod or service range fd00:10:96::/112"));
        assertThat(VipRanges.of(List.of("fd00:172:16:20::10-fd00:172:16:20::20"), List.of(), List.of())
                .refusal(Addresses.ip("fd00:172:16:20::20"))).isEmpty();
        assertThat(VipRanges.of(List.of("0.0.0.0/0"), List.of(), List.of()).refusal(Addresses.ip("fd00::1")))
                .as("an IPv4 range never holds an IPv6 address").isPresent();
    }

    @Test
    void sourceRangesOfBothFamiliesAreReadAndEachVipKeepsItsOwn() {
        Service svc = new ServiceBuilder(dualStack("web", "172.16.20.16", "fd00:172:16:20::10"))
                .editSpec().withLoadBalancerSourceRanges("10.0.1.0/24", "2001:DB8::7/32").endSpec().build();
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NodeStateBuilderTest.NODES, List.of(svc), List.of());
        assertThat(r.skips()).isEmpty();
        assertThat(r.state().services()).hasSize(2).allSatisfy(sp -> assertThat(sp.policy().sourceRanges())
                .extracting(Cidr::toString).containsExactly("10.0.1.0/24", "2001:db8::/32"));
        assertThat(r.state().services().get(0).sourceRanges()).extracting(Cidr::toString).containsExactly("10.0.1.0/24");
        assertThat(r.state().services().get(1).sourceRanges()).extracting(Cidr::toString).containsExactly("2001:db8::/32");
    }

    @Test
    void ipv4OnlySourceRangesCloseTheIpv6VipAndAnUnreadableIpv6RangeSkipsTheService() {
        Service v4Ranges = new ServiceBuilder(dualStack("web", "172.16.20.16", "fd00:172:16:20::10"))
                .editSpec().withLoadBalancerSourceRanges("10.0.1.0/24").endSpec().build();
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NodeStateBuilderTest.NODES, List.of(v4Ranges), List.of());
        ServicePort v6 = r.state().services().get(1);
        assertThat(v6.family()).isEqualTo(IpFamily.IPV6);
        assertThat(v6.policy().restricted()).isTrue();
        assertThat(v6.sourceRanges()).as("no IPv6 client admitted: closed, not open").isEmpty();

        Service broken = new ServiceBuilder(dualStack("web", "172.16.20.16", "fd00:172:16:20::10"))
                .editSpec().withLoadBalancerSourceRanges("10.0.1.0/24", "2001:db8::/129").endSpec().build();
        var b = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NodeStateBuilderTest.NODES, List.of(broken), List.of());
        assertThat(b.state().services()).as("fail closed").isEmpty();
        assertThat(b.skips()).singleElement().satisfies(skip -> assertThat(skip.reason())
                .contains("2001:db8::/129", "IPv4 or IPv6 prefix", "not opened to every client"));
    }
}
