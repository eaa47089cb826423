package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.lbmode.datapathconfig.DatapathConfig;
import java.util.Optional;

/**
 * Decides, when the agent is stopped, whether lbmode is going away from this node (remove the kernel state) or the
 * agent is only being restarted (keep it: a rolling update, an eviction or a crash must not cut DSR connections or
 * the SNAT service for longer than the restart).
 *
 * <p>Going away means the DaemonSet that runs the agents is gone or being deleted: the operator deletes it with its
 * Cluster, and {@code helm uninstall} deletes the agents' ServiceAccount, which owns it, so the garbage collector
 * deletes it and then its Pods. By then the ServiceAccount is gone, so the API server answers 401 to the agent's
 * token: that is read as going away too. Any other answer (the DaemonSet exists, 403, no connection) keeps the state;
 * {@code lbmode datapath --cleanup} removes it by hand.
 */
final class Uninstall {
    private Uninstall() {
    }

    /** Why the agent's kernel state should be removed now, or empty when it should be kept. */
    static Optional<String> reason(KubernetesClient client, String namespace) {
        try {
            DaemonSet ds = client.apps().daemonSets().inNamespace(namespace).withName(DatapathConfig.DAEMON_SET_NAME).get();
            if (ds == null) {
                return Optional.of("DaemonSet " + namespace + "/" + DatapathConfig.DAEMON_SET_NAME + " is gone");
            }
            if (ds.getMetadata().getDeletionTimestamp() != null) {
                return Optional.of("DaemonSet " + namespace + "/" + DatapathConfig.DAEMON_SET_NAME + " is being deleted");
            }
            return Optional.empty();
        } catch (KubernetesClientException e) {
            if (e.getCode() == 401) {
                return Optional.of("the API server no longer accepts this agent's ServiceAccount token (401): "
                        + "the ServiceAccount, owner of the DaemonSet, was deleted");
            }
            return Optional.empty();
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }
}
