package io.lbmode.operator.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import io.smallrye.config.WithName;
import java.util.List;
import java.util.Optional;

/**
 * Everything the operator reads from its configuration ({@code application.properties}, environment variables such
 * as {@code LBMODE_DATAPATH_IMAGE}, or system properties). The Helm chart sets these on the operator Deployment.
 */
@ConfigMapping(prefix = "lbmode")
public interface OperatorConfig {

    Datapath datapath();

    Webhook webhook();

    /** The datapath agent DaemonSet the operator deploys for the self-managed cluster. */
    interface Datapath {
        /** Container image of the agent; its entrypoint runs {@code io.lbmode.datapath.Main}. */
        @WithDefault("lbmode/datapath:0.1.0")
        String image();

        @WithDefault("IfNotPresent")
        String imagePullPolicy();

        /** ServiceAccount of the agent pods; the Helm chart creates it (with the agent ClusterRole bound to it). */
        @WithDefault("lbmode-datapath")
        String serviceAccount();

        /** Network interface passed to the agent as {@code --interface}; unset lets the agent pick the default route's. */
        @WithName("interface")
        Optional<String> interfaceName();

        /** Port of the agent's {@code /healthz} and {@code /metrics} on the host network. */
        @WithDefault("9102")
        int healthPort();

        /**
         * Address the agent's {@code /healthz} and {@code /metrics} listen on; unset: the node's IP (the pod's
         * {@code status.hostIP}), so they are not served on the host's other interfaces.
         */
        Optional<String> healthAddress();

        @WithDefault("system-node-critical")
        Optional<String> priorityClassName();

        /**
         * Tolerate every taint: the agent must run on every node, control-plane and load-balancer nodes included,
         * or Services stop forwarding there.
         */
        @WithDefault("true")
        boolean tolerateAll();

        /** Extra tolerations when {@code tolerate-all} is false, each {@code key[=value]:Effect} or {@code key:Exists}. */
        Optional<List<String>> tolerations();

        /** Capabilities added to NET_ADMIN and BPF, e.g. PERFMON for kernels that need it for the verifier. */
        Optional<List<String>> extraCapabilities();

        Resources resources();
    }

    interface Resources {
        @WithDefault("100m")
        String cpuRequest();

        @WithDefault("128Mi")
        String memoryRequest();

        /** Unset: no CPU limit (throttling the datapath agent delays rule updates under load). */
        Optional<String> cpuLimit();

        @WithDefault("512Mi")
        String memoryLimit();
    }

    /** The validating admission webhook served over HTTPS. */
    interface Webhook {
        /** Directory of the mounted TLS Secret with {@code tls.crt} and {@code tls.key}; re-read when they rotate. */
        @WithDefault("/etc/lbmode/webhook-tls")
        String certDir();

        /** How often the certificate files are re-read (a rotated Secret reaches the pod within about a minute). */
        @WithDefault("30s")
        java.time.Duration reloadPeriod();
    }
}
