package io.lbmode.datapath.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.List;
import javax.management.ObjectName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Guards the heap the informer caches keep per Service in CI: the live heap (a class histogram, which collects
 * first, so only reachable objects count) of 2,000 Services and their EndpointSlices of 4 endpoints each, as the
 * API server sends them and the informer deserialises them, against the same objects after {@link SlimStore#slim}.
 * A ratio of two measurements in one JVM, not an absolute size. Measured figures: lab/bench/HISTORY.md (Agent memory).
 */
@Tag("unit")
class SlimStoreFootprintTest {
    private static final int SERVICES = 2000;
    private static final KubernetesSerialization JSON = new KubernetesSerialization();

    /**
     * Measured here: the slimmed objects hold 15% of the full objects' heap (1,888 of 12,537 bytes per Service and its
     * slice); the slimming before the compaction (lists the size of their elements, shared strings and conditions)
     * held 30% (3,792 bytes).
     */
    @Test
    void slimmedServicesAndSlicesKeepAtMostAFifthOfTheFullObjectsHeap() throws Exception {
        SlimStore.slim(JSON.unmarshal(service(-1), Service.class)); // loads and warms up what the measurement should not count
        SlimStore.slim(JSON.unmarshal(slice(-1), EndpointSlice.class));
        long empty = liveBytes();
        List<HasMetadata> objects = new ArrayList<>();
        for (int i = 0; i < SERVICES; i++) {
            objects.add(JSON.unmarshal(service(i), Service.class));
            objects.add(JSON.unmarshal(slice(i), EndpointSlice.class));
        }
        long full = liveBytes() - empty;
        objects.forEach(SlimStore::slim);
        long slim = liveBytes() - empty;
        Reference.reachabilityFence(objects);
        System.out.printf("per Service and its EndpointSlice (4 endpoints): %,d bytes as deserialised, %,d slimmed (%.0f%%)%n",
                full / SERVICES, slim / SERVICES, 100.0 * slim / full);
        assertThat((double) slim / full).as("slimmed / full live heap").isLessThan(0.2);
    }

    /** Bytes of reachable objects in the heap, after a full collection. */
    private static long liveBytes() throws Exception {
        String histogram = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
                new Object[]{new String[0]}, new String[]{String[].class.getName()});
        String[] lines = histogram.strip().split("\n");
        String[] total = lines[lines.length - 1].trim().split("\\s+"); // "Total <instances> <bytes>"
        assertThat(total[0]).isEqualTo("Total");
        return Long.parseLong(total[2]);
    }

    /** A Service as the API server returns it (server-side fields, managed fields of kubectl and the LB controller). */
    static String service(int i) {
        String name = "svc-" + i;
        return """
                {"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"bench","uid":"7d1c5b8e-0000-4000-8000-%012d",
                "resourceVersion":"%d","creationTimestamp":"2026-11-30T17:00:00Z","labels":{"app":"%s"},
                "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\\"apiVersion\\":\\"v1\\",\\"kind\\":\\"Service\\"}"},
                "managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"v1","time":"2026-11-30T17:00:00Z",
                "fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:ports":{"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:type":{}}}},
                {"manager":"metallb-controller","operation":"Update","apiVersion":"v1","time":"2026-11-30T17:00:01Z",
                "fieldsType":"FieldsV1","subresource":"status","fieldsV1":{"f:status":{"f:loadBalancer":{"f:ingress":{}}}}}]},
                "spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":%d}],"selector":{"app":"%s"},
                "clusterIP":"10.96.%d.%d","clusterIPs":["10.96.%d.%d"],"type":"LoadBalancer","sessionAffinity":"None",
                "externalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack",
                "allocateLoadBalancerNodePorts":true,"internalTrafficPolicy":"Cluster"},
                "status":{"loadBalancer":{"ingress":[{"ip":"172.16.%d.%d","ipMode":"VIP"}]}}}
                """.formatted(name, i, 1000 + i, name, 30000 + i % 2000, name, i / 250, i % 250 + 1, i / 250, i % 250 + 1,
                i / 250, i % 250 + 1);
    }

    /** Its EndpointSlice as the EndpointSlice controller writes it: 4 ready endpoints on 2 nodes. */
    static String slice(int i) {
        StringBuilder endpoints = new StringBuilder();
        for (int e = 0; e < 4; e++) {
            endpoints.append(e == 0 ? "" : ",").append("""
                    {"addresses":["10.%d.%d.%d"],"conditions":{"ready":true,"serving":true,"terminating":false},
                    "nodeName":"node-%d","targetRef":{"kind":"Pod","namespace":"bench","name":"svc-%d-pod-%d","uid":"9a3e0000-0000-4000-8000-%012d"}}
                    """.formatted(100 + e, i / 250, i % 250 + 1, e % 2, i, e, i * 4 + e));
        }
        return """
                {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"svc-%d-abcde","generateName":"svc-%d-",
                "namespace":"bench","uid":"5b2f0000-0000-4000-8000-%012d","resourceVersion":"%d","generation":1,
                "creationTimestamp":"2026-11-30T17:00:00Z","labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io",
                "kubernetes.io/service-name":"svc-%d"},"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"2026-11-30T17:00:00Z"},
                "ownerReferences":[{"apiVersion":"v1","kind":"Service","name":"svc-%d","uid":"7d1c5b8e-0000-4000-8000-%012d","controller":true,"blockOwnerDeletion":true}],
                "managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"discovery.k8s.io/v1",
                "time":"2026-11-30T17:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{}},"f:ports":{}}}]},
                "addressType":"IPv4","endpoints":[%s],"ports":[{"name":"http","protocol":"TCP","port":8080}]}
                """.formatted(i, i, i, 20000 + i, i, i, i, endpoints);
    }
}
