package io.lbmode.lab;

import static io.lbmode.lab.DualStackLab.DUAL4;
import static io.lbmode.lab.DualStackLab.DUAL6;
import static io.lbmode.lab.DualStackLab.client;
import static io.lbmode.lab.DualStackLab.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
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
    Lab lab;

    @BeforeAll
    void up() throws Exception {
        // DSR: an agent on every node, the workers strip the header and translate the replies
        lab = DualStackLab.start(ForwardMode.DSR, Map.of(), Lab.NODES, s -> "dsr".equals(s.getStatus().mode)
                && s.getStatus().lastError == null && s.getStatus().lastSyncTime != null);
    }

    @AfterAll
    void down() {
        if (lab != null) {
            lab.close();
        }
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
