package io.lbmode.operator.cluster;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Who owns what the operator creates in its own namespace (the datapath DaemonSet and ConfigMap, the leader Lease):
 * the datapath agent's ServiceAccount, which the chart installs there. The Cluster can't (it lives in another
 * namespace and owner references can't cross namespaces), so without an owner {@code helm uninstall} would leave
 * the DaemonSet running under a deleted ServiceAccount. With it, the garbage collector removes them when the
 * chart's ServiceAccount goes. Not a controller reference: the operator, not the ServiceAccount, keeps them as
 * desired.
 */
public final class ChartOwner {
    private static final Logger LOG = Logger.getLogger(ChartOwner.class);

    private ChartOwner() {
    }

    /** Sets the owner on {@code object} when the ServiceAccount exists (it does whenever the chart installed lbmode). */
    static <T extends HasMetadata> T own(T object, KubernetesClient client, String serviceAccount) {
        reference(client, object.getMetadata().getNamespace(), serviceAccount, object.getKind() + " " + object.getMetadata().getName())
                .ifPresent(owner -> object.getMetadata().setOwnerReferences(List.of(owner)));
        return object;
    }

    /** Adds the owner to the leader Lease, which fabric8's leader election created without one. */
    public static void ownLease(KubernetesClient client, String namespace, String lease, String serviceAccount) {
        reference(client, namespace, serviceAccount, "Lease " + lease).ifPresent(owner -> {
            try {
                // A merge patch without resourceVersion: the leader renews the Lease concurrently.
                String patch = Serialization.asJson(Map.of("metadata", Map.of("ownerReferences", List.of(owner))));
                client.resources(Lease.class).inNamespace(namespace).withName(lease)
                        .patch(PatchContext.of(PatchType.JSON_MERGE), patch);
            } catch (KubernetesClientException e) {
                LOG.warnf("Lease %s/%s could not be given its owner (%s): uninstalling lbmode will leave it behind",
                        namespace, lease, e.getMessage());
            }
        });
    }

    private static Optional<OwnerReference> reference(KubernetesClient client, String namespace, String serviceAccount,
            String what) {
        try {
            ServiceAccount owner = client.serviceAccounts().inNamespace(namespace).withName(serviceAccount).get();
            if (owner == null) {
                return Optional.empty();
            }
            return Optional.of(new OwnerReferenceBuilder().withApiVersion("v1").withKind("ServiceAccount")
                    .withName(owner.getMetadata().getName()).withUid(owner.getMetadata().getUid())
                    .withController(false).withBlockOwnerDeletion(false).build());
        } catch (KubernetesClientException e) {
            LOG.warnf("ServiceAccount %s/%s could not be read (%s): %s has no owner, so uninstalling lbmode will "
                    + "leave it behind", namespace, serviceAccount, e.getMessage(), what);
            return Optional.empty();
        }
    }
}
