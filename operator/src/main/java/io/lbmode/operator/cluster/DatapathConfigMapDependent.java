package io.lbmode.operator.cluster;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
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
import java.util.Optional;

/**
 * ConfigMap {@value DatapathConfig#CONFIG_MAP_NAME} in the operator's namespace: what every datapath agent programs
 * (effective mode, pod and service ranges, cluster identity, hash seed, the address pools and VIPs a Service VIP must
 * come from), built by {@link DatapathConfig#fromCluster}.
 *
 * <p>The Cluster is not its owner: it lives in another namespace and owner references can't cross namespaces. The
 * primary is found again through JOSDK's primary-name annotations. Deleting the self-managed Cluster object leaves
 * the running datapath alone (it is the cluster's own data plane); uninstalling lbmode removes it, since the chart's
 * datapath ServiceAccount owns it ({@link ChartOwner}).
 */
@KubernetesDependent(informer = @Informer(namespaces = Constants.WATCH_CURRENT_NAMESPACE,
        labelSelector = DatapathLabels.SELECTOR))
public class DatapathConfigMapDependent extends KubernetesDependentResource<ConfigMap, Cluster>
        implements Creator<ConfigMap, Cluster>, Updater<ConfigMap, Cluster> {

    @Inject
    OperatorConfig config;

    public DatapathConfigMapDependent() {
        super(ConfigMap.class);
    }

    /** By name, so that a Cluster created after another was deleted takes the object over ({@link DatapathLabels#byName}). */
    @Override
    public Optional<ConfigMap> getSecondaryResource(Cluster primary, Context<Cluster> context) {
        return DatapathLabels.byName(this, DatapathConfig.CONFIG_MAP_NAME, context);
    }

    @Override
    protected ConfigMap desired(Cluster cluster, Context<Cluster> context) {
        return ChartOwner.own(new ConfigMapBuilder()
                .withNewMetadata()
                .withName(DatapathConfig.CONFIG_MAP_NAME)
                .withNamespace(context.getClient().getNamespace())
                .withLabels(DatapathLabels.common())
                .endMetadata()
                .withData(DatapathConfig.fromCluster(cluster).toConfigMapData())
                .build(), context.getClient(), config.datapath().serviceAccount());
    }
}
