package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.program.Applied;
import io.lbmode.lab.Lab;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A service port that finds no room in lb_maglev does not stop the others (root, in the lab's LB node, no traffic):
 * the table memory is filled with 256 tables of 16381 slots (the agent's default size, also the minimal size of a port
 * of 820 endpoints), the ports after them in the state's order are left out with nothing of them in the maps and are
 * named in {@link Applied#notProgrammed}; a restarted programmer leaves out the same ones; when ports go, the first
 * left-out ones in the state's order are programmed in that same apply, and the maps end as a programmer starting
 * from nothing writes them.
 */
@Tag("lab")
class DsrTableMemoryLabTest extends LbNodeProgrammerLab {
    static final long SEED = 0x14_c4a9_6eL;
    static final NodeInfo NODE = new NodeInfo(Lab.LB, Addresses.ipv4(Lab.NODE_IPS.get(Lab.LB)));
    /** The agent's default Maglev table size. */
    static final int SIZE = 16381;
    /** lb_maglev's 4 Mi slots hold 256 tables of 16381. */
    static final int FIT = 256;
    /** Endpoints shared by every port: above 819, so even the minimal size (above 10 x endpoints) is 16381. */
    static final int SHARED = 820;

    /**
     * Service i's port 80/TCP on 172.16.40-41.x (the state's order is i's); endpoints: the shared ones, and from port
     * {@link #FIT} on one of its own too (so that backend ids it would leave behind show), and port FIT + 1 restricts
     * its clients (so that source ranges it would leave behind show).
     */
    static ServicePort port(int i) {
        List<Backend> backends = new ArrayList<>();
        for (int p = 0; p < SHARED; p++) {
            backends.add(new Backend(Addresses.ip("10.244." + (p >> 8) + "." + (p & 0xff)), 8080, "w1", false));
        }
        if (i >= FIT) {
            backends.add(own(i));
        }
        List<Cidr> ranges = i == FIT + 1 ? List.of(new Cidr(Addresses.ip("192.0.2.0"), 24)) : List.of();
        return new ServicePort("default", "svc" + i, "http", Protocol.TCP, Addresses.ip("172.16." + (40 + i / 200) + "." + (1 + i % 200)),
                80, false, backends, List.of(), new ServicePort.Policy(ranges, 0));
    }

    static Backend own(int i) {
        return new Backend(Addresses.ip("10.245.0." + (i - FIT + 1)), 8080, "w1", false);
    }

    static List<ServicePort> ports(int n) {
        List<ServicePort> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(port(i));
        }
        return out;
    }

    /** What the maps say, without ids and offsets: each VIP's entry, the backends, the source range keys, the digests. */
    record Maps(Map<String, String> services, TreeSet<String> backends, int ranges, int digests) {
    }

    Maps maps() {
        DsrDatapath dp = programmer.datapath().orElseThrow();
        Map<String, String> services = new TreeMap<>();
        dp.map(DsrDatapath.SERVICES).forEach((k, v) -> services.put(BpfLayout.getAddr(k, 0).getHostAddress(),
                "size " + BpfLayout.host32(v, 4) + " backends " + BpfLayout.host32(v, 8) + " flags " + BpfLayout.host32(v, 12)));
        TreeSet<String> backends = new TreeSet<>();
        dp.map(DsrDatapath.BACKENDS).forEach((k, v) -> backends.add(BpfLayout.getAddr(v, 0).getHostAddress() + ":" + BpfLayout.u16(v, 4)));
        return new Maps(services, backends, dp.map(DsrDatapath.SOURCE_RANGES).count(), dp.map(DsrDatapath.MAGLEV_INPUTS).count());
    }

    /** The slots of {@code vip}'s table as backend addresses. */
    List<String> slots(String vip) {
        DsrDatapath dp = programmer.datapath().orElseThrow();
        Map<Integer, String> names = new HashMap<>();
        dp.map(DsrDatapath.BACKENDS).forEach((k, v) -> names.put(BpfLayout.host32(k, 0), BpfLayout.getAddr(v, 0).getHostAddress()));
        int[] entry = new int[2];
        dp.map(DsrDatapath.SERVICES).forEach((k, v) -> {
            if (BpfLayout.getAddr(k, 0).getHostAddress().equals(vip)) {
                entry[0] = BpfLayout.host32(v, 0);
                entry[1] = BpfLayout.host32(v, 4);
            }
        });
        MemorySegment table = dp.maglevSlots();
        List<String> out = new ArrayList<>();
        for (int i = 0; i < entry[1]; i++) {
            out.add(names.getOrDefault(table.getAtIndex(ValueLayout.JAVA_INT, entry[0] + i), "none"));
        }
        return out;
    }

    Applied apply(List<ServicePort> ports) throws Exception {
        return lb.call(() -> programmer.apply(new NodeState(ForwardMode.DSR, NODE, SEED, ports)));
    }

    static String vip(int i) {
        return port(i).vip().getHostAddress();
    }

    static List<String> names(Applied applied) {
        return applied.notProgrammed().stream().map(Applied.NotProgrammed::name).toList();
    }

    @Test
    void servicePortsWithoutRoomAreLeftOutAndReportedAndProgrammedOnceRoomIsFreed() throws Exception {
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), SIZE);
        List<ServicePort> ports = ports(FIT + 4);

        // 260 new ports, room for 256: the last four in the state's order are left out, the apply succeeds.
        Applied first = apply(ports);
        assertThat(names(first)).containsExactly("svc256", "svc257", "svc258", "svc259");
        assertThat(first.notProgrammed().getFirst()).satisfies(n -> {
            assertThat(n.namespace()).isEqualTo("default");
            assertThat(n.port()).isEqualTo("172.16.41.57:80/tcp (default/svc256:http)");
            assertThat(n.message()).startsWith("service port 172.16.41.57:80/tcp (default/svc256:http) is not programmed: ")
                    .contains("Maglev table memory is full", "4194304 slots", "even at its smallest size",
                            "at most 16381", "fewer LoadBalancer service ports", "fewer endpoints per port",
                            "as soon as room is freed");
        });
        Maps full = maps();
        assertThat(full.services()).hasSize(FIT).allSatisfy((vip, e) -> assertThat(e).isEqualTo("size 16381 backends 820 flags 0"));
        assertThat(full.services().keySet()).containsExactlyInAnyOrderElementsOf(ports.subList(0, FIT).stream()
                .map(p -> p.vip().getHostAddress()).toList());
        assertThat(full.backends()).as("only the shared endpoints: no id of a left-out port's own endpoint").hasSize(SHARED)
                .noneMatch(b -> b.startsWith("10.245."));
        assertThat(full.ranges()).as("no source range of the left-out port").isZero();
        assertThat(full.digests()).isEqualTo(FIT);

        // A restarted agent (adopting the pins, going over every port in the state's order) leaves out the same ones.
        programmer.close();
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), SIZE);
        assertThat(names(apply(ports))).containsExactly("svc256", "svc257", "svc258", "svc259");
        assertThat(maps()).isEqualTo(full);

        // A change elsewhere (one of svc10's endpoints replaced): applied, the left-out ones stay out (and reported).
        List<ServicePort> changed = new ArrayList<>(ports);
        ServicePort p10 = port(10);
        List<Backend> replaced = new ArrayList<>(p10.backends().subList(1, SHARED));
        replaced.add(new Backend(Addresses.ip("10.246.0.1"), 8080, "w1", false));
        changed.set(10, new ServicePort(p10.namespace(), p10.name(), p10.portName(), p10.protocol(), p10.vip(), p10.port(), false,
                replaced, List.of(), p10.policy()));
        Applied change = apply(changed);
        assertThat(names(change)).containsExactly("svc256", "svc257", "svc258", "svc259");
        assertThat(change.changes()).isPositive();
        assertThat(maps().services()).hasSize(FIT);
        assertThat(maps().backends()).hasSize(SHARED + 1).contains("10.246.0.1:8080").noneMatch(b -> b.startsWith("10.245."));

        // Two programmed ports go, and one left-out port: the room goes to the first two left out, in that same apply.
        List<ServicePort> fewer = new ArrayList<>(changed.subList(2, FIT + 3));
        Applied freed = apply(fewer);
        assertThat(names(freed)).containsExactly("svc258");
        Maps after = maps();
        assertThat(after.services()).hasSize(FIT).doesNotContainKeys(vip(0), vip(1), vip(258), vip(259))
                .containsEntry(vip(256), "size 16381 backends 821 flags 0")
                .containsEntry(vip(257), "size 16381 backends 821 flags " + BpfLayout.SVC_F_SOURCE_RANGES);
        assertThat(after.backends()).hasSize(SHARED + 3).contains(own(256).endpoint(), own(257).endpoint())
                .doesNotContain(own(258).endpoint(), own(259).endpoint());
        assertThat(after.ranges()).as("svc257's range, added with its entry").isOne();
        List<String> slots256 = slots(vip(256));
        assertThat(slots256).hasSize(SIZE).doesNotContain("none");
        assertThat(new TreeSet<>(slots256)).hasSize(SHARED + 1).contains("10.245.0.1");

        // The same maps as a programmer that starts from nothing for this state (ids and offsets aside).
        lb.run(() -> programmer.cleanup());
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), SIZE);
        assertThat(names(apply(fewer))).containsExactly("svc258");
        assertThat(maps()).isEqualTo(after);
        assertThat(slots(vip(256))).isEqualTo(slots256);

        // Everything goes: nothing of any port is left behind (no leaked backend ids, ranges or digests).
        Applied none = apply(List.of());
        assertThat(none.notProgrammed()).isEmpty();
        assertThat(maps()).isEqualTo(new Maps(Map.of(), new TreeSet<>(), 0, 0));
    }

    /** A port of two ready endpoints on 172.16.42.i, and one terminating endpoint while {@code draining}. */
    static ServicePort small(int i, boolean draining) {
        List<Backend> ready = List.of(new Backend(Addresses.ip("10.247.0.1"), 8080, "w1", false),
                new Backend(Addresses.ip("10.247.0.2"), 8080, "w1", false));
        List<Backend> terminating = draining ? List.of(new Backend(Addresses.ip("10.247.0.3"), 8080, "w1", false)) : List.of();
        return new ServicePort("default", "small" + i, "", Protocol.TCP, Addresses.ip("172.16.42." + i), 80, false, ready,
                terminating, ServicePort.Policy.OPEN);
    }

    /**
     * A drain that ends when lb_maglev has no room for the service's fresh single table (which failed the whole apply):
     * the table is rewritten in the first part of the service's range and the rest freed, and a port left out for
     * lack of room gets it in that same apply.
     */
    @Test
    void aDrainThatEndsWithTheTableMemoryFullKeepsItsRangeAndItsSecondHalfGoesToALeftOutPort() throws Exception {
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), SIZE);
        // 256 x 16381 + 2 x 251 (small1 draining: two tables) + 251 (small2) = 4,194,289 of 4,194,304 slots: 15 free,
        // so small3 (251) is left out.
        List<ServicePort> ports = new ArrayList<>(ports(FIT));
        ports.add(small(1, true));
        ports.add(small(2, false));
        ports.add(small(3, false));
        assertThat(names(apply(ports))).containsExactly("small3");
        assertThat(maps().services()).hasSize(FIT + 2).containsEntry("172.16.42.1", "size 251 backends 2 flags " + BpfLayout.SVC_F_DRAINING);

        // The drain ends: small1 would need a fresh range of 251 with 15 free; it keeps the first half of its range,
        // and the second half goes to small3.
        ports.set(FIT, small(1, false));
        assertThat(apply(ports).notProgrammed()).isEmpty();
        Maps ended = maps();
        assertThat(ended.services()).hasSize(FIT + 3).containsEntry("172.16.42.1", "size 251 backends 2 flags 0")
                .containsEntry("172.16.42.3", "size 251 backends 2 flags 0");
        assertThat(ended.backends()).doesNotContain("10.247.0.3:8080");
        assertThat(new TreeSet<>(slots("172.16.42.1"))).containsExactly("10.247.0.1", "10.247.0.2");
        assertThat(slots("172.16.42.1")).as("the same endpoints: the same table").isEqualTo(slots("172.16.42.2"))
                .isEqualTo(slots("172.16.42.3"));

        // 15 slots left: the next port is left out.
        ports.add(small(4, false));
        assertThat(names(apply(ports))).containsExactly("small4");
    }
}
