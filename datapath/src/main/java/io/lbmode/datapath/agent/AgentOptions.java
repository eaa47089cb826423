package io.lbmode.datapath.agent;

import io.lbmode.net.AsciiDigits;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The agent's command line: the contract between the operator's DaemonSet, the Helm chart and the agent.
 *
 * @param node            {@code --node NAME}, default env NODE_NAME (downward API spec.nodeName)
 * @param stateDir        {@code --state-dir DIR}: standalone, objects from YAML files; absent: in-cluster informers
 * @param once            {@code --once}: program once and exit (0 ok, 1 failed)
 * @param dryRun          {@code --dry-run}: print what would be programmed, touch nothing (implies one pass)
 * @param interfaceName   {@code --interface IF}: DSR attach point; "" = the agent's choice
 * @param bpffs           {@code --bpffs DIR}, default /sys/fs/bpf
 * @param cleanup         {@code --cleanup}: remove everything lbmode programmed on this node and exit
 * @param configNamespace {@code --config-namespace NS}, default env POD_NAMESPACE: where ConfigMap lbmode-datapath lives
 * @param healthPort      {@code --health-port N}, default 9102: GET /healthz and /metrics; 0 disables
 * @param healthAddress   {@code --health-address IP}, default 127.0.0.1: the address they listen on (the DaemonSet
 *                        passes the node's, status.hostIP, so the kubelet's probes and a Prometheus on the node
 *                        network reach them, and nothing else on the host's other interfaces does)
 * @param allowEphemeralBpffs {@code --allow-ephemeral-bpffs}: DSR may pin in a bpffs the agent mounts itself, which
 *                        vanishes with the agent's mount namespace (tests and labs only: a restart then breaks every
 *                        established DSR connection)
 */
public record AgentOptions(String node, Optional<Path> stateDir, boolean once, boolean dryRun, String interfaceName,
                           Path bpffs, boolean cleanup, String configNamespace, int healthPort, InetAddress healthAddress,
                           boolean allowEphemeralBpffs) {
    public static final int DEFAULT_HEALTH_PORT = 9102;
    public static final InetAddress DEFAULT_HEALTH_ADDRESS = InetAddress.getLoopbackAddress();

    public AgentOptions {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(interfaceName, "interfaceName");
        Objects.requireNonNull(bpffs, "bpffs");
        Objects.requireNonNull(configNamespace, "configNamespace");
        Objects.requireNonNull(healthAddress, "healthAddress");
    }

    /** A command-line mistake; the message says which flag and what to do. */
    public static final class UsageException extends Exception {
        public UsageException(String message) {
            super(message);
        }
    }

    public static final String USAGE = """
            usage: lbmode datapath [--node NAME] [--state-dir DIR [--once] [--dry-run]] [--interface IF] [--bpffs DIR]
                                   [--config-namespace NS] [--health-port N] [--health-address IP]
                                   [--allow-ephemeral-bpffs] [--cleanup]
              --node NAME             this node (default: env NODE_NAME)
              --state-dir DIR         standalone: read Cluster, ConfigMap lbmode-datapath, Node, Service and EndpointSlice
                                      documents from the YAML files in DIR and watch it; status goes to DIR/.status/
                                      without it: run in the cluster (informers, NodeDataplane status)
              --once                  program once and exit: 0 when programmed, 1 with a message when not
              --dry-run               print the rules that would be programmed and the status; touch nothing
              --interface IF          interface for DSR programs
              --bpffs DIR             bpffs directory for DSR pins (default /sys/fs/bpf); must be a mounted bpf file
                                      system, so the pins outlive the agent (mount -t bpf bpf /sys/fs/bpf)
              --allow-ephemeral-bpffs tests and labs only: when DIR is no bpffs, mount one that vanishes with the
                                      agent (a restart then breaks every established DSR connection)
              --config-namespace NS   namespace of ConfigMap lbmode-datapath (default: env POD_NAMESPACE)
              --health-port N         serve GET /healthz and /metrics on N (default 9102, 0: off)
              --health-address IP     the address they listen on (default 127.0.0.1; the DaemonSet: the node's IP)
              --cleanup               remove everything lbmode programmed on this node (both modes) and exit
            """;

    public static AgentOptions parse(String[] args, Map<String, String> env) throws UsageException {
        String node = env.getOrDefault("NODE_NAME", "");
        Optional<Path> stateDir = Optional.empty();
        boolean once = false, dryRun = false, cleanup = false;
        String iface = "";
        Path bpffs = Path.of("/sys/fs/bpf");
        String ns = env.getOrDefault("POD_NAMESPACE", "");
        int healthPort = DEFAULT_HEALTH_PORT;
        InetAddress healthAddress = DEFAULT_HEALTH_ADDRESS;
        boolean allowEphemeralBpffs = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String flag = arg;
            String value = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                flag = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            }
            switch (flag) {
                case "--once" -> once = true;
                case "--dry-run" -> dryRun = true;
                case "--cleanup" -> cleanup = true;
                case "--allow-ephemeral-bpffs" -> allowEphemeralBpffs = true;
                case "--node", "--state-dir", "--interface", "--bpffs", "--config-namespace", "--health-port",
                     "--health-address" -> {
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            throw new UsageException(flag + " needs a value");
                        }
                        value = args[++i];
                    }
                    switch (flag) {
                        case "--node" -> node = value;
                        case "--state-dir" -> stateDir = Optional.of(Path.of(value));
                        case "--interface" -> iface = value;
                        case "--bpffs" -> bpffs = Path.of(value);
                        case "--config-namespace" -> ns = value;
                        case "--health-address" -> {
                            try {
                                healthAddress = InetAddress.ofLiteral(value);
                            } catch (IllegalArgumentException e) {
                                throw new UsageException("--health-address must be an IPv4 or IPv6 address (e.g. 127.0.0.1, "
                                        + "or the node's InternalIP), not '" + value + "'");
                            }
                        }
                        default -> {
                            healthPort = value.length() <= 5 && AsciiDigits.only(value) ? Integer.parseInt(value) : -1;
                            if (healthPort < 0 || healthPort > 65535) {
                                throw new UsageException("--health-port must be a port number 0-65535 (0 turns it off), not '" + value + "'");
                            }
                        }
                    }
                }
                default -> throw new UsageException("unknown argument '" + arg + "'");
            }
        }
        if (node.isBlank() && !cleanup) {
            throw new UsageException("--node is required (or set env NODE_NAME): the name of the Kubernetes node this agent programs");
        }
        if (stateDir.isEmpty() && (once || dryRun) && !cleanup) {
            throw new UsageException("--once and --dry-run need --state-dir DIR (in the cluster the agent runs continuously)");
        }
        if (stateDir.isEmpty() && ns.isBlank() && !cleanup) {
            throw new UsageException("--config-namespace is required in the cluster (or set env POD_NAMESPACE): where ConfigMap lbmode-datapath lives");
        }
        return new AgentOptions(node, stateDir, once || dryRun, dryRun, iface, bpffs, cleanup, ns, healthPort, healthAddress,
                allowEphemeralBpffs);
    }
}
