package io.lbmode.lab;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.fixtures.LabObjects.Ep;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The lab both dual-stack lab tests ({@link DualStackDsrLabTest}, {@link DualStackSnatLabTest}) run on: a dual-stack
 * Cluster in one forward mode, the lab's Nodes, Service {@code dual} with a VIP of each family ({@link #DUAL4},
 * {@link #DUAL6}: http and dns to every lab pod), the test's own objects, and the real agent on the nodes the mode
 * needs, each synced before the first test; and how to read the pods' answers.
 */
final class DualStackLab {
    static final String DUAL4 = "172.16.20.16";
    static final String DUAL6 = "fd00:172:16:20::16";
    /** Every lab pod, ready. */
    static final List<Ep> ALL = List.of(Ep.ready("w1p1"), Ep.ready("w2p1"), Ep.ready("w2p2"));

    private DualStackLab() {
    }

    /**
     * Starts the lab with {@code objects} (file name -> YAML) beside the Cluster, Nodes and Service {@code dual}, and
     * an agent on each of {@code agents}; returns once the pods answer and every agent's status meets {@code synced}.
     * The lab is closed again when that fails.
     */
    static Lab start(ForwardMode mode, Map<String, String> objects, List<String> agents, Predicate<NodeDataplane> synced)
            throws Exception {
        LabSupport.requireRoot();
        Lab lab = Lab.start(LabSpec.unique());
        try {
            lab.writeObjects("cluster.yaml", LabObjects.dualStackCluster(mode) + LabObjects.nodes());
            lab.writeObjects("dual.yaml", LabObjects.familiesService("dual", List.of(DUAL4, DUAL6), LabObjects.webPorts(), ALL));
            for (var o : objects.entrySet()) {
                lab.writeObjects(o.getKey(), o.getValue());
            }
            for (String node : agents) {
                lab.startAgent(node);
            }
            lab.awaitPods();
            for (String node : agents) {
                lab.awaitStatus(node, Duration.ofSeconds(60), s -> s.getStatus() != null && synced.test(s));
            }
            return lab;
        } catch (Exception | Error e) {
            lab.close();
            throw e;
        }
    }

    /** The pod that answered, from {@code pod=NAME}. */
    static String pod(String answer) {
        return answer.replaceAll("(?s).*pod=(\\S+).*", "$1");
    }

    /** The address the pod saw, from {@code client=ADDR:PORT} (the port after the last colon). */
    static InetAddress client(String answer) throws Exception {
        String peer = answer.replaceAll("(?s).*client=(\\S+).*", "$1");
        return InetAddress.getByName(peer.substring(0, peer.lastIndexOf(':')));
    }
}
