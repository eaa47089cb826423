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
import io.lbmode.lab.Lab;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A change is applied from the changed service ports alone (root, in the lab's LB node, no traffic): after any
 * sequence of changes (endpoints come, go and start draining, services come and go, source ranges change, IPv4 and
 * IPv6), the maps hold what a programmer that starts from nothing writes for the final state, no backend id is left
 * behind, and each change examined only the ports it changed.
 */
@Tag("lab")
class DsrChangeLabTest extends LbNodeProgrammerLab {
    static final long SEED = 0x14_c4a9_6eL;
    static final NodeInfo NODE = new NodeInfo(Lab.LB, Addresses.ipv4(Lab.NODE_IPS.get(Lab.LB)));

    /** Service i's port: IPv6 for every fifth, TCP; its endpoints are pods {@code pods} (numbers), draining ones too. */
    static ServicePort port(int i, List<Integer> pods, List<Integer> draining, List<String> ranges) {
        boolean v6 = i % 5 == 4;
        String vip = v6 ? "fd00:31::" + Integer.toHexString(0x10 + i) : "172.16.31." + (10 + i);
        List<Backend> bes = new ArrayList<>();
        for (int p : pods) {
            bes.add(backend(v6, p));
        }
        List<Backend> drain = new ArrayList<>();
        for (int p : draining) {
            drain.add(backend(v6, p));
        }
        List<Cidr> cidrs = ranges.stream().map(r -> new Cidr(Addresses.ip(r.split("/")[0]), Integer.parseInt(r.split("/")[1]))).toList();
        return new ServicePort("default", "svc" + i, "", Protocol.TCP, Addresses.ip(vip), 80, false, bes, drain,
                new ServicePort.Policy(cidrs, 0));
    }

    static Backend backend(boolean v6, int pod) {
        return new Backend(Addresses.ip(v6 ? "fd00:244::" + Integer.toHexString(0x100 + pod) : "10.244." + (pod >> 8) + "." + (pod & 0xff)),
                8080, "w1", false);
    }

    /** What the maps say, without ids and offsets: each service's entry and its slots as backend names; the backends; the ranges. */
    record Snapshot(Map<String, String> services, Map<String, List<String>> slots, TreeSet<String> backends, TreeSet<String> ranges,
                    int digests) {
    }

    Snapshot snapshot() {
        DsrDatapath dp = programmer.datapath().orElseThrow();
        Map<Integer, String> names = new HashMap<>();
        TreeSet<String> backends = new TreeSet<>();
        dp.map(DsrDatapath.BACKENDS).forEach((k, v) -> {
            String name = BpfLayout.getAddr(v, 0).getHostAddress() + ":" + BpfLayout.u16(v, 4);
            names.put(BpfLayout.host32(k, 0), name);
            backends.add(name);
        });
        dp.map(DsrDatapath.BACKENDS6).forEach((k, v) -> {
            String name = "[" + Addresses.text(BpfLayout.getAddr6(v, 0)) + "]:" + BpfLayout.u16(v, 16);
            names.put(BpfLayout.host32(k, 0), name);
            backends.add(name);
        });
        Map<String, String> services = new TreeMap<>();
        Map<String, List<String>> slots = new TreeMap<>();
        MemorySegment table = dp.maglevSlots();
        for (String map : List.of(DsrDatapath.SERVICES, DsrDatapath.SERVICES6)) {
            boolean v6 = map.equals(DsrDatapath.SERVICES6);
            dp.map(map).forEach((k, v) -> {
                String vip = Addresses.text(v6 ? BpfLayout.getAddr6(k, 0) : BpfLayout.getAddr(k, 0));
                int offset = BpfLayout.host32(v, 0);
                int size = BpfLayout.host32(v, 4);
                int flags = BpfLayout.host32(v, 12);
                services.put(vip, "size " + size + " backends " + BpfLayout.host32(v, 8) + " flags " + flags);
                int length = (flags & BpfLayout.SVC_F_DRAINING) != 0 ? 2 * size : size;
                List<String> s = new ArrayList<>();
                for (int i = 0; i < length; i++) {
                    int id = table.getAtIndex(ValueLayout.JAVA_INT, offset + i);
                    s.add(id == 0 ? "-" : names.getOrDefault(id, "unknown id " + id));
                }
                slots.put(vip, s);
            });
        }
        TreeSet<String> ranges = new TreeSet<>();
        dp.map(DsrDatapath.SOURCE_RANGES).forEach((k, v) -> ranges.add(java.util.HexFormat.of().formatHex(k)));
        dp.map(DsrDatapath.SOURCE_RANGES6).forEach((k, v) -> ranges.add(java.util.HexFormat.of().formatHex(k)));
        return new Snapshot(services, slots, backends, ranges, dp.map(DsrDatapath.MAGLEV_INPUTS).count());
    }

    /**
     * The scale in DSR: 10,000 service ports of 4 backends each. At the compact size (509 slots, above 100 x 4)
     * they would need 5.09 Mi slots of the 4 Mi in lb_maglev, and the whole apply failed ("Maglev table memory is
     * full"); at the minimal size (251, above 10 x 4) they take 2.5 Mi, and each backend keeps its share within 10%.
     */
    @Test
    void tenThousandServicePortsOfFourBackendsFitTheTableMemory() throws Exception {
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), 16381); // the agent's default size
        List<ServicePort> ports = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            List<Backend> backends = new ArrayList<>();
            for (int b = 0; b < 4; b++) {
                backends.add(backend(false, 4 * i + b));
            }
            ports.add(new ServicePort("default", "svc" + i, "", Protocol.TCP,
                    Addresses.ip("172.16." + (32 + i / 250) + "." + (1 + i % 250)), 80, false, backends, List.of(),
                    new ServicePort.Policy(List.of(), 0)));
        }
        lb.call(() -> programmer.apply(new NodeState(ForwardMode.DSR, NODE, SEED, ports)));

        Snapshot s = snapshot();
        assertThat(s.services()).hasSize(10_000).allSatisfy((vip, entry) -> assertThat(entry).startsWith("size 251 backends 4 "));
        assertThat(s.backends()).hasSize(40_000);
        for (ServicePort port : ports) {
            Map<String, Integer> share = new TreeMap<>();
            s.slots().get(Addresses.text(port.vip())).forEach(name -> share.merge(name, 1, Integer::sum));
            assertThat(share.keySet()).as(port.name()).containsExactlyInAnyOrderElementsOf(
                    port.backends().stream().map(Backend::endpoint).toList());
            assertThat(share.values()).as(port.name() + ": 251 / 4 = 62.75 slots each, within 10%").allMatch(n -> n >= 57 && n <= 69);
        }
    }

    @Test
    void changesAppliedPortByPortEndWhereAProgrammerStartingFromNothingDoes() throws Exception {
        Random random = new Random(14);
        int services = 40;
        Map<Integer, ServicePort> ports = new TreeMap<>();
        for (int i = 0; i < services; i++) {
            ports.put(i, port(i, List.of(i, i + 100), List.of(), List.of()));
        }
        NodeState state = new NodeState(ForwardMode.DSR, NODE, SEED, new ArrayList<>(ports.values()));
        NodeState first = state;
        assertThat(lb.call(() -> programmer.apply(first)).changes()).isPositive();
        assertThat(programmer.examined()).isEqualTo(services);

        for (int step = 0; step < 60; step++) {
            int i = random.nextInt(services);
            List<ServicePort> before = state.services();
            switch (random.nextInt(6)) {
                case 0 -> ports.remove(i); // the service goes (or stays gone)
                case 1 -> ports.put(i, port(i, List.of(i, 200 + random.nextInt(8)), List.of(), List.of())); // shares a pod
                case 2 -> ports.put(i, port(i, List.of(i + 100 + random.nextInt(3)), List.of(i), List.of())); // i drains
                case 3 -> ports.put(i, port(i, List.of(i, i + 100), List.of(), List.of(i % 5 == 4 ? "fd00:99::/64" : "192.0.2.0/24")));
                case 4 -> ports.put(i, port(i, List.of(), List.of(), List.of())); // no endpoints
                default -> ports.put(i, port(i, List.of(i, i + 100, 300 + step), List.of(), List.of()));
            }
            // the unchanged ports are the same objects, as DesiredState hands them over
            List<ServicePort> next = new ArrayList<>();
            for (ServicePort p : ports.values()) {
                next.add(before.stream().filter(p::equals).findFirst().orElse(p));
            }
            NodeState changed = new NodeState(ForwardMode.DSR, NODE, SEED, next);
            int differ = changed.changesFrom(state).before().size() + changed.changesFrom(state).after().size();
            lb.call(() -> programmer.apply(changed));
            assertThat(programmer.examined()).as("step %d: service ports examined", step).isLessThanOrEqualTo(differ);
            state = changed;
        }
        Snapshot changedStepByStep = lb.call(this::snapshot);

        // no backend id left behind: exactly the endpoints (ready or draining) of the final state have one
        TreeSet<String> endpoints = new TreeSet<>();
        for (ServicePort p : state.services()) {
            for (List<Backend> bes : List.of(p.backends(), p.draining())) {
                for (Backend b : bes) {
                    endpoints.add(b.address() instanceof java.net.Inet6Address
                            ? "[" + Addresses.text(b.address()) + "]:" + b.port() : b.address().getHostAddress() + ":" + b.port());
                }
            }
        }
        assertThat(changedStepByStep.backends()).isEqualTo(endpoints);

        lb.run(() -> programmer.cleanup());
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), M);
        NodeState last = state;
        lb.call(() -> programmer.apply(last));
        assertThat(changedStepByStep).isEqualTo(lb.call(this::snapshot));
    }

    @Test
    void oneChangedEndpointAmongManyServicesExaminesOnePort() throws Exception {
        List<ServicePort> ports = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            ports.add(port(i, List.of(i, i + 300), List.of(), List.of()));
        }
        NodeState state = new NodeState(ForwardMode.DSR, NODE, SEED, ports);
        lb.call(() -> programmer.apply(state));
        assertThat(programmer.examined()).isEqualTo(200);

        List<ServicePort> next = new ArrayList<>(state.services());
        ServicePort moved = port(7, List.of(7, 999), List.of(), List.of());
        next.replaceAll(p -> p.key().equals(moved.key()) ? moved : p);
        NodeState changed = new NodeState(ForwardMode.DSR, NODE, SEED, next);
        assertThat(lb.call(() -> programmer.apply(changed)).changes()).isPositive();
        assertThat(programmer.examined()).isEqualTo(1);
        assertThat(lb.call(this::snapshot).slots().get("172.16.31.17")).contains("10.244.3.231:8080").doesNotContain("10.244.1.51:8080");

        // a new seed changes every table: every port again
        NodeState reseeded = new NodeState(ForwardMode.DSR, NODE, SEED + 1, next);
        lb.call(() -> programmer.apply(reseeded));
        assertThat(programmer.examined()).isEqualTo(200);
    }

    /** lb_services' flags of the IPv4 service port at {@code vip}. */
    int flags(String vip) {
        return Integer.parseInt(lbServices(vip).replaceAll(".* flags ", ""));
    }

    String lbServices(String vip) {
        try {
            return lb.call(this::snapshot).services().get(vip);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aDrainLeftWithoutRoomGetsItsSecondTableOnALaterApplyThatDoesNotChangeIt() throws Exception {
        // 32 tables of the largest size fill lb_maglev (4 Mi slots) but for 32 slots: no room for a second table
        int m = 131071;
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), m);
        List<ServicePort> ports = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            ports.add(new ServicePort("default", "big" + i, "", Protocol.TCP, Addresses.ip("172.16.32." + (10 + i)), 80, false,
                    List.of(backend(false, i), backend(false, i + 100))));
        }
        NodeState full = new NodeState(ForwardMode.DSR, NODE, SEED, ports);
        lb.call(() -> programmer.apply(full));
        assertThat(lbServices("172.16.32.10")).startsWith("size " + m);

        // service 0's endpoint i + 100 starts terminating: its established-connection table does not fit
        List<ServicePort> draining = new ArrayList<>(full.services());
        draining.set(0, new ServicePort("default", "big0", "", Protocol.TCP, Addresses.ip("172.16.32.10"), 80, false,
                List.of(backend(false, 0)), List.of(backend(false, 100)), ServicePort.Policy.OPEN));
        NodeState drain = new NodeState(ForwardMode.DSR, NODE, SEED, draining);
        lb.call(() -> programmer.apply(drain));
        assertThat(flags("172.16.32.10") & BpfLayout.SVC_F_DRAINING).as("drains abruptly for lack of room").isZero();

        // two services go: their slots are free once the apply that removes them is done
        List<ServicePort> fewer = new ArrayList<>(drain.services());
        fewer.removeIf(p -> p.name().equals("big30") || p.name().equals("big31"));
        NodeState room = new NodeState(ForwardMode.DSR, NODE, SEED, fewer);
        lb.call(() -> programmer.apply(room));

        // the same state again: nothing changed, but the drain is tried again and now fits
        lb.call(() -> programmer.apply(room));
        assertThat(flags("172.16.32.10") & BpfLayout.SVC_F_DRAINING).as("drains with its second table").isNotZero();
        assertThat(lbServices("172.16.32.10")).startsWith("size " + m + " backends 1");
    }
}
