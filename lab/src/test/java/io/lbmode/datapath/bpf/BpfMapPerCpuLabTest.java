package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.lab.Lab;
import io.lbmode.lab.LabSpec;
import io.lbmode.lab.LabSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link BpfMap#forEach} on a per-CPU map (root, the real kernel): each entry's value is one value per possible CPU,
 * each padded to 8 bytes. Read with a buffer of {@code valueSize} per entry, the kernel's per-CPU values overran it
 * and every entry got bytes of its neighbours. lb_drops (BPF_MAP_TYPE_PERCPU_ARRAY, u64 counters) of a loaded
 * datapath, with a distinct number written for every reason and CPU.
 */
@Tag("lab")
class BpfMapPerCpuLabTest {

    @Test
    void forEachOnAPerCpuMapGivesEveryEntryEachCpusValue() throws Exception {
        LabSupport.requireRoot();
        try (Lab lab = Lab.start(new LabSpec(LabSpec.unique().prefix(), false))) {
            DsrDatapath dp = DsrDatapath.load(lab.bpffs(Lab.LB));
            try {
                BpfMap drops = dp.map(DsrDatapath.DROPS);
                int cpus = LibBpf.numPossibleCpus();
                assertThat(drops.valueBytes()).isEqualTo(8 * cpus);
                assertThat(dp.map(DsrDatapath.SERVICES).valueBytes()).as("not per-CPU").isEqualTo(BpfLayout.SVC_VALUE_SIZE);
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment key = a.allocate(4, 4);
                    MemorySegment value = a.allocate(8L * cpus, 8);
                    for (int reason = 0; reason < DropReason.SLOTS; reason++) {
                        key.set(ValueLayout.JAVA_INT, 0, reason);
                        for (int cpu = 0; cpu < cpus; cpu++) {
                            value.set(ValueLayout.JAVA_LONG, 8L * cpu, expected(reason, cpu));
                        }
                        drops.update(key, value);
                    }
                }
                Map<Integer, long[]> seen = new TreeMap<>();
                drops.forEach((k, v) -> {
                    assertThat(v).as("value of reason %d", BpfLayout.host32(k, 0)).hasSize(8 * cpus);
                    long[] perCpu = new long[cpus];
                    for (int cpu = 0; cpu < cpus; cpu++) {
                        perCpu[cpu] = BpfLayout.host64(v, 8 * cpu);
                    }
                    seen.put(BpfLayout.host32(k, 0), perCpu);
                });
                assertThat(seen).hasSize(DropReason.SLOTS);
                long[] sums = DsrDatapath.perCpuSums(drops, DropReason.SLOTS);
                for (int reason = 0; reason < DropReason.SLOTS; reason++) {
                    long[] want = new long[cpus];
                    for (int cpu = 0; cpu < cpus; cpu++) {
                        want[cpu] = expected(reason, cpu);
                    }
                    assertThat(seen.get(reason)).as("reason %d", reason).containsExactly(want);
                    assertThat(java.util.Arrays.stream(seen.get(reason)).sum()).isEqualTo(sums[reason]);
                }
            } finally {
                dp.close();
            }
        }
    }

    /** A number no other reason or CPU has. */
    private static long expected(int reason, int cpu) {
        return 1_000_000L * (reason + 1) + cpu + 1;
    }
}
