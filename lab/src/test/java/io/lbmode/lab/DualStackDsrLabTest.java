package io.lbmode.lab;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.datapath.fixtures.LabObjects;
import io.lbmode.datapath.fixtures.LabObjects.Ep;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A dual-stack Service in DSR mode through the real agents (one per lab node, as the DaemonSet runs them): the
 * Cluster YAML says dual stack and DSR, the Service has an IPv4 and an IPv6 VIP, and each VIP reaches the pods with
 * the real client address of its family. {@code DsrIpv6LabTest} covers the IPv6 datapath packet by packet.
 */
@Tag("lab")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DualStackDsrLabTest {
    static final String DUAL4 = "172.16.20.16";
    static final String DUAL6 = "fd00:172:16:20::16";
    static final List<Ep> ALL = List.of(Ep.ready("w1p1"), Ep.ready("w2p1"), Ep.ready("w2p2"));

    Lab lab;

    @BeforeAll
    void up() throws Exception {
        LabSupport.requireRoot();
        lab = Lab.start(LabSpec.unique());
        try {
            lab.writeObjects("cluster.yaml", LabObjects.dualStackCluster(ForwardMode.DSR) + LabObjects.nodes());
            lab.writeObjects("dual.yaml", LabObjects.familiesService("dual", List.of(DUAL4, DUAL6), LabObjects.webPorts(), ALL));
            for (String node : Lab.NODES) {
                lab.startAgent(node); // DSR: the workers strip the header and translate the replies
            }
            lab.awaitPods();
            for (String node : Lab.NODES) {
                lab.awaitStatus(node, Duration.ofSeconds(60), s -> s.getStatus() != null && "dsr".equals(s.getStatus().mode)
                        && s.getStatus().lastError == null && s.getStatus().lastSyncTime != null);
            }
        } catch (Exception | Error e) {
            down();
            throw e;
        }
    }

    @AfterAll
    void down() {
        if (lab != null) {
            lab.close();
        }
    }

    static String pod(String answer) {
        return answer.replaceAll("(?s).*pod=(\\S+).*", "$1");
    }

    static InetAddress client(String answer) throws Exception {
        String peer = answer.replaceAll("(?s).*client=(\\S+).*", "$1");
        return InetAddress.getByName(peer.substring(0, peer.lastIndexOf(':')));
    }

    @Test
    void bothVipsOfTheServiceAnswerAndThePodsSeeTheRealClientOfEachFamily() throws Exception {
        Set<String> pods = new HashSet<>();
        for (int i = 0; i < 20; i++) {
            String over4 = lab.httpGet(Lab.CLIENT, DUAL4, 80, "/");
            String over6 = lab.httpGet(Lab.CLIENT, DUAL6, 80, "/");
            assertThat(client(over4)).as("DSR over IPv4: the pod sees the client").isEqualTo(InetAddress.getByName(Lab.CLIENT_IP));
            assertThat(client(over6)).as("DSR over IPv6: the pod sees the client").isEqualTo(InetAddress.getByName(Lab.CLIENT_IP6));
            pods.add(pod(over4));
            pods.add(pod(over6));
        }
        assertThat(pods).isSubsetOf(Lab.PODS.keySet()).hasSizeGreaterThan(1);
        String udp = lab.udp(Lab.CLIENT, DUAL6, 53, "hello", Duration.ofSeconds(3));
        assertThat(client(udp)).isEqualTo(InetAddress.getByName(Lab.CLIENT_IP6));
    }

    @Test
    void theStatusCountsBothFamiliesAsProgrammedAndSkipsNothing() throws Exception {
        NodeDataplane lb = lab.awaitStatus(Lab.LB, Duration.ofSeconds(30), s -> s.getStatus() != null && s.getStatus().services != null);
        assertThat(lb.getStatus().services).as("http and dns on each of the two VIPs").isEqualTo(4);
        assertThat(lb.getStatus().skippedServices).as("nothing left out").isNull();
    }
}
