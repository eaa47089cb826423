package io.lbmode.operator.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.operator.config.OperatorConfig;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class DatapathDaemonSetTest {

    record Resources(String cpuRequest, String memoryRequest, Optional<String> cpuLimit, String memoryLimit)
            implements OperatorConfig.Resources {
    }

    record Datapath(String image, String imagePullPolicy, String serviceAccount, Optional<String> interfaceName,
                    int healthPort, Optional<String> healthAddress, Optional<String> priorityClassName, boolean tolerateAll,
                    Optional<List<String>> tolerations, Optional<List<String>> extraCapabilities,
                    OperatorConfig.Resources resources) implements OperatorConfig.Datapath {
    }

    static Datapath config(boolean tolerateAll, List<String> tolerations, List<String> extraCaps, String iface) {
        return new Datapath("registry.example/lbmode/datapath:1.2.3", "Always", "agent-sa", Optional.ofNullable(iface),
                9200, Optional.empty(), Optional.of("system-node-critical"), tolerateAll, Optional.of(tolerations), Optional.of(extraCaps),
                new Resources("50m", "64Mi", Optional.of("1"), "256Mi"));
    }

    @Test
    void everythingComesFromConfiguration() {
        var ds = DatapathDaemonSetDependent.build(config(true, List.of(), List.of("PERFMON"), "eth1"), "lbmode-system");
        assertThat(ds.getMetadata().getNamespace()).isEqualTo("lbmode-system");
        var pod = ds.getSpec().getTemplate().getSpec();
        var container = pod.getContainers().getFirst();
        assertThat(container.getImage()).isEqualTo("registry.example/lbmode/datapath:1.2.3");
        assertThat(container.getArgs()).contains("--interface=eth1", "--health-port=9200", "--node=$(NODE_NAME)");
        assertThat(container.getSecurityContext().getCapabilities().getAdd()).containsExactly("NET_ADMIN", "BPF", "PERFMON");
        assertThat(container.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(container.getResources().getLimits().get("memory").toString()).isEqualTo("256Mi");
        assertThat(container.getResources().getRequests().get("cpu").toString()).isEqualTo("50m");
        assertThat(container.getLivenessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(9200);
        assertThat(pod.getServiceAccountName()).isEqualTo("agent-sa");
        assertThat(pod.getTolerations()).singleElement().satisfies(t -> assertThat(t.getOperator()).isEqualTo("Exists"));
        assertThat(ds.getSpec().getSelector().getMatchLabels()).isEqualTo(DatapathLabels.selector());
        assertThat(pod.getContainers().getFirst().getEnv()).extracting(e -> e.getName()).containsExactly("NODE_NAME", "POD_NAMESPACE", "HOST_IP");
    }

    /** The agent's pod: the runtime's default seccomp profile; /healthz and /metrics on the node's IP, probed there. */
    @Test
    void seccompRuntimeDefaultAndHealthOnTheNodesAddress() {
        var ds = DatapathDaemonSetDependent.build(config(true, List.of(), List.of(), null), "ns");
        var pod = ds.getSpec().getTemplate().getSpec();
        var container = pod.getContainers().getFirst();
        assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        assertThat(container.getArgs()).contains("--health-address=$(HOST_IP)");
        assertThat(container.getEnv()).filteredOn(e -> e.getName().equals("HOST_IP")).singleElement()
                .satisfies(e -> assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("status.hostIP"));
        assertThat(container.getLivenessProbe().getHttpGet().getHost()).as("the pod IP: the node's, on the host network").isNull();
        assertThat(container.getLivenessProbe().getHttpGet().getPath()).as("liveness: the loop runs, not the kernel holds everything")
                .isEqualTo("/livez");
        assertThat(container.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthz");

        var local = new Datapath("img", "Always", "sa", Optional.empty(), 9102, Optional.of("127.0.0.1"), Optional.empty(), true,
                Optional.empty(), Optional.empty(), new Resources("50m", "64Mi", Optional.empty(), "256Mi"));
        var localContainer = DatapathDaemonSetDependent.build(local, "ns").getSpec().getTemplate().getSpec().getContainers().getFirst();
        assertThat(localContainer.getArgs()).contains("--health-address=127.0.0.1");
        assertThat(localContainer.getLivenessProbe().getHttpGet().getHost()).isEqualTo("127.0.0.1");
        assertThat(localContainer.getReadinessProbe().getHttpGet().getHost()).isEqualTo("127.0.0.1");
    }

    @Test
    void tolerationsAreParsedAndBadOnesNamed() {
        var ds = DatapathDaemonSetDependent.build(config(false,
                List.of("node-role.kubernetes.io/control-plane:NoSchedule", "dedicated=lb:NoExecute", "special:Exists"),
                List.of(), null), "ns");
        var tolerations = ds.getSpec().getTemplate().getSpec().getTolerations();
        assertThat(tolerations).hasSize(3);
        assertThat(tolerations.get(0).getKey()).isEqualTo("node-role.kubernetes.io/control-plane");
        assertThat(tolerations.get(0).getEffect()).isEqualTo("NoSchedule");
        assertThat(tolerations.get(1).getValue()).isEqualTo("lb");
        assertThat(tolerations.get(2).getOperator()).isEqualTo("Exists");
        assertThat(ds.getSpec().getTemplate().getSpec().getContainers().getFirst().getArgs()).noneMatch(a -> a.startsWith("--interface"));
        assertThatThrownBy(() -> DatapathDaemonSetDependent.toleration("a=b:Sometimes"))
                .hasMessageContaining("lbmode.datapath.tolerations").hasMessageContaining("Sometimes");
    }
}
