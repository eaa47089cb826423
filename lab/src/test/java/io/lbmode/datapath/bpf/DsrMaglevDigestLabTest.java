package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.maglev.Maglev;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import io.lbmode.datapath.program.Applied;
import io.lbmode.lab.Lab;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * lb_maglev_inputs (root, in the lab's LB node, no traffic): a restarted programmer leaves alone the Maglev tables whose
 * inputs did not change, and rewrites the ones whose inputs did or whose digest is missing. To tell "left alone" from
 * "computed again and found equal", the test scribbles over a slot of a table between the two programmers: only a
 * programmer that recomputes the table puts the slot back. IPv6 service ports' tables (lb_services6, lb_backends6) share
 * lb_maglev and have their digests in lb_maglev_inputs like the IPv4 ones.
 */
@Tag("lab")
class DsrMaglevDigestLabTest extends LbNodeProgrammerLab {
    static final long SEED = 0x5eed_14L;
    static final int SERVICES = 20;
    static final int SERVICES6 = 4;

    static String vip(int i) {
        return "172.16.30." + (10 + i);
    }

    /** SERVICES services with two backends; service {@code changed} (if >= 0) gets another second backend. */
    static NodeState state(long seed, int changed) {
        List<ServicePort> s = new ArrayList<>();
        for (int i = 0; i < SERVICES; i++) {
            int second = i == changed ? 100 + i : 50 + i;
            s.add(new ServicePort("default", "svc" + i, "", Protocol.TCP, Addresses.ipv4(vip(i)), 80, false,
                    List.of(new Backend(Addresses.ipv4("10.244.1." + (10 + i)), 8080, "w1", false),
                            new Backend(Addresses.ipv4("10.244.2." + second), 8080, "w2", false))));
        }
        return new NodeState(ForwardMode.DSR, new NodeInfo(Lab.LB, Addresses.ipv4(Lab.NODE_IPS.get(Lab.LB))), seed, s);
    }

    static String vip6(int i) {
        return "fd00:30::" + (10 + i);
    }

    /**
     * The SERVICES IPv4 services and SERVICES6 IPv6 ones with two backends each; IPv6 service {@code changed6} (if >= 0)
     * gets another second backend.
     */
    static NodeState dualStackState(long seed, int changed6) {
        List<ServicePort> s = new ArrayList<>(state(seed, -1).services());
        for (int i = 0; i < SERVICES6; i++) {
            int second = i == changed6 ? 0x100 + i : 0x50 + i;
            s.add(new ServicePort("default", "svc6-" + i, "", Protocol.TCP, Addresses.ip(vip6(i)), 80, false,
                    List.of(new Backend(Addresses.ip("fd00:244:1::" + Integer.toHexString(0x10 + i)), 8080, "w1", false),
                            new Backend(Addresses.ip("fd00:244:2::" + Integer.toHexString(second)), 8080, "w2", false))));
        }
        return new NodeState(ForwardMode.DSR, new NodeInfo(Lab.LB, Addresses.ipv4(Lab.NODE_IPS.get(Lab.LB))), seed, s);
    }

    Applied apply(NodeState state) throws Exception {
        return lb.call(() -> programmer.apply(state));
    }

    /** A new programmer, as a restarted agent has: the old one's handles released, the pinned maps kept. */
    Applied restart(NodeState state) throws Exception {
        programmer.close();
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), M);
        return apply(state);
    }

    DsrDatapath dp() {
        return programmer.datapath().orElseThrow();
    }

    /** lb_services' slot offset of service i. */
    int offset(int i) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.SVC_KEY_SIZE);
            MemorySegment val = a.allocate(BpfLayout.SVC_VALUE_SIZE);
            BpfLayout.svcKey(key, Addresses.ipv4(vip(i)), 80, BpfLayout.PROTO_TCP);
            assertThat(dp().map(DsrDatapath.SERVICES).lookup(key, val)).as("service %s in lb_services", vip(i)).isTrue();
            return val.get(BpfLayout.HOST32, 0);
        }
    }

    /** lb_services6' slot offset of IPv6 service i. */
    int offset6(int i) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.SVC6_KEY_SIZE);
            MemorySegment val = a.allocate(BpfLayout.SVC_VALUE_SIZE);
            BpfLayout.svcKey(key, Addresses.ip(vip6(i)), 80, BpfLayout.PROTO_TCP);
            assertThat(dp().map(DsrDatapath.SERVICES6).lookup(key, val)).as("service %s in lb_services6", vip6(i)).isTrue();
            return val.get(BpfLayout.HOST32, 0);
        }
    }

    int slot6(int i, int k) {
        return dp().maglevSlots().getAtIndex(ValueLayout.JAVA_INT, offset6(i) + k);
    }

    void scribble6(int i, int k, int value) {
        dp().maglevSlots().setAtIndex(ValueLayout.JAVA_INT, offset6(i) + k, value);
    }

    /** IPv6 service i's table as backend names ("[addr]:port"), read through lb_backends6. */
    List<String> tableNames6(int i) {
        Map<Integer, String> names = new HashMap<>();
        dp().map(DsrDatapath.BACKENDS6).forEach((k, v) -> {
            MemorySegment val = MemorySegment.ofArray(v);
            names.put(MemorySegment.ofArray(k).get(BpfLayout.HOST32, 0),
                    "[" + Addresses.text(BpfLayout.getAddr6(val, 0)) + "]:" + BpfLayout.u16(val, 16));
        });
        List<String> out = new ArrayList<>();
        for (int k = 0; k < M; k++) {
            out.add(names.get(slot6(i, k)));
        }
        return out;
    }

    /** What Maglev gives IPv6 service i in {@code state}, as backend names (IPv6 in brackets, as every node hashes them). */
    static List<String> expected6(NodeState state, int i) {
        ServicePort sp = state.services().stream().filter(p -> p.vip().equals(Addresses.ip(vip6(i)))).findFirst().orElseThrow();
        List<String> bes = sp.backends().stream().map(b -> "[" + Addresses.text(b.address()) + "]:" + b.port()).toList();
        return java.util.Arrays.stream(Maglev.table(bes, M, state.hashSeed())).mapToObj(bes::get).toList();
    }

    int slot(int i, int k) {
        return dp().maglevSlots().getAtIndex(ValueLayout.JAVA_INT, offset(i) + k);
    }

    void scribble(int i, int k, int value) {
        dp().maglevSlots().setAtIndex(ValueLayout.JAVA_INT, offset(i) + k, value);
    }

    /** Service i's table as backend names ("addr:port"), read through lb_backends. */
    List<String> tableNames(int i) {
        Map<Integer, String> names = new HashMap<>();
        dp().map(DsrDatapath.BACKENDS).forEach((k, v) -> {
            MemorySegment val = MemorySegment.ofArray(v);
            names.put(MemorySegment.ofArray(k).get(BpfLayout.HOST32, 0),
                    BpfLayout.getAddr(val, 0).getHostAddress() + ":" + BpfLayout.u16(val, 4));
        });
        List<String> out = new ArrayList<>();
        for (int k = 0; k < M; k++) {
            out.add(names.get(slot(i, k)));
        }
        return out;
    }

    /** What Maglev gives service i in {@code state}, as backend names. */
    static List<String> expected(NodeState state, int i) {
        List<String> bes = state.services().get(i).backends().stream().map(b -> b.address().getHostAddress() + ":" + b.port()).toList();
        return java.util.Arrays.stream(Maglev.table(bes, M, state.hashSeed())).mapToObj(bes::get).toList();
    }

    int digestCount() {
        return dp().map(DsrDatapath.MAGLEV_INPUTS).count();
    }

    @Test
    void aRestartedProgrammerLeavesTablesWithUnchangedInputsAlone() throws Exception {
        NodeState s = state(SEED, -1);
        assertThat(apply(s).changes()).isGreaterThan(SERVICES * M);
        assertThat(digestCount()).as("one digest per table range").isEqualTo(SERVICES);
        int original = slot(3, 7);
        scribble(3, 7, original + 1000);

        Applied again = restart(s);

        assertThat(again.full()).isTrue();
        assertThat(again.changes()).as("nothing written: every digest matched").isZero();
        assertThat(slot(3, 7)).as("the table was not even computed again").isEqualTo(original + 1000);
        for (int i = 0; i < SERVICES; i++) {
            if (i != 3) {
                assertThat(tableNames(i)).isEqualTo(expected(s, i));
            }
        }
    }

    @Test
    void aRestartedProgrammerRewritesTablesWhoseInputsChanged() throws Exception {
        apply(state(SEED, -1));
        scribble(5, 0, 999_999);
        scribble(6, 0, 999_999);
        NodeState changed = state(SEED, 5); // service 5 has a new second backend

        Applied again = restart(changed);

        assertThat(again.changes()).isPositive();
        assertThat(tableNames(5)).as("the changed service's table, rebuilt for its new backends").isEqualTo(expected(changed, 5));
        assertThat(slot(6, 0)).as("an unchanged service is left alone").isEqualTo(999_999);
        assertThat(digestCount()).isEqualTo(SERVICES);

        // A changed seed changes every table's inputs: all of them are computed again.
        NodeState reseeded = state(SEED + 1, 5);
        restart(reseeded);
        for (int i = 0; i < SERVICES; i++) {
            assertThat(tableNames(i)).as("service %d after the seed changed", i).isEqualTo(expected(reseeded, i));
        }
    }

    @Test
    void aTableWithoutItsDigestIsComputedAgainAndDigestsOfRemovedServicesGo() throws Exception {
        NodeState s = state(SEED, -1);
        apply(s);
        int original = slot(8, 1);
        scribble(8, 1, original + 1000);
        // what an agent that stopped between removing a digest and rewriting its table leaves behind
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(4, 4);
            key.set(BpfLayout.HOST32, 0, offset(8));
            assertThat(dp().map(DsrDatapath.MAGLEV_INPUTS).delete(key)).isTrue();
        }

        restart(s);

        assertThat(slot(8, 1)).as("recomputed without a digest").isEqualTo(original);
        assertThat(digestCount()).isEqualTo(SERVICES);

        NodeState fewer = new NodeState(s.mode(), s.node(), s.hashSeed(), s.services().subList(0, SERVICES - 4));
        apply(fewer);
        assertThat(digestCount()).as("digests of removed services are removed with their tables").isEqualTo(SERVICES - 4);
    }

    @Test
    void anIpv6ServicesTableIsLeftAloneWhenUnchangedAndRewrittenWhenChanged() throws Exception {
        NodeState s = dualStackState(SEED, -1);
        apply(s);
        assertThat(digestCount()).as("one digest per table range, of either family").isEqualTo(SERVICES + SERVICES6);
        for (int i = 0; i < SERVICES6; i++) {
            assertThat(tableNames6(i)).as("IPv6 service %d", i).isEqualTo(expected6(s, i));
        }
        scribble6(1, 3, 999_999);
        scribble6(2, 3, 999_999);

        Applied again = restart(s);

        assertThat(again.changes()).as("nothing written: every digest matched, IPv6 ones too").isZero();
        assertThat(slot6(1, 3)).as("the IPv6 table was not even computed again").isEqualTo(999_999);
        assertThat(slot6(2, 3)).isEqualTo(999_999);

        NodeState changed = dualStackState(SEED, 1); // IPv6 service 1 has a new second backend
        Applied rewritten = restart(changed);

        assertThat(rewritten.changes()).isPositive();
        assertThat(tableNames6(1)).as("the changed IPv6 service's table, rebuilt for its new backends")
                .isEqualTo(expected6(changed, 1));
        assertThat(slot6(2, 3)).as("an unchanged IPv6 service is left alone").isEqualTo(999_999);
        assertThat(digestCount()).isEqualTo(SERVICES + SERVICES6);
    }

    /** Service i of state(SEED, -1) and {@code copies} more ports with service 0's endpoints (VIPs after all of them). */
    static NodeState withCopiesOfService0(int changed, int copies) {
        NodeState s = state(SEED, changed);
        List<ServicePort> ports = new ArrayList<>(s.services());
        for (int i = 0; i < copies; i++) {
            ports.add(new ServicePort("default", "same" + i, "", Protocol.TCP, Addresses.ipv4("172.16.31." + (10 + i)), 80, false,
                    s.services().get(0).backends()));
        }
        return new NodeState(s.mode(), s.node(), s.hashSeed(), ports);
    }

    /** The table of the port at {@code vip}:80 as backend names. */
    List<String> tableNamesAt(String vip) {
        int offset;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.SVC_KEY_SIZE);
            MemorySegment val = a.allocate(BpfLayout.SVC_VALUE_SIZE);
            BpfLayout.svcKey(key, Addresses.ipv4(vip), 80, BpfLayout.PROTO_TCP);
            assertThat(dp().map(DsrDatapath.SERVICES).lookup(key, val)).as("service %s in lb_services", vip).isTrue();
            offset = val.get(BpfLayout.HOST32, 0);
        }
        Map<Integer, String> names = new HashMap<>();
        dp().map(DsrDatapath.BACKENDS).forEach((k, v) -> {
            MemorySegment value = MemorySegment.ofArray(v);
            names.put(MemorySegment.ofArray(k).get(BpfLayout.HOST32, 0),
                    BpfLayout.getAddr(value, 0).getHostAddress() + ":" + BpfLayout.u16(value, 4));
        });
        List<String> out = new ArrayList<>();
        for (int k = 0; k < M; k++) {
            out.add(names.get(dp().maglevSlots().getAtIndex(ValueLayout.JAVA_INT, offset + k)));
        }
        return out;
    }

    /**
     * What a pass over every port computes: from empty maps, each distinct set of inputs once (ports with the same
     * endpoints get a copy of the slots, staged with the other new ranges); a restarted programmer whose inputs all
     * match the pinned digests computes and copies nothing; after one port changed, only its table.
     */
    @Test
    void aFullProgrammingComputesEachDistinctTableOnceAndARestartOnlyTheChangedOnes() throws Exception {
        int copies = 5;
        NodeState s = withCopiesOfService0(-1, copies);
        apply(s);
        assertThat(programmer.examined()).isEqualTo(SERVICES + copies);
        assertThat(programmer.tablesComputed()).as("one table per distinct set of endpoints").isEqualTo(SERVICES);
        assertThat(programmer.rangesCopied()).as("the ports with service 0's endpoints").isEqualTo(copies);
        for (int i = 0; i < SERVICES; i++) {
            assertThat(tableNames(i)).as("service %d", i).isEqualTo(expected(s, i));
        }
        for (int i = 0; i < copies; i++) {
            assertThat(tableNamesAt("172.16.31." + (10 + i))).as("copy %d of service 0's table", i).isEqualTo(expected(s, 0));
        }

        Applied again = restart(s);
        assertThat(again.changes()).isZero();
        assertThat(programmer.examined()).as("a restart looks at every port").isEqualTo(SERVICES + copies);
        assertThat(programmer.tablesComputed()).as("every digest matched").isZero();
        assertThat(programmer.rangesCopied()).isZero();

        NodeState changed = withCopiesOfService0(7, copies);
        restart(changed);
        assertThat(programmer.tablesComputed()).as("only the changed port's table").isEqualTo(1);
        assertThat(tableNames(7)).isEqualTo(expected(changed, 7));

        // a restart that finds two copies and the last service gone: only they go (with the last service's two
        // backends, adopted and asked for by no port), the unchanged ones stay as they are
        List<ServicePort> kept = new ArrayList<>(changed.services().subList(0, SERVICES + copies - 2));
        kept.remove(SERVICES - 1);
        NodeState fewer = new NodeState(changed.mode(), changed.node(), changed.hashSeed(), kept);
        Applied dropped = restart(fewer);
        assertThat(dropped.changes()).as("three entries and two backends deleted").isEqualTo(5);
        assertThat(programmer.tablesComputed()).isZero();
        assertThat(dp().map(DsrDatapath.SERVICES).count()).isEqualTo(SERVICES + copies - 3);
        assertThat(dp().map(DsrDatapath.BACKENDS).count()).as("the backends of services 0-18").isEqualTo(2 * (SERVICES - 1));
        for (int i = 0; i < SERVICES - 1; i++) {
            assertThat(tableNames(i)).as("service %d", i).isEqualTo(expected(fewer, i));
        }
    }
}
