package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.model.NodeStateBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the informer caches keep is enough: the desired state from slimmed objects equals the one from the objects as read. */
@Tag("unit")
class SlimStoreTest {
    private static final KubernetesSerialization JSON = new KubernetesSerialization();

    @TempDir
    Path dir;

    @Test
    void slimmedObjectsGiveTheSameNodeStateAndLoseTheirManagedFields() throws Exception {
        Files.writeString(dir.resolve("cluster.yaml"), LabObjects.cluster(ForwardMode.SNAT) + LabObjects.nodes());
        List<LabObjects.Ep> eps = List.of(LabObjects.Ep.ready("w1p1"), LabObjects.Ep.notReady("w2p1"), LabObjects.Ep.ready("w2p2"),
                new LabObjects.Ep("w2p1", false, true, true));
        String objects = LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(), eps)
                + LabObjects.service("local", "172.16.20.17", true, LabObjects.webPorts(), List.of(LabObjects.Ep.ready("w2p2")))
                + LabObjects.familiesService("dual", List.of("172.16.20.18", "fd00:20::18"), LabObjects.webPorts(), eps)
                // The Service fields the desired state reads beyond the fixtures' (affinity, source ranges, external IPs).
                + """
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: sticky, namespace: other, creationTimestamp: "2026-11-30T17:00:00Z", uid: u-1,
                  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: 10.9.0.0/16}}
                spec: {type: LoadBalancer, sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}},
                  externalIPs: [172.16.20.19], internalTrafficPolicy: Local, clusterIP: 10.96.0.9, clusterIPs: [10.96.0.9],
                  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30001, appProtocol: http}]}
                status: {loadBalancer: {ingress: [{ip: 172.16.20.20, ipMode: VIP}]}}
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: sticky-1, namespace: other, uid: u-2, generation: 3, labels: {kubernetes.io/service-name: sticky}}
                addressType: IPv4
                ports: [{name: http, protocol: TCP, port: 8080, appProtocol: http}]
                endpoints:
                - {addresses: [10.244.1.9], nodeName: w1, hostname: p, zone: z, conditions: {ready: true}}
                - {addresses: [10.244.2.9, 10.244.2.10], conditions: {serving: true, terminating: true}}
                """;
        List<Service> services = new ArrayList<>();
        List<EndpointSlice> slices = new ArrayList<>();
        List<Service> slimServices = new ArrayList<>();
        List<EndpointSlice> slimSlices = new ArrayList<>();
        for (String doc : objects.split("(?m)^---\\n")) {
            if (doc.isBlank()) {
                continue;
            }
            HasMetadata full = JSON.unmarshal(doc);
            HasMetadata slim = JSON.unmarshal(doc);
            slim.getMetadata().setManagedFields(List.of(new ManagedFieldsEntryBuilder().withManager("kubectl").build()));
            SlimStore.slim(SlimStore.slim(slim)); // twice: a slimmed object slims again to itself
            switch (full) {
                case Service s -> {
                    services.add(s);
                    slimServices.add((Service) slim);
                }
                case EndpointSlice e -> {
                    slices.add(e);
                    slimSlices.add((EndpointSlice) slim);
                }
                default -> throw new IllegalStateException(doc);
            }
        }
        List<Node> nodes = new StateDirSource(dir).read().nodes();

        for (String node : LabObjects.NODES) {
            for (ForwardMode mode : ForwardMode.values()) {
                assertThat(NodeStateBuilder.build(mode, 7, LabObjects.VIPS, node, nodes, slimServices, slimSlices))
                        .isEqualTo(NodeStateBuilder.build(mode, 7, LabObjects.VIPS, node, nodes, services, slices));
            }
        }
        assertThat(NodeStateBuilder.build(ForwardMode.SNAT, 7, LabObjects.VIPS, LabObjects.NODES.getFirst(), nodes, services, slices)
                .state().services()).hasSizeGreaterThan(6);
        Service web = slimServices.getFirst();
        assertThat(web.getMetadata().getManagedFields()).isNull();
        assertThat(web.getSpec().getClusterIPs()).isNull();
        assertThat(slimSlices.getFirst().getEndpoints().getFirst().getTargetRef()).isNull();
        assertThat(slimSlices.getFirst().getMetadata().getLabels()).containsOnlyKeys(NodeStateBuilder.SERVICE_NAME_LABEL);
        // One string for the Service's name and its slice's label, one conditions object per combination.
        assertThat(slimSlices.getFirst().getMetadata().getLabels().get(NodeStateBuilder.SERVICE_NAME_LABEL)).isSameAs(web.getMetadata().getName());
        assertThat(slimSlices.get(2).getEndpoints().getFirst().getConditions()).isSameAs(slimSlices.getFirst().getEndpoints().getFirst().getConditions());
    }

    @Test
    void aServiceKeepsItsSourceRangeAnnotationWhichTheDesiredStateReads() throws Exception {
        Files.writeString(dir.resolve("web.yaml"), LabObjects.service("web", "172.16.20.16", false, LabObjects.webPorts(),
                List.of(LabObjects.Ep.ready("w1p1"))));
        var svc = new StateDirSource(dir).read().services().getFirst();
        svc.getMetadata().setAnnotations(Map.of("a", "b", NodeStateBuilder.SOURCE_RANGES_ANNOTATION, "10.0.1.0/24"));
        assertThat(SlimStore.slim(svc).getMetadata().getAnnotations())
                .containsExactly(Map.entry(NodeStateBuilder.SOURCE_RANGES_ANNOTATION, "10.0.1.0/24"));
    }
}
