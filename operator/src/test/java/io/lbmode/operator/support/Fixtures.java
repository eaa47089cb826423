package io.lbmode.operator.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.yaml.KubeYaml;
import io.lbmode.yaml.KubeYamlException;

/** Cluster configurations in the shape of the GDC documentation's example. */
public final class Fixtures {
    private Fixtures() {
    }

    /**
     * A valid cluster.
     *
     * @param forwardMode {@code dsr}, {@code snat} or null for unset
     * @param annotation  value of the 1.16 preview annotation, or null for none
     */
    public static String yaml(String namespace, String name, String type, String version, String forwardMode,
                              String annotation) {
        boolean admin = "admin".equals(type);
        return """
                apiVersion: baremetal.cluster.gke.io/v1
                kind: Cluster
                metadata:
                  name: %s
                  namespace: %s
                %s
                spec:
                  type: %s
                  profile: default
                  anthosBareMetalVersion: %s
                  gkeConnect:
                    projectID: my-project
                  controlPlane:
                    nodePoolSpec:
                      nodes:
                      - address: 10.200.0.2
                    apiServerArgs:
                    - argument: audit-log-maxsize
                      value: "200"
                  clusterNetwork:
                %s
                    pods:
                      cidrBlocks:
                      - 192.168.0.0/16
                    services:
                      cidrBlocks:
                      - 10.96.0.0/20
                  loadBalancer:
                    mode: bundled
                    ports:
                      controlPlaneLBPort: 443
                    vips:
                      controlPlaneVIP: 10.200.0.71
                %s
                  storage:
                    lvpNodeMounts:
                      path: /mnt/localpv-disk
                      storageClassName: local-disks
                """.formatted(name, namespace,
                annotation == null ? "" : "  annotations:\n    preview.baremetal.cluster.gke.io/dpv2-lbmode-dsr: \"" + annotation + "\"",
                type, version,
                forwardMode == null ? "" : "    forwardMode: " + forwardMode,
                admin ? "" : """
                              ingressVIP: 10.200.0.72
                            addressPools:
                            - name: pool1
                              addresses:
                              - 10.200.0.72-10.200.0.90
                        """.stripTrailing());
    }

    public static String valid(String namespace, String name, String type, String forwardMode) {
        return yaml(namespace, name, type, "1.28.300-gke.131", forwardMode, null);
    }

    public static JsonNode node(String yaml) {
        try {
            return KubeYaml.readString(yaml).getFirst().node();
        } catch (KubeYamlException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    public static ObjectNode object(String yaml) {
        return (ObjectNode) node(yaml).deepCopy();
    }

    public static Cluster cluster(String yaml) {
        try {
            return KubeYaml.toCluster(node(yaml));
        } catch (KubeYamlException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }
}
