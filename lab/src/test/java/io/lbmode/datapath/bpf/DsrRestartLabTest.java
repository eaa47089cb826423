package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
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
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A restarted programmer and the programs an earlier one pinned (root, in the lab's LB node): with the same dsr.o it
 * opens the pinned programs and maps (no verifier run) and leaves the tc filters that run them alone; pins from
 * another dsr.o, pins without lb_origin (an agent that predates it), programs an older agent replaced behind the
 * record, or a map pinned anew get the full load as on a first start. A filter removed behind the back of a
 * programmer that opened the pins is still seen and put back.
 */
@Tag("lab")
class DsrRestartLabTest extends LbNodeProgrammerLab {
    static final NodeState STATE = state();

    static NodeState state() {
        List<ServicePort> s = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            s.add(new ServicePort("default", "svc" + i, "", Protocol.TCP, Addresses.ipv4("172.16.31." + (10 + i)), 80, false,
                    List.of(new Backend(Addresses.ipv4("10.244.1." + (10 + i)), 8080, "w1", false),
                            new Backend(Addresses.ipv4("10.244.2." + (10 + i)), 8080, "w2", false))));
        }
        return new NodeState(ForwardMode.DSR, new NodeInfo(Lab.LB, Addresses.ipv4(Lab.NODE_IPS.get(Lab.LB))), 7, s);
    }

    Applied apply() throws Exception {
        return lb.call(() -> programmer.apply(STATE));
    }

    /** A new programmer, as a restarted agent has: the old one's handles released, pins and filters kept. */
    Applied restart() throws Exception {
        programmer.close();
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), M);
        return apply();
    }

    DsrDatapath dp() {
        return programmer.datapath().orElseThrow();
    }

    /** The program id tc reports for our filter on eth0's ingress or egress (tc's own view, not ours). */
    int filterProgId(String direction) throws Exception {
        Lab.ExecResult r = lab.exec(Lab.LB, "tc", "filter", "show", "dev", "eth0", direction);
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        Matcher m = Pattern.compile(" id (\\d+) name dsr_" + direction).matcher(r.stdout());
        assertThat(m.find()).as("our filter on eth0 %s: %s", direction, r.stdout()).isTrue();
        return Integer.parseInt(m.group(1));
    }

    record Filters(int ingress, int egress) {
    }

    Filters filters() throws Exception {
        return new Filters(filterProgId("ingress"), filterProgId("egress"));
    }

    /** Another build's dsr.o: this one's bytes and some more at the end (ignored by the ELF reader, not by the fingerprint). */
    static byte[] anotherBuild() {
        byte[] elf = DsrDatapath.objectBytes();
        return Arrays.copyOf(elf, elf.length + 8);
    }

    /** An agent of {@code elf}'s build starts and exits: loads, attaches, releases its handles. */
    void runAnotherBuild(byte[] elf) throws Exception {
        programmer.close();
        lb.run(() -> {
            try (DsrDatapath other = DsrDatapath.load(lab.bpffs(Lab.LB), elf)) {
                assertThat(other.loadedObject()).as("another build's programs are loaded, not opened").isTrue();
                other.attach("eth0");
            }
        });
    }

    byte[] origin() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(BpfLayout.ORIGIN_SIZE, 8);
            assertThat(dp().map(DsrDatapath.ORIGIN).lookup(a.allocate(4, 4), value)).isTrue();
            return value.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    void writeOrigin(byte[] origin) {
        try (Arena a = Arena.ofConfined()) {
            dp().map(DsrDatapath.ORIGIN).update(a.allocate(4, 4), a.allocateFrom(ValueLayout.JAVA_BYTE, origin));
        }
    }

    /** After a full load: what the next restart opens again (the programs tc runs are the ones it loaded). */
    void assertLoadedAndAttached(Applied applied) throws Exception {
        assertThat(applied.full()).isTrue();
        assertThat(dp().loadedObject()).as("dsr.o loaded, the verifier ran").isTrue();
        DsrDatapath.Attached a = dp().attached().orElseThrow();
        assertThat(filters()).isEqualTo(new Filters(a.ingressProgId(), a.egressProgId()));
    }

    @Test
    void aRestartWithTheSameObjectOpensThePinsAndLeavesTheFiltersAlone() throws Exception {
        assertLoadedAndAttached(apply());
        Filters before = filters();

        Applied again = restart();
        assertThat(again.changes()).as("nothing to write").isZero();
        assertThat(dp().loadedObject()).as("the pinned programs opened, dsr.o not loaded again").isFalse();
        assertThat(filters()).as("the filters run the same programs").isEqualTo(before);
        assertThat(dp().attached().orElseThrow().ingressProgId()).isEqualTo(before.ingress());
        assertThat(lb.call(programmer::drifted)).isFalse();
        // the opened maps are the pinned ones: a change reaches them
        assertThat(lb.call(() -> programmer.apply(new NodeState(ForwardMode.DSR, STATE.node(), 7, STATE.services().subList(0, 4))))
                .changes()).isPositive();
        assertThat(dp().map(DsrDatapath.SERVICES).count()).isEqualTo(4);
    }

    @Test
    void aFilterRemovedAfterTheFastPathIsSeenAndPutBackWithThePinnedProgram() throws Exception {
        apply();
        Filters before = filters();
        restart();
        assertThat(dp().loadedObject()).isFalse();

        assertThat(lab.exec(Lab.LB, "tc", "filter", "del", "dev", "eth0", "ingress").exitCode()).isZero();
        assertThat(lb.call(programmer::drifted)).as("our ingress filter gone").isTrue();
        lb.run(programmer::repair);
        assertThat(lb.call(programmer::drifted)).isFalse();
        assertThat(filters()).as("the pinned program attached again").isEqualTo(before);

        // another program at our handle and priority: replaced by ours
        runAnotherBuild(anotherBuild()); // attaches its own programs over ours, then exits
        assertThat(filters().ingress()).isNotEqualTo(before.ingress());
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), M);
        assertLoadedAndAttached(apply()); // and its lb_origin names the other build: loaded again
    }

    @Test
    void pinsFromAnotherObjectAreReplacedAsOnAFirstStart() throws Exception {
        apply();
        runAnotherBuild(anotherBuild());
        Filters other = filters();

        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), M);
        Applied applied = apply();
        assertLoadedAndAttached(applied);
        assertThat(applied.changes()).as("the maps were adopted: nothing to write").isZero();
        Filters ours = filters();
        assertThat(ours.ingress()).isNotEqualTo(other.ingress());
        assertThat(ours.egress()).isNotEqualTo(other.egress());

        restart();
        assertThat(dp().loadedObject()).as("this build's record now: opened").isFalse();
        assertThat(filters()).isEqualTo(ours);
    }

    @Test
    void pinsWithoutTheRecordGetTheFullLoad() throws Exception {
        apply();
        Filters before = filters();
        // an agent that predates lb_origin left the pins: no such map
        assertThat(lab.exec(Lab.LB, "rm", DsrDatapath.pinDir(lab.bpffs(Lab.LB)).resolve(DsrDatapath.ORIGIN).toString()).exitCode()).isZero();

        assertLoadedAndAttached(restart());
        assertThat(filters().ingress()).isNotEqualTo(before.ingress());
        Filters loaded = filters();

        restart();
        assertThat(dp().loadedObject()).as("the record written by the full load").isFalse();
        assertThat(filters()).isEqualTo(loaded);
    }

    @Test
    void programsReplacedBehindTheRecordGetTheFullLoad() throws Exception {
        apply();
        byte[] ours = origin();
        // an older agent, which knows nothing of lb_origin, replaced the programs and left the record as it was
        runAnotherBuild(anotherBuild());
        Filters older = filters();
        programmer = new DsrProgrammer("eth0", lab.bpffs(Lab.LB), M);
        lb.run(() -> {
            try (DsrDatapath any = DsrDatapath.load(lab.bpffs(Lab.LB), anotherBuild())) {
                assertThat(any.loadedObject()).isFalse(); // the other build's record: its pins opened
                try (Arena a = Arena.ofConfined()) {
                    any.map(DsrDatapath.ORIGIN).update(a.allocate(4, 4), a.allocateFrom(ValueLayout.JAVA_BYTE, ours));
                }
            }
        });

        assertLoadedAndAttached(apply());
        assertThat(filters().ingress()).as("the older agent's program replaced").isNotEqualTo(older.ingress());
        assertThat(origin()).as("the record names the programs loaded now").isNotEqualTo(ours);
    }

    /** lb_services' entry of {@code vip}:80/tcp: slot offset, size, backends, flags; null when absent. */
    int[] serviceEntry(String vip) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.SVC_KEY_SIZE);
            MemorySegment val = a.allocate(BpfLayout.SVC_VALUE_SIZE);
            BpfLayout.svcKey(key, Addresses.ipv4(vip), 80, BpfLayout.PROTO_TCP);
            if (!dp().map(DsrDatapath.SERVICES).lookup(key, val)) {
                return null;
            }
            return new int[]{val.get(BpfLayout.HOST32, 0), val.get(BpfLayout.HOST32, 4), val.get(BpfLayout.HOST32, 8),
                    val.get(BpfLayout.HOST32, 12)};
        }
    }

    boolean hasDigest(int offset) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocateFrom(ValueLayout.JAVA_INT, offset);
            return dp().map(DsrDatapath.MAGLEV_INPUTS).lookup(key, a.allocate(BpfLayout.MAGLEV_DIGEST_SIZE));
        }
    }

    @Test
    void adoptionDropsOverlappingRangesAndStaleDigests() throws Exception {
        apply();
        int[] third = serviceEntry("172.16.31.12");
        try (Arena a = Arena.ofConfined()) {
            // a service no agent wants any more whose range overlaps the third service's
            MemorySegment key = a.allocate(BpfLayout.SVC_KEY_SIZE);
            MemorySegment val = a.allocate(BpfLayout.SVC_VALUE_SIZE);
            BpfLayout.svcKey(key, Addresses.ipv4("172.16.31.99"), 80, BpfLayout.PROTO_TCP);
            BpfLayout.svcValue(val, third[0] + 10, third[1], 2);
            dp().map(DsrDatapath.SERVICES).update(key, val);
            // a digest of a range no service starts at (its service went before its digest did)
            MemorySegment d = a.allocate(BpfLayout.MAGLEV_DIGEST_SIZE);
            dp().map(DsrDatapath.MAGLEV_INPUTS).update(a.allocateFrom(ValueLayout.JAVA_INT, 5 * M + 7), d);
        }
        // whichever of the two the map lists first keeps its range, the other is dropped (the stray one, or the third
        // service, rebuilt then in a range of its own)
        restart();
        assertThat(dp().loadedObject()).isFalse();
        assertThat(hasDigest(5 * M + 7)).as("the stale digest deleted").isFalse();
        assertThat(serviceEntry("172.16.31.99")).as("the stray service removed").isNull();
        List<int[]> ranges = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            int[] e = serviceEntry("172.16.31." + (10 + i));
            assertThat(e).as("service %d", i).isNotNull();
            assertThat(hasDigest(e[0])).as("digest of service %d", i).isTrue();
            ranges.add(e);
        }
        ranges.sort((x, y) -> Integer.compare(x[0], y[0]));
        for (int i = 1; i < ranges.size(); i++) {
            assertThat(ranges.get(i)[0]).as("ranges do not overlap").isGreaterThanOrEqualTo(ranges.get(i - 1)[0] + ranges.get(i - 1)[1]);
        }
        assertThat(lb.call(programmer::drifted)).isFalse();
        assertThat(restart().changes()).as("a restart after that finds it all in place").isZero();
    }

    @Test
    void aMapPinnedAnewGetsTheFullLoadAndTheProgramsUseIt() throws Exception {
        apply();
        String pin = DsrDatapath.pinDir(lab.bpffs(Lab.LB)).resolve(DsrDatapath.BACKENDS).toString();
        // someone replaced lb_backends with an empty map of the same kind: the pinned programs still use the old one
        assertThat(lab.exec(Lab.LB, "rm", pin).exitCode()).isZero();
        Lab.ExecResult created = lab.exec(Lab.LB, "bpftool", "map", "create", pin, "type", "hash", "key", "4", "value", "8",
                "entries", "262144", "name", DsrDatapath.BACKENDS, "flags", "1");
        assertThat(created.exitCode()).as(created.stderr()).isZero();
        String newMapId = lab.exec(Lab.LB, "bpftool", "map", "show", "pinned", pin).stdout().replaceAll("(?s)^(\\d+):.*", "$1");

        Applied applied = restart();
        assertLoadedAndAttached(applied);
        assertThat(applied.changes()).as("the backends written into the new map").isEqualTo(2 * STATE.services().size());
        String prog = lab.exec(Lab.LB, "bpftool", "prog", "show", "id", String.valueOf(filters().ingress())).stdout();
        assertThat(prog.replaceAll("(?s).*map_ids ([0-9,]+).*", "$1").split(",")).as(prog).contains(newMapId);
    }
}
