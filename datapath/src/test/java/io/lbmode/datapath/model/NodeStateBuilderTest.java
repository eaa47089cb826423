package io.lbmode.datapath.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.lbmode.crds.cluster.v1.ForwardMode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class NodeStateBuilderTest {
    /** The lab's pools and cluster ranges, each in both families. */
    static final VipRanges VIPS = VipRanges.of(List.of("172.16.20.0/24", "fd00:172:16:20::/64"),
            List.of("10.244.0.0/16", "fd00:10:244::/56"), List.of("10.96.0.0/20", "fd00:10:96::/112"));
    static final List<Node> NODES = List.of(node("lb", "10.0.0.10"), node("w1", "10.0.0.11"));

    static Node node(String name, String ip) {
        return new NodeBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewStatus().addNewAddress().withType("Hostname").withAddress(name).endAddress()
                .addNewAddress().withType("InternalIP").withAddress(ip).endAddress().endStatus().build();
    }

    static Service lb(String name, String vip, String etp, io.fabric8.kubernetes.api.model.ServicePort... ports) {
        return new ServiceBuilder().withNewMetadata().withName(name).withNamespace("default").endMetadata()
                .withNewSpec().withType("LoadBalancer").withExternalTrafficPolicy(etp).withPorts(ports).endSpec()
                .withNewStatus().withNewLoadBalancer().addNewIngress().withIp(vip).endIngress().endLoadBalancer().endStatus().build();
    }

    static io.fabric8.kubernetes.api.model.ServicePort port(String name, String proto, int port, IntOrString target) {
        return new ServicePortBuilder().withName(name).withProtocol(proto).withPort(port).withTargetPort(target).build();
    }

    /** ep: "ip@node:ready,serving,terminating" flags r/s/t. */
    static EndpointSlice slice(String svc, String portName, String proto, int port, String... eps) {
        EndpointSliceBuilder b = new EndpointSliceBuilder().withNewMetadata().withName(svc + "-x").withNamespace("default")
                .addToLabels(NodeStateBuilder.SERVICE_NAME_LABEL, svc).endMetadata().withAddressType("IPv4")
                .addNewPort().withName(portName).withProtocol(proto).withPort(port).endPort();
        for (String ep : eps) {
            String[] parts = ep.split("[@:]");
            String flags = parts.length > 2 ? parts[2] : "r";
            b.addToEndpoints(new EndpointBuilder().withAddresses(parts[0]).withNodeName(parts[1])
                    .withNewConditions().withReady(flags.contains("r")).withServing(flags.contains("s") || flags.contains("r"))
                    .withTerminating(flags.contains("t")).endConditions().build());
        }
        return b.build();
    }

    static NodeState build(List<Service> services, List<EndpointSlice> slices) {
        return NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES, services, slices).state();
    }

    @Test
    void vipPortsProtocolsAndNamedTargetPortResolvedThroughTheSlice() {
        NodeState s = build(List.of(lb("web", "172.16.20.16", "Cluster",
                        port("http", "TCP", 80, new IntOrString("web-http")), port("dns", "UDP", 53, new IntOrString(5353)))),
                List.of(slice("web", "http", "TCP", 8080, "10.244.1.2@w1", "10.244.2.2@w2"),
                        slice("web", "dns", "UDP", 5353, "10.244.1.2@w1")));
        assertThat(s.node().address()).isEqualTo(Addresses.ipv4("10.0.0.11"));
        assertThat(s.services()).extracting(sp -> sp.key().toString())
                .containsExactly("172.16.20.16:80/tcp", "172.16.20.16:53/udp");
        ServicePort http = s.services().get(0);
        assertThat(http.backends()).extracting(Backend::endpoint).containsExactly("10.244.1.2:8080", "10.244.2.2:8080");
        assertThat(http.backends()).extracting(Backend::local).containsExactly(true, false);
        assertThat(s.services().get(1).backends()).extracting(Backend::endpoint).containsExactly("10.244.1.2:5353");
    }

    @Test
    void onlyReadyEndpointsAndServingTerminatingOnlyWhenNoneIsReady() {
        var svc = lb("web", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080)));
        NodeState mixed = build(List.of(svc), List.of(slice("web", "", "TCP", 8080,
                "10.244.1.2@w1:r", "10.244.1.3@w1:-", "10.244.1.4@w1:st", "10.244.1.5@w1:t")));
        assertThat(mixed.services().getFirst().backends()).extracting(Backend::endpoint).containsExactly("10.244.1.2:8080");
        NodeState terminatingOnly = build(List.of(svc), List.of(slice("web", "", "TCP", 8080,
                "10.244.1.3@w1:-", "10.244.1.4@w1:st", "10.244.1.5@w1:t")));
        assertThat(terminatingOnly.services().getFirst().backends()).extracting(Backend::endpoint).containsExactly("10.244.1.4:8080");
    }

    @Test
    void externalTrafficPolicyLocalKeepsLocalEndpointsOnly() {
        NodeState s = build(List.of(lb("web", "172.16.20.16", "Local", port("", "TCP", 80, new IntOrString(8080)))),
                List.of(slice("web", "", "TCP", 8080, "10.244.1.2@w1", "10.244.2.2@w2")));
        ServicePort sp = s.services().getFirst();
        assertThat(sp.localOnly()).isTrue();
        assertThat(sp.backends()).extracting(Backend::endpoint).containsExactly("10.244.1.2:8080");
        NodeState onOtherNode = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "lb", NODES,
                List.of(lb("web", "172.16.20.16", "Local", port("", "TCP", 80, new IntOrString(8080)))),
                List.of(slice("web", "", "TCP", 8080, "10.244.1.2@w1"))).state();
        assertThat(onOtherNode.services().getFirst().backends()).as("no local endpoint: rejects").isEmpty();
    }

    @Test
    void serviceWithoutEndpointsIsKeptWithNoBackendsSoItRejects() {
        NodeState s = build(List.of(lb("web", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080)))), List.of());
        assertThat(s.services()).hasSize(1);
        assertThat(s.services().getFirst().backends()).isEmpty();
    }

    @Test
    void ignoresNonLoadBalancerServicesPendingVipsAndUnsupportedProtocolsWithWarnings() {
        Service clusterIp = new ServiceBuilder(lb("a", "172.16.20.1", "Cluster", port("", "TCP", 80, new IntOrString(80))))
                .editSpec().withType("ClusterIP").endSpec().build();
        Service pending = new ServiceBuilder(lb("b", "172.16.20.2", "Cluster", port("", "TCP", 80, new IntOrString(80))))
                .withStatus(null).build();
        Service sctp = lb("c", "172.16.20.3", "Cluster", port("x", "SCTP", 80, new IntOrString(80)));
        Service notAnAddress = lb("d", "172.16.20", "Cluster", port("", "TCP", 80, new IntOrString(80)));
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES, List.of(clusterIp, pending, sctp, notAnAddress), List.of());
        assertThat(r.state().services()).isEmpty();
        assertThat(r.skips()).hasSize(2).anySatisfy(w -> assertThat(w.service() + " " + w.reason()).contains("default/c", "SCTP"))
                .anySatisfy(w -> assertThat(w.service() + " " + w.reason()).contains("default/d", "'172.16.20' is not an IPv4 or IPv6 address"));
    }

    @Test
    void sameInputsInAnyOrderGiveTheSameHashAndAChangeChangesIt() {
        List<Service> services = new ArrayList<>();
        List<EndpointSlice> slices = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            services.add(lb("s" + i, "172.16.20." + (i + 1), "Cluster", port("", "TCP", 80, new IntOrString(8080))));
            slices.add(slice("s" + i, "", "TCP", 8080, "10.244.1." + (i + 2) + "@w1", "10.244.2." + (i + 2) + "@w2"));
        }
        String hash = build(services, slices).hash();
        Collections.reverse(services);
        Collections.shuffle(slices, new java.util.Random(1));
        assertThat(build(services, slices).hash()).isEqualTo(hash).hasSize(16);
        slices.set(0, slice(slices.getFirst().getMetadata().getLabels().get(NodeStateBuilder.SERVICE_NAME_LABEL), "", "TCP", 8080, "10.244.9.9@w1"));
        assertThat(build(services, slices).hash()).isNotEqualTo(hash);
    }

    static Service created(Service s, String timestamp) {
        return new ServiceBuilder(s).editMetadata().withCreationTimestamp(timestamp).endMetadata().build();
    }

    @Test
    void twoServicesClaimingTheSameVipPortTheOldestKeepsItAndTheOtherIsReported() {
        Service a = lb("a", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(80)));
        Service b = lb("b", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(81)));
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES,
                List.of(created(a, "2026-11-30T10:00:00Z"), created(b, "2026-11-29T10:00:00Z")), List.of());
        assertThat(r.state().services()).singleElement().extracting(ServicePort::name).as("b is older").isEqualTo("b");
        assertThat(r.skips()).singleElement().satisfies(skip -> {
            assertThat(skip.service()).isEqualTo("default/a");
            assertThat(skip.reason()).contains("172.16.20.16:80/tcp", "already used by the older Service default/b");
        });
        var sameAge = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES,
                List.of(created(b, "2026-11-30T10:00:00Z"), created(a, "2026-11-30T10:00:00Z")), List.of());
        assertThat(sameAge.state().services()).singleElement().extracting(ServicePort::name).as("then by name").isEqualTo("a");
    }

    @Test
    void vipsOutsideTheClustersPoolsOrInsideItsOwnRangesAreRefusedAndReported() {
        Service svc = new ServiceBuilder(lb("web", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editStatus().editLoadBalancer().addNewIngress().withIp("8.8.8.8").endIngress()
                .addNewIngress().withIp("10.96.0.1").endIngress().endLoadBalancer().endStatus().build();
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES, List.of(svc), List.of());
        assertThat(r.state().services()).extracting(sp -> sp.vip().getHostAddress()).containsExactly("172.16.20.16");
        assertThat(r.skips()).extracting(NodeStateBuilder.Skip::reason).satisfiesExactly(
                w -> assertThat(w).contains("8.8.8.8", "outside the Cluster's load-balancer address pools", "172.16.20.0/24"),
                w -> assertThat(w).contains("10.96.0.1", "the cluster's own pod or service range 10.96.0.0/20"));
        // A dash range and single addresses (the control plane and ingress VIPs) allow exactly what they say.
        VipRanges ranges = VipRanges.of(List.of("10.200.0.50-10.200.0.70", "10.200.0.49"), List.of(), List.of());
        assertThat(ranges.refusal(Addresses.ipv4("10.200.0.50"))).isEmpty();
        assertThat(ranges.refusal(Addresses.ipv4("10.200.0.70"))).isEmpty();
        assertThat(ranges.refusal(Addresses.ipv4("10.200.0.49"))).isEmpty();
        assertThat(ranges.refusal(Addresses.ipv4("10.200.0.71"))).isPresent();
        assertThat(ranges.refusal(Addresses.ipv4("10.200.0.48"))).isPresent();
        assertThat(VipRanges.of(List.of(), List.of(), List.of()).refusal(Addresses.ipv4("172.16.20.16")))
                .as("no pools configured: nothing allowed").get().asString().contains("none configured");
    }

    @Test
    void aServiceThatCantBeProgrammedIsSkippedAndReportedAndTheOthersAreProgrammed() {
        Service port0 = lb("port0", "172.16.20.1", "Cluster", port("", "TCP", 0, new IntOrString(8080)));
        Service target0 = lb("target0", "172.16.20.2", "Cluster", port("http", "TCP", 80, new IntOrString(0)),
                port("dns", "UDP", 53, new IntOrString(53)));
        Service noPort = lb("noport", "172.16.20.3", "Cluster", new ServicePortBuilder().withName("x").build());
        Service noPorts = new ServiceBuilder(lb("noports", "172.16.20.4", "Cluster")).editSpec().withPorts(List.of()).endSpec().build();
        Service good = lb("good", "172.16.20.5", "Cluster", port("", "TCP", 80, new IntOrString(8080)));
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES, List.of(port0, target0, noPort, noPorts, good),
                List.of(slice("good", "", "TCP", 8080, "10.244.1.2@w1")));
        assertThat(r.state().services()).extracting(sp -> sp.name() + ":" + sp.port()).containsExactly("target0:53", "good:80");
        assertThat(r.skips()).extracting(sk -> sk.service() + ": " + sk.reason()).containsExactlyInAnyOrder(
                "default/port0: spec.ports[0].port 0 is not 1-65535; this port skipped",
                "default/target0: spec.ports[0] (http).targetPort 0 is not 1-65535; this port skipped",
                "default/noport: spec.ports[0] (x).port is missing; this port skipped",
                "default/noports: spec.ports is empty; nothing to program");
        assertThat(r.skippedServices()).as("oldest first, then by name").containsExactly("default/noport", "default/noports", "default/port0", "default/target0");
    }

    @Test
    void anUnreadableEndpointAddressIsReportedNamingTheSliceAndTheOtherEndpointsServe() {
        var svc = lb("web", "172.16.20.16", "Cluster", port("http", "TCP", 80, new IntOrString(8080)),
                port("alt", "TCP", 81, new IntOrString(8080)));
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES, List.of(svc),
                List.of(slice("web", "http", "TCP", 8080, "10.244.1.2@w1", "10.244.1.999@w1"),
                        slice("web", "alt", "TCP", 8080, "10.244.1.2@w1")));
        assertThat(r.state().services()).extracting(sp -> sp.port() + " " + sp.backends().stream().map(Backend::endpoint).toList())
                .containsExactly("80 [10.244.1.2:8080]", "81 [10.244.1.2:8080]");
        assertThat(r.skips()).as("once, however many ports the slice serves").extracting(sk -> sk.service() + ": " + sk.reason())
                .containsExactly("default/web: EndpointSlice web-x endpoints[1].addresses[0] '10.244.1.999' is not an IPv4 or IPv6"
                        + " address; this endpoint skipped");
    }

    @Test
    void theSameEndpointInTwoSlicesIsOneBackend() {
        var svc = lb("web", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080)));
        EndpointSlice first = slice("web", "", "TCP", 8080, "10.244.1.2@w1", "10.244.2.2@w2");
        EndpointSlice second = new EndpointSliceBuilder(slice("web", "", "TCP", 8080, "10.244.1.2@w9", "10.244.2.3@w2"))
                .editMetadata().withName("web-y").endMetadata().build();
        var r = NodeStateBuilder.build(ForwardMode.DSR, 7, VIPS, "w1", NODES, List.of(svc), List.of(first, second));
        ServicePort sp = r.state().services().getFirst();
        assertThat(sp.backends()).extracting(Backend::endpoint).containsExactly("10.244.1.2:8080", "10.244.2.2:8080", "10.244.2.3:8080");
        assertThat(sp.backends().getFirst().nodeName()).as("the first node name, on every node alike").isEqualTo("w1");
        assertThat(r.skips()).isEmpty();
        // Maglev (DSR) refused a backend listed twice for the whole node ("backend names must be distinct").
        assertThat(io.lbmode.datapath.maglev.Maglev.table(sp.backends().stream().map(Backend::endpoint).toList(), 251, 7)).hasSize(251);
    }

    @Test
    void fieldsLbmodeDoesNotHonourAreReportedWhenSet() {
        var svc = new ServiceBuilder(lb("web", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editSpec().withLoadBalancerClass("example.com/other").withInternalTrafficPolicy("Local")
                .withIpFamilyPolicy("PreferDualStack").withExternalIPs("192.0.2.1").withLoadBalancerIP("172.16.20.16")
                .withAllocateLoadBalancerNodePorts(true).withHealthCheckNodePort(30000).endSpec().build();
        var plain = new ServiceBuilder(lb("plain", "172.16.20.17", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editSpec().withInternalTrafficPolicy("Cluster").withIpFamilyPolicy("SingleStack").endSpec().build();
        var r = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES, List.of(svc, plain), List.of());
        assertThat(r.state().services()).hasSize(2);
        assertThat(r.ignored()).extracting(NodeStateBuilder.Ignored::field).containsExactly(
                "spec.loadBalancerClass: example.com/other", "spec.internalTrafficPolicy: Local",
                "spec.externalIPs: 192.0.2.1", "spec.loadBalancerIP: 172.16.20.16");
        assertThat(r.ignored()).extracting(NodeStateBuilder.Ignored::service).containsOnly("default/web");
        assertThat(r.ignored()).as("ipFamilyPolicy is honoured (every ingress address in its family), not ignored")
                .noneMatch(i -> i.field().contains("ipFamilyPolicy"));
    }

    @Test
    void servingTerminatingEndpointsDrainWhileReadyOnesTakeNewConnections() {
        var svc = lb("web", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080)));
        ServicePort sp = build(List.of(svc), List.of(slice("web", "", "TCP", 8080,
                "10.244.1.2@w1:r", "10.244.1.4@w1:st", "10.244.1.5@w1:t"))).services().getFirst();
        assertThat(sp.backends()).extracting(Backend::endpoint).containsExactly("10.244.1.2:8080");
        assertThat(sp.draining()).extracting(Backend::endpoint).containsExactly("10.244.1.4:8080");
    }

    @Test
    void sourceRangesFromTheFieldElseTheAnnotationAndAnUnreadableRangeSkipsTheService() {
        var field = new ServiceBuilder(lb("field", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editSpec().withLoadBalancerSourceRanges("203.0.113.7/24", "198.51.100.1").endSpec().build();
        var annotated = new ServiceBuilder(lb("annotated", "172.16.20.17", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editMetadata().addToAnnotations(NodeStateBuilder.SOURCE_RANGES_ANNOTATION, "192.0.2.0/25, 192.0.2.128/25")
                .endMetadata().build();
        var broken = new ServiceBuilder(lb("broken", "172.16.20.18", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editSpec().withLoadBalancerSourceRanges("203.0.113.0/24", "everyone").endSpec().build();
        var result = NodeStateBuilder.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES, List.of(field, annotated, broken), List.of());
        assertThat(result.state().services()).extracting(ServicePort::name).containsExactly("field", "annotated");
        assertThat(result.state().services().get(0).policy().sourceRanges()).extracting(Cidr::toString)
                .containsExactly("198.51.100.1/32", "203.0.113.0/24");
        assertThat(result.state().services().get(1).policy().sourceRanges()).extracting(Cidr::toString)
                .containsExactly("192.0.2.0/25", "192.0.2.128/25");
        assertThat(result.skips()).singleElement().satisfies(w -> assertThat(w.service() + ": " + w.reason()).contains("default/broken")
                .contains("spec.loadBalancerSourceRanges entry 'everyone'").contains("skipped"));
    }

    @Test
    void clientIpAffinityWithTheKubernetesDefaultTimeout() {
        var sticky = new ServiceBuilder(lb("sticky", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editSpec().withSessionAffinity("ClientIP").endSpec().build();
        var timed = new ServiceBuilder(lb("timed", "172.16.20.17", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editSpec().withSessionAffinity("ClientIP").withNewSessionAffinityConfig().withNewClientIP()
                .withTimeoutSeconds(60).endClientIP().endSessionAffinityConfig().endSpec().build();
        var none = new ServiceBuilder(lb("none", "172.16.20.18", "Cluster", port("", "TCP", 80, new IntOrString(8080))))
                .editSpec().withSessionAffinity("None").endSpec().build();
        List<ServicePort> ports = build(List.of(sticky, timed, none), List.of()).services();
        assertThat(ports).extracting(sp -> sp.policy().affinityTimeoutSeconds()).containsExactly(10800, 60, 0);
        NodeState withAffinity = build(List.of(sticky), List.of());
        NodeState without = build(List.of(lb("sticky", "172.16.20.16", "Cluster", port("", "TCP", 80, new IntOrString(8080)))), List.of());
        assertThat(withAffinity.hash()).isNotEqualTo(without.hash());
    }

    @Test
    void cidrClearsHostBitsAndMatchesItsPrefix() {
        Cidr c = Cidr.parse("203.0.113.77/24").orElseThrow();
        assertThat(c).hasToString("203.0.113.0/24");
        assertThat(c.contains(Addresses.ipv4("203.0.113.200"))).isTrue();
        assertThat(c.contains(Addresses.ipv4("203.0.114.1"))).isFalse();
        assertThat(Cidr.parse("0.0.0.0/0").orElseThrow().contains(Addresses.ipv4("8.8.8.8"))).isTrue();
        assertThat(Cidr.parse("10.0.0.0/33")).isEmpty();
        assertThat(Cidr.parse("10.0.0/8")).isEmpty();
        assertThat(Cidr.parse("")).isEmpty();
    }
}
