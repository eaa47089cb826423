package io.lbmode.datapath.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.NodeStateBuilder.Contribution;
import io.lbmode.datapath.model.NodeStateBuilder.Ignored;
import io.lbmode.datapath.model.NodeStateBuilder.Result;
import io.lbmode.datapath.model.NodeStateBuilder.Skip;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The desired state kept up to date change by change equals the one built from scratch from the same objects, after
 * any sequence of changes: Services and EndpointSlices added, changed, deleted and moved between Services, VIP:ports
 * two Services claim (the older keeps it, and the next one takes it when the older goes), skipped and ignored fields,
 * both modes. Both also equal an independent reference: every Service rebuilt and sorted oldest first on every change,
 * as the builder did before it kept its state.
 */
@Tag("unit")
class DesiredStateTest {
    static final List<Node> NODES = List.of(NodeStateBuilderTest.node("w1", "10.0.0.11"));
    static final VipRanges VIPS = VipRanges.of(List.of("172.16.20.0/24", "fd00:172:16:20::/64"), List.of("10.244.0.0/16"),
            List.of("10.96.0.0/12"));

    /** A random Service: few names, VIPs and ports, so that claims clash often; now and then something to skip or ignore. */
    static Service randomService(Random r, int version) {
        String name = "s" + r.nextInt(12);
        ServiceBuilder b = new ServiceBuilder().withNewMetadata().withName(name).withNamespace(r.nextInt(5) == 0 ? "other" : "default")
                .withUid("uid-" + name + "-" + version)
                .withCreationTimestamp(r.nextInt(6) == 0 ? null : "2026-01-0" + (1 + r.nextInt(3)) + "T00:00:00Z")
                .endMetadata();
        var spec = b.withNewSpec().withType(r.nextInt(8) == 0 ? "ClusterIP" : "LoadBalancer")
                .withExternalTrafficPolicy(r.nextInt(4) == 0 ? "Local" : "Cluster");
        int ports = 1 + r.nextInt(2);
        for (int i = 0; i < ports; i++) {
            spec.addToPorts(new ServicePortBuilder().withName(i == 0 ? "http" : "dns").withProtocol(i == 0 ? "TCP" : "UDP")
                    .withPort(r.nextInt(10) == 0 ? 70000 : 80 + r.nextInt(2)).withTargetPort(new IntOrString(8080)).build());
        }
        if (r.nextInt(6) == 0) {
            spec.withLoadBalancerSourceRanges(r.nextBoolean() ? "192.0.2.0/24" : "not-a-prefix");
        }
        if (r.nextInt(6) == 0) {
            spec.withLoadBalancerClass("example.com/other");
        }
        b = spec.endSpec();
        var lb = b.withNewStatus().withNewLoadBalancer();
        lb.addNewIngress().withIp("172.16." + (r.nextInt(8) == 0 ? "99" : "20") + "." + (1 + r.nextInt(4))).endIngress();
        if (r.nextInt(4) == 0) {
            lb.addNewIngress().withIp("fd00:172:16:20::" + (1 + r.nextInt(3))).endIngress();
        }
        return lb.endLoadBalancer().endStatus().build();
    }

    /** A random EndpointSlice: one of a few names, labelled with one of the Services' names (or none). */
    static EndpointSlice randomSlice(Random r) {
        boolean v6 = r.nextInt(4) == 0;
        var meta = new EndpointSliceBuilder().withNewMetadata().withName("e" + r.nextInt(16)).withNamespace(r.nextInt(5) == 0 ? "other" : "default");
        if (r.nextInt(10) != 0) {
            meta.addToLabels(NodeStateBuilder.SERVICE_NAME_LABEL, "s" + r.nextInt(12));
        }
        EndpointSliceBuilder b = meta.endMetadata().withAddressType(v6 ? "IPv6" : "IPv4")
                .addNewPort().withName("http").withProtocol("TCP").withPort(8080).endPort()
                .addNewPort().withName("dns").withProtocol("UDP").withPort(5353).endPort();
        int n = r.nextInt(4);
        for (int i = 0; i < n; i++) {
            String address = v6 ? "fd00:10:244:1::" + (1 + r.nextInt(6)) : "10.244.1." + (1 + r.nextInt(6));
            boolean ready = r.nextInt(4) != 0;
            b.addToEndpoints(new EndpointBuilder().withAddresses(address).withNodeName(r.nextBoolean() ? "w1" : "w2")
                    .withNewConditions().withReady(ready).withServing(ready || r.nextBoolean()).withTerminating(!ready).endConditions().build());
        }
        return b.build();
    }

    static String key(Service s) {
        return DesiredState.serviceKey(s.getMetadata().getNamespace(), s.getMetadata().getName());
    }

    static String key(EndpointSlice s) {
        return s.getMetadata().getNamespace() + "/" + s.getMetadata().getName();
    }

    @Test
    void anySequenceOfChangesEndsInTheStateBuiltFromScratch() {
        for (long seed = 1; seed <= 40; seed++) {
            Random r = new Random(seed);
            DesiredState kept = new DesiredState();
            Map<String, Service> services = new LinkedHashMap<>();
            Map<String, EndpointSlice> slices = new LinkedHashMap<>();
            ForwardMode mode = ForwardMode.SNAT;
            int clashes = 0;
            for (int step = 0; step < 150; step++) {
                switch (r.nextInt(10)) {
                    case 0, 1, 2 -> {
                        Service s = randomService(r, step);
                        services.put(key(s), s);
                        kept.putService(s);
                    }
                    case 3 -> {
                        if (!services.isEmpty()) {
                            String k = List.copyOf(services.keySet()).get(r.nextInt(services.size()));
                            services.remove(k);
                            kept.removeService(k);
                        }
                    }
                    case 4, 5, 6 -> {
                        EndpointSlice s = randomSlice(r);
                        slices.put(key(s), s);
                        kept.putSlice(key(s), s);
                    }
                    case 7 -> {
                        if (!slices.isEmpty()) {
                            String k = List.copyOf(slices.keySet()).get(r.nextInt(slices.size()));
                            slices.remove(k);
                            kept.removeSlice(k);
                        }
                    }
                    case 8 -> kept.removeService("default/never-there"); // nothing to do
                    default -> {
                        if (r.nextInt(8) == 0) {
                            mode = mode == ForwardMode.SNAT ? ForwardMode.DSR : ForwardMode.SNAT;
                        }
                    }
                }
                if (r.nextInt(3) == 0) {
                    continue; // several changes before a build, as a burst of events
                }
                Result incremental = kept.build(mode, 7, VIPS, "w1", NODES);
                Result scratch = NodeStateBuilder.build(mode, 7, VIPS, "w1", NODES, List.copyOf(services.values()), List.copyOf(slices.values()));
                Result reference = reference(mode, List.copyOf(services.values()), List.copyOf(slices.values()));
                String at = "seed " + seed + " step " + step;
                assertThat(incremental).as(at).isEqualTo(scratch).isEqualTo(reference);
                NodeState summedAnew = new NodeState(mode, incremental.state().node(), 7, new ArrayList<>(incremental.state().services()));
                assertThat(incremental.state().hash()).as(at).isEqualTo(scratch.state().hash())
                        .as("the sum kept equals the sum over every port").isEqualTo(summedAnew.hash());
                assertThat(incremental.state().backendCount()).as(at).isEqualTo(summedAnew.backendCount());
                for (IpFamily family : IpFamily.values()) {
                    assertThat(incremental.state().hasPortsOf(family)).as(at + " " + family).isEqualTo(summedAnew.hasPortsOf(family))
                            .isEqualTo(summedAnew.services().stream().anyMatch(sp -> sp.family() == family));
                }
                clashes += (int) incremental.skips().stream().filter(sk -> sk.reason().contains("already used by the older")).count();
            }
            assertThat(clashes).as("seed " + seed + " met VIP:ports two Services claim").isPositive();
        }
    }

    /** The rules between Services written plainly: all rebuilt, sorted oldest first, the first claim of a VIP:port keeps it. */
    static Result reference(ForwardMode mode, List<Service> services, List<EndpointSlice> slices) {
        Map<String, List<EndpointSlice>> byService = new HashMap<>();
        slices.stream().sorted(Comparator.comparing(DesiredStateTest::key)).forEach(s ->
                NodeStateBuilder.serviceOf(s).ifPresent(svc -> byService.computeIfAbsent(svc, k -> new ArrayList<>()).add(s)));
        List<Service> sorted = services.stream().filter(NodeStateBuilder::isLoadBalancer)
                .sorted(Comparator.comparing((Service s) -> Optional.ofNullable(s.getMetadata().getCreationTimestamp()).orElse("~"))
                        .thenComparing(s -> NodeStateBuilder.ns(s.getMetadata().getNamespace()))
                        .thenComparing(s -> s.getMetadata().getName())).toList();
        Map<ServicePort.Key, ServicePort> holders = new HashMap<>();
        List<Skip> skips = new ArrayList<>();
        List<Ignored> ignored = new ArrayList<>();
        List<ServicePort> forwarded = new ArrayList<>();
        for (Service s : sorted) {
            String ns = NodeStateBuilder.ns(s.getMetadata().getNamespace());
            String name = s.getMetadata().getName();
            Contribution c = NodeStateBuilder.contribution(s, ns, name, byService.getOrDefault(ns + "/" + name, List.of()), "w1", VIPS);
            skips.addAll(c.skips());
            for (ServicePort sp : c.ports()) {
                ServicePort holder = holders.putIfAbsent(sp.key(), sp);
                if (holder != null) {
                    skips.add(new Skip(ns, name, sp.key() + " is already used by the older Service " + holder.namespace() + "/"
                            + holder.name() + "; this port skipped"));
                } else {
                    forwarded.add(sp);
                }
            }
            ignored.addAll(c.ignored());
        }
        return new Result(new NodeState(mode, NodeStateBuilder.nodeInfo("w1", NODES), 7, forwarded), skips, ignored);
    }

    @Test
    void aChangeRebuildsOnlyItsServiceAndTheOlderServiceKeepsAClaimedPortUntilItGoes() {
        DesiredState kept = new DesiredState();
        Service older = service("older", "2026-01-01T00:00:00Z", "172.16.20.1");
        Service newer = service("newer", "2026-01-02T00:00:00Z", "172.16.20.1");
        Service other = service("other", "2026-01-03T00:00:00Z", "172.16.20.2");
        List.of(newer, older, other).forEach(kept::putService);
        kept.putSlice("default/older-1", NodeStateBuilderTest.slice("older", "http", "TCP", 8080, "10.244.1.2@w1"));
        kept.putSlice("default/newer-1", NodeStateBuilderTest.slice("newer", "http", "TCP", 8080, "10.244.1.3@w1"));
        kept.putSlice("default/other-1", NodeStateBuilderTest.slice("other", "http", "TCP", 8080, "10.244.1.4@w1"));
        Result first = kept.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES);
        assertThat(first.state().services()).extracting(ServicePort::name).containsExactly("older", "other");
        assertThat(first.skips()).singleElement().satisfies(s -> assertThat(s.reason())
                .isEqualTo("172.16.20.1:80/tcp is already used by the older Service default/older; this port skipped"));
        assertThat(kept.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES)).as("nothing changed: the same result").isSameAs(first);

        kept.putSlice("default/other-1", NodeStateBuilderTest.slice("other", "http", "TCP", 8080, "10.244.1.5@w1"));
        NodeState second = kept.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES).state();
        assertThat(second.services().get(0)).as("not rebuilt").isSameAs(first.state().services().get(0));
        assertThat(second.services().get(1).backends()).extracting(Backend::endpoint).containsExactly("10.244.1.5:8080");
        assertThat(second.changesFrom(first.state()).after()).containsExactly(second.services().get(1));

        kept.removeService("default/older");
        Result third = kept.build(ForwardMode.SNAT, 7, VIPS, "w1", NODES);
        assertThat(third.state().services()).extracting(ServicePort::name).containsExactly("newer", "other");
        assertThat(third.skips()).as("the newer one holds the port now, and nothing is reported").isEmpty();
        assertThat(third.state().changesFrom(second)).satisfies(c -> {
            assertThat(c.before()).extracting(ServicePort::name).containsExactly("older");
            assertThat(c.after()).extracting(ServicePort::name).containsExactly("newer");
        });
    }

    static Service service(String name, String created, String vip) {
        Service s = NodeStateBuilderTest.lb(name, vip, "Cluster", NodeStateBuilderTest.port("http", "TCP", 80, new IntOrString(8080)));
        s.getMetadata().setCreationTimestamp(created);
        return s;
    }
}
