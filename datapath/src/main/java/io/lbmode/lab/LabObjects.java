package io.lbmode.lab;

import io.lbmode.crds.cluster.v1.ForwardMode;
import java.util.ArrayList;
import java.util.List;


/** YAML of the Kubernetes objects the lab's agents read from their state dirs, in normal Kubernetes form. */
public final class LabObjects {
    private LabObjects() {
    }

    /** A user Cluster with the given forward mode. */
    public static String cluster(ForwardMode mode) {
        return """
                apiVersion: baremetal.cluster.gke.io/v1
                kind: Cluster
                metadata:
                  name: lab
                  namespace: cluster-lab
                spec:
                  type: user
                  anthosBareMetalVersion: 1.28.0
                  clusterNetwork:
                    forwardMode: %s
                    pods:
                      cidrBlocks: [10.244.0.0/16]
                    services:
                      cidrBlocks: [10.96.0.0/20]
                  loadBalancer:
                    mode: bundled
                    ports: {controlPlaneLBPort: 443}
                    vips: {controlPlaneVIP: 10.0.0.100}
                    addressPools:
                    - name: pool1
                      addresses: [172.16.20.0/24]
                """.formatted(mode.wireName());
    }

    /** The lab's three Node objects with their InternalIPs. */
    public static String nodes() {
        StringBuilder s = new StringBuilder();
        for (String node : Lab.NODES) {
            s.append("""
                    ---
                    apiVersion: v1
                    kind: Node
                    metadata:
                      name: %s
                    status:
                      addresses:
                      - {type: InternalIP, address: %s}
                      - {type: Hostname, address: %s}
                    """.formatted(node, Lab.NODE_IPS.get(node), node));
        }
        return s.toString();
    }

    /** A port of a Service: name, protocol, port, targetPort (a number or a port name). */
    public record Port(String name, String protocol, int port, String targetPort) {
    }

    /** An endpoint: lab pod name and its conditions. */
    public record Ep(String pod, boolean ready, boolean serving, boolean terminating) {
        public static Ep ready(String pod) {
            return new Ep(pod, true, true, false);
        }

        public static Ep notReady(String pod) {
            return new Ep(pod, false, false, false);
        }
    }

    /**
     * A LoadBalancer Service with VIP {@code vip}, and (when {@code endpoints} is not empty) one EndpointSlice whose
     * ports carry the same names, all on {@link Lab#POD_PORT}.
     */
    public static String service(String name, String vip, boolean localPolicy, List<Port> ports, List<Ep> endpoints) {
        StringBuilder s = new StringBuilder();
        s.append("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ").append(name).append("\n  namespace: default\nspec:\n")
                .append("  type: LoadBalancer\n  externalTrafficPolicy: ").append(localPolicy ? "Local" : "Cluster").append("\n  ports:\n");
        for (Port p : ports) {
            String target = p.targetPort().matches("\\d+") ? p.targetPort() : "\"" + p.targetPort() + "\"";
            s.append("  - {name: ").append(p.name()).append(", protocol: ").append(p.protocol()).append(", port: ").append(p.port())
                    .append(", targetPort: ").append(target).append("}\n");
        }
        s.append("status:\n  loadBalancer:\n    ingress:\n    - ip: ").append(vip).append('\n');
        if (!endpoints.isEmpty()) {
            s.append("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ").append(name)
                    .append("-1\n  namespace: default\n  labels:\n    kubernetes.io/service-name: ").append(name)
                    .append("\naddressType: IPv4\nports:\n");
            List<String> seen = new ArrayList<>();
            for (Port p : ports) {
                if (!seen.contains(p.name() + p.protocol())) {
                    seen.add(p.name() + p.protocol());
                    s.append("- {name: ").append(p.name()).append(", protocol: ").append(p.protocol()).append(", port: ")
                            .append(Lab.POD_PORT).append("}\n");
                }
            }
            s.append("endpoints:\n");
            for (Ep ep : endpoints) {
                List<String> pod = Lab.PODS.get(ep.pod());
                s.append("- addresses: [").append(pod.get(1)).append("]\n  nodeName: ").append(pod.get(0))
                        .append("\n  targetRef: {kind: Pod, namespace: default, name: ").append(ep.pod()).append("}\n")
                        .append("  conditions: {ready: ").append(ep.ready()).append(", serving: ").append(ep.serving())
                        .append(", terminating: ").append(ep.terminating()).append("}\n");
            }
        }
        return s.toString();
    }

    /** An HTTP port 80 (TCP, targetPort named "http") and a UDP port 53 (targetPort 8080). */
    public static List<Port> webPorts() {
        return List.of(new Port("http", "TCP", 80, "http"), new Port("dns", "UDP", 53, Integer.toString(Lab.POD_PORT)));
    }

}
