package io.lbmode.operator.cluster;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.DaemonSetBuilder;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.Updater;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;
import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.datapathconfig.DatapathConfig;
import io.lbmode.operator.config.OperatorConfig;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The datapath agent DaemonSet ({@code io.lbmode.datapath.Main} on every node), in the operator's namespace.
 *
 * <p>Security: host network (the agent programs the node's own nftables and tc hooks); capabilities NET_ADMIN
 * (nftables, conntrack, tc qdiscs and filters) and BPF (load programs, create and pin maps) on top of dropping all
 * others, and not privileged. No SYS_ADMIN: bpffs is expected mounted by the host at {@code /sys/fs/bpf} (systemd
 * does so); mounting it from a container would need SYS_ADMIN plus Bidirectional propagation, which Kubernetes
 * only allows for privileged containers. No NET_RAW: the agent opens no raw sockets. The runtime's default seccomp
 * profile (RuntimeDefault) allows bpf(2) to a process holding CAP_BPF. {@code /healthz} and {@code /metrics} listen
 * on the node's IP ({@code status.hostIP}), not on every interface of the host.
 * The same owner-reference reasoning as {@link DatapathConfigMapDependent} applies.
 */
@KubernetesDependent(informer = @Informer(namespaces = Constants.WATCH_CURRENT_NAMESPACE,
        labelSelector = DatapathLabels.SELECTOR))
public class DatapathDaemonSetDependent extends KubernetesDependentResource<DaemonSet, Cluster>
        implements Creator<DaemonSet, Cluster>, Updater<DaemonSet, Cluster> {

    static final String CONTAINER = "agent";
    static final List<String> CAPABILITIES = List.of("NET_ADMIN", "BPF");
    static final String BPFFS = "/sys/fs/bpf";

    @Inject
    OperatorConfig config;

    public DatapathDaemonSetDependent() {
        super(DaemonSet.class);
    }

    /** By name, so that a Cluster created after another was deleted takes the object over ({@link DatapathLabels#byName}). */
    @Override
    public Optional<DaemonSet> getSecondaryResource(Cluster primary, Context<Cluster> context) {
        return DatapathLabels.byName(this, DatapathLabels.NAME, context);
    }

    @Override
    protected DaemonSet desired(Cluster cluster, Context<Cluster> context) {
        return ChartOwner.own(build(config.datapath(), context.getClient().getNamespace()), context.getClient(),
                config.datapath().serviceAccount());
    }

    /** The whole object from configuration alone: the cluster's settings reach the agent through the ConfigMap. */
    static DaemonSet build(OperatorConfig.Datapath datapath, String namespace) {
        Optional<String> healthAddress = datapath.healthAddress().map(String::trim).filter(s -> !s.isEmpty());
        List<String> args = new ArrayList<>(List.of("--node=$(NODE_NAME)", "--config-namespace=$(POD_NAMESPACE)",
                "--bpffs=" + BPFFS, "--health-port=" + datapath.healthPort(),
                "--health-address=" + healthAddress.orElse("$(HOST_IP)")));
        // The kubelet probes the pod IP (the node's, on the host network) unless the agent listens elsewhere.
        String probeHost = healthAddress.filter(a -> !a.equals("0.0.0.0") && !a.equals("::")).orElse(null);
        datapath.interfaceName().filter(s -> !s.isBlank()).ifPresent(i -> args.add("--interface=" + i));

        List<String> capabilities = new ArrayList<>(CAPABILITIES);
        datapath.extraCapabilities().orElse(List.of()).stream().map(String::trim).filter(c -> !c.isEmpty())
                .filter(c -> !capabilities.contains(c)).forEach(capabilities::add);

        Map<String, Quantity> requests = new LinkedHashMap<>();
        requests.put("cpu", new Quantity(datapath.resources().cpuRequest()));
        requests.put("memory", new Quantity(datapath.resources().memoryRequest()));
        Map<String, Quantity> limits = new LinkedHashMap<>();
        datapath.resources().cpuLimit().ifPresent(cpu -> limits.put("cpu", new Quantity(cpu)));
        limits.put("memory", new Quantity(datapath.resources().memoryLimit()));

        var container = new ContainerBuilder()
                .withName(CONTAINER)
                .withImage(datapath.image())
                .withImagePullPolicy(datapath.imagePullPolicy())
                .withArgs(args)
                .withEnv(new EnvVarBuilder().withName("NODE_NAME").withNewValueFrom().withNewFieldRef()
                                .withFieldPath("spec.nodeName").endFieldRef().endValueFrom().build(),
                        new EnvVarBuilder().withName("POD_NAMESPACE").withNewValueFrom().withNewFieldRef()
                                .withFieldPath("metadata.namespace").endFieldRef().endValueFrom().build(),
                        new EnvVarBuilder().withName("HOST_IP").withNewValueFrom().withNewFieldRef()
                                .withFieldPath("status.hostIP").endFieldRef().endValueFrom().build())
                .withResources(new ResourceRequirementsBuilder().withRequests(requests).withLimits(limits).build())
                .withNewSecurityContext()
                .withPrivileged(false)
                .withAllowPrivilegeEscalation(false)
                .withReadOnlyRootFilesystem(true)
                // Capabilities only take effect for uid 0 without ambient-capability support in the runtime.
                .withRunAsUser(0L)
                .withNewCapabilities().withDrop("ALL").withAdd(capabilities).endCapabilities()
                .endSecurityContext()
                .withVolumeMounts(
                        new VolumeMountBuilder().withName("bpffs").withMountPath(BPFFS)
                                .withMountPropagation("HostToContainer").build(),
                        new VolumeMountBuilder().withName("tmp").withMountPath("/tmp").build())
                .withNewLivenessProbe().withNewHttpGet().withHost(probeHost).withPath("/livez")
                .withNewPort(datapath.healthPort()).endHttpGet()
                .withInitialDelaySeconds(10).withPeriodSeconds(10).withFailureThreshold(6).endLivenessProbe()
                .withNewReadinessProbe().withNewHttpGet().withHost(probeHost).withPath("/healthz")
                .withNewPort(datapath.healthPort()).endHttpGet()
                .withPeriodSeconds(5).endReadinessProbe()
                .build();

        return new DaemonSetBuilder()
                .withNewMetadata()
                .withName(DatapathLabels.NAME)
                .withNamespace(namespace)
                .withLabels(DatapathLabels.common())
                .endMetadata()
                .withNewSpec()
                .withNewSelector().withMatchLabels(DatapathLabels.selector()).endSelector()
                .withNewUpdateStrategy().withType("RollingUpdate")
                .withNewRollingUpdate().withNewMaxUnavailable(1).endRollingUpdate().endUpdateStrategy()
                .withNewTemplate()
                .withNewMetadata()
                .withLabels(DatapathLabels.common())
                .addToAnnotations("lbmode.io/config-map", DatapathConfig.CONFIG_MAP_NAME)
                .endMetadata()
                .withNewSpec()
                .withServiceAccountName(datapath.serviceAccount())
                .withNewSecurityContext().withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile().endSecurityContext()
                .withHostNetwork(true)
                .withDnsPolicy("ClusterFirstWithHostNet")
                .withPriorityClassName(datapath.priorityClassName().filter(s -> !s.isBlank()).orElse(null))
                .withTolerations(tolerations(datapath))
                .withTerminationGracePeriodSeconds(30L)
                .withContainers(container)
                .withVolumes(
                        new VolumeBuilder().withName("bpffs").withNewHostPath().withPath(BPFFS)
                                .withType("Directory").endHostPath().build(),
                        new VolumeBuilder().withName("tmp").withNewEmptyDir().endEmptyDir().build())
                .endSpec()
                .endTemplate()
                .endSpec()
                .build();
    }

    static List<Toleration> tolerations(OperatorConfig.Datapath datapath) {
        if (datapath.tolerateAll()) {
            return List.of(new TolerationBuilder().withOperator("Exists").build());
        }
        return datapath.tolerations().orElse(List.of()).stream().map(String::trim).filter(s -> !s.isEmpty())
                .map(DatapathDaemonSetDependent::toleration).toList();
    }

    /** {@code key[=value]:Effect}, {@code key:Exists} or {@code key=value} (any effect). */
    static Toleration toleration(String spec) {
        String keyValue = spec;
        String effect = null;
        int colon = spec.lastIndexOf(':');
        if (colon >= 0) {
            keyValue = spec.substring(0, colon);
            effect = spec.substring(colon + 1);
        }
        var builder = new TolerationBuilder();
        int eq = keyValue.indexOf('=');
        if ("Exists".equals(effect)) {
            return builder.withKey(keyValue).withOperator("Exists").build();
        }
        if (eq >= 0) {
            builder.withKey(keyValue.substring(0, eq)).withOperator("Equal").withValue(keyValue.substring(eq + 1));
        } else {
            builder.withKey(keyValue).withOperator("Exists");
        }
        if (effect != null && !effect.isEmpty()) {
            if (!List.of("NoSchedule", "PreferNoSchedule", "NoExecute").contains(effect)) {
                throw new IllegalArgumentException("lbmode.datapath.tolerations: '" + spec + "': the effect must be "
                        + "NoSchedule, PreferNoSchedule, NoExecute or Exists, not '" + effect + "'");
            }
            builder.withEffect(effect);
        }
        return builder.build();
    }
}
