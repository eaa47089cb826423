package io.lbmode.datapathconfig;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.yaml.KubeYaml;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class DatapathConfigTest {
    static Cluster cluster(String loadBalancer) throws Exception {
        return KubeYaml.toCluster(KubeYaml.readString("""
                apiVersion: baremetal.cluster.gke.io/v1
                kind: Cluster
                metadata: {name: c, namespace: cluster-c}
                spec:
                  type: user
                  anthosBareMetalVersion: 1.28.0
                  clusterNetwork:
                    pods: {cidrBlocks: [192.168.0.0/16]}
                    services: {cidrBlocks: [10.96.0.0/20]}
                  loadBalancer:
                %s
                """.formatted(loadBalancer.indent(4).stripTrailing())).getFirst().node());
    }

    @Test
    void vipRangesAreThePoolsAndTheConfiguredVipsAndSurviveTheConfigMap() throws Exception {
        DatapathConfig config = DatapathConfig.fromCluster(cluster("""
                mode: bundled
                ports: {controlPlaneLBPort: 443}
                vips: {controlPlaneVIP: 10.200.0.49, ingressVIP: 10.200.0.50}
                addressPools:
                - name: a
                  addresses: [10.200.0.50-10.200.0.70, 172.16.20.0/24]
                - name: b
                  addresses: [10.201.0.1/32]
                """));
        assertThat(config.vipRanges()).containsExactly("10.200.0.50-10.200.0.70", "172.16.20.0/24", "10.201.0.1/32",
                "10.200.0.49", "10.200.0.50");
        Map<String, String> data = config.toConfigMapData();
        assertThat(data).containsEntry("vipRanges", "10.200.0.50-10.200.0.70,172.16.20.0/24,10.201.0.1/32,10.200.0.49,10.200.0.50");
        assertThat(DatapathConfig.fromConfigMapData(data)).isEqualTo(config);
    }

    @Test
    void aHashSeedInAnotherScriptsDigitsIsAnErrorNamingTheKey() throws Exception {
        Map<String, String> data = new HashMap<>(DatapathConfig.fromCluster(cluster("mode: bundled")).toConfigMapData());
        data.put("hashSeed", "\u0661\u0662"); // 12 in Arabic-Indic digits, which Long.parseUnsignedLong reads as 12
        assertThatThrownBy(() -> DatapathConfig.fromConfigMapData(data)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("hashSeed must be an unsigned 64-bit number");
        data.put("hashSeed", "12");
        assertThat(DatapathConfig.fromConfigMapData(data).hashSeed()).isEqualTo(12);
    }

    @Test
    void aConfigMapWithoutVipRangesIsAnErrorNotAnOpenDoorButAnEmptyOneAllowsNothing() throws Exception {
        DatapathConfig config = DatapathConfig.fromCluster(cluster("""
                mode: manual
                ports: {controlPlaneLBPort: 443}
                vips: {controlPlaneVIP: 10.200.0.49}
                """));
        Map<String, String> data = new HashMap<>(config.toConfigMapData());
        data.put("vipRanges", "");
        assertThat(DatapathConfig.fromConfigMapData(data).vipRanges()).isEmpty();
        data.remove("vipRanges");
        assertThatThrownBy(() -> DatapathConfig.fromConfigMapData(data)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("key vipRanges is missing").hasMessageContaining("older than this agent");
    }
}
