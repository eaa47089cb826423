package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.lbmode.datapathconfig.DatapathConfig;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/**
 * Decides, when the agent is stopped, whether lbmode is going away from this node (remove the kernel state) or the
 * agent is only being restarted (keep it: a rolling update, an eviction or a crash must not cut DSR connections or
 * the SNAT service for longer than the restart).
 *
 * <p>Going away means the DaemonSet that runs the agents is gone or being deleted: the operator deletes it with its
 * Cluster, and {@code helm uninstall} deletes the agents' ServiceAccount, which owns it and the ConfigMap, so the
 * garbage collector deletes both and then the Pods. By the time an agent is stopped that way, helm has also deleted
 * its RBAC bindings (and its ServiceAccount), so the API server may answer 401 or 403 instead of 404: then the
 * agent's own informer decides, which saw the ConfigMap {@code lbmode-datapath} deleted. Any other answer (the
 * DaemonSet exists; 401/403 with the ConfigMap still there; no connection) keeps the state, and
 * {@code lbmode datapath --cleanup} removes it by hand.
 */
final class Uninstall {
    private Uninstall() {
    }

    /**
     * Why the agent's kernel state should be removed now, or empty when it should be kept.
     *
     * @param configMapGone whether the agent's informer last saw the ConfigMap deleted (after having seen it)
     */
    static Optional<String> reason(KubernetesClient client, String namespace, BooleanSupplier configMapGone) {
        String daemonSet = "DaemonSet " + namespace + "/" + DatapathConfig.DAEMON_SET_NAME;
        try {
            DaemonSet ds = client.apps().daemonSets().inNamespace(namespace).withName(DatapathConfig.DAEMON_SET_NAME).get();
            if (ds == null) {
                return Optional.of(daemonSet + " is gone");
            }
            if (ds.getMetadata().getDeletionTimestamp() != null) {
                return Optional.of(daemonSet + " is being deleted");
            }
            return Optional.empty();
        } catch (KubernetesClientException e) {
            if ((e.getCode() == 401 || e.getCode() == 403) && configMapGone.getAsBoolean()) {
                return Optional.of("the API server no longer lets this agent read its " + daemonSet + " (" + e.getCode()
                        + ": its ServiceAccount or RBAC was deleted) and ConfigMap " + namespace + "/"
                        + DatapathConfig.CONFIG_MAP_NAME + " was deleted: lbmode was uninstalled");
            }
            return Optional.empty();
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }
}
