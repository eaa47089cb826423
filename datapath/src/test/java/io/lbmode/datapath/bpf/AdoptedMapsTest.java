package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.datapath.bpf.DsrProgrammer.BackendVal;
import io.lbmode.datapath.bpf.DsrProgrammer.Digest;
import io.lbmode.datapath.model.Addresses;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The maps a restarted programmer adopts into (backend ids, table digests) behave as a HashMap with the same entries,
 * whichever of their entries are still held as numbers: each operation is checked against a HashMap fed the same.
 */
@Tag("unit")
class AdoptedMapsTest {

    static BackendVal v4(int i) {
        return new BackendVal(Addresses.ipv4("10." + (i >> 16 & 0xff) + "." + (i >> 8 & 0xff) + "." + (i & 0xff)), 8000 + i % 7, i % 3 == 0);
    }

    @Test
    void adoptedBackendIdsAreAMapOfTheAdoptedEntries() {
        Random random = new Random(14);
        for (int round = 0; round < 50; round++) {
            AdoptedBackendIds ids = new AdoptedBackendIds();
            Map<BackendVal, Integer> expected = new HashMap<>();
            int n = random.nextInt(300);
            ids.expect(n);
            for (int i = 0; i < n; i++) {
                BackendVal b = v4(random.nextInt(400)); // some twice: the later id wins, as with put
                int id = 1 + random.nextInt(100_000);
                ids.adopt4((int) Addresses.toLong((java.net.Inet4Address) b.addr()), b.port(), b.local(), id);
                expected.put(b, id);
            }
            BackendVal v6 = new BackendVal(Addresses.ip("fd00::1"), 80, false);
            ids.put(v6, 7);
            expected.put(v6, 7);
            assertThat(ids.size()).isEqualTo(expected.size());
            for (int op = 0; op < 400; op++) {
                BackendVal b = random.nextInt(10) == 0 ? v6 : v4(random.nextInt(450)); // some never adopted
                switch (random.nextInt(5)) {
                    case 0 -> assertThat(ids.get(b)).isEqualTo(expected.get(b));
                    case 1 -> assertThat(ids.containsKey(b)).isEqualTo(expected.containsKey(b));
                    case 2 -> assertThat(ids.remove(b)).isEqualTo(expected.remove(b));
                    case 3 -> {
                        int id = random.nextInt(1000);
                        assertThat(ids.put(b, id)).isEqualTo(expected.put(b, id));
                    }
                    default -> assertThat(ids.size()).isEqualTo(expected.size());
                }
            }
            assertThat(ids.size()).isEqualTo(expected.size());
            assertThat(new HashMap<>(ids)).as("every entry, the ones never asked for created").isEqualTo(expected);
            assertThat(ids).isEqualTo(expected);
            ids.clear();
            assertThat(ids).isEmpty();
            assertThat(ids.get(v4(1))).isNull();
        }
    }

    @Test
    void adoptedDigestsAreAMapOfTheAdoptedEntries() {
        Random random = new Random(15);
        for (int round = 0; round < 50; round++) {
            AdoptedDigests digests = new AdoptedDigests();
            Map<Integer, Digest> expected = new HashMap<>();
            int n = random.nextInt(300);
            digests.expect(n);
            for (int i = 0; i < n; i++) {
                int offset = 251 * random.nextInt(400);
                Digest d = new Digest(random.nextLong(), random.nextLong());
                digests.adopt(offset, d.high(), d.low());
                expected.put(offset, d);
            }
            assertThat(digests.size()).isEqualTo(expected.size());
            for (int op = 0; op < 400; op++) {
                Integer offset = 251 * random.nextInt(450);
                switch (random.nextInt(5)) {
                    case 0 -> assertThat(digests.get(offset)).isEqualTo(expected.get(offset));
                    case 1 -> assertThat(digests.containsKey(offset)).isEqualTo(expected.containsKey(offset));
                    case 2 -> assertThat(digests.remove(offset)).isEqualTo(expected.remove(offset));
                    case 3 -> {
                        Digest d = new Digest(random.nextLong(), op);
                        assertThat(digests.put(offset, d)).isEqualTo(expected.put(offset, d));
                    }
                    default -> assertThat(digests.size()).isEqualTo(expected.size());
                }
            }
            assertThat(digests.get("not a slot")).isNull();
            assertThat(new HashMap<>(digests)).isEqualTo(expected);
            assertThat(digests).isEqualTo(expected);
            digests.clear();
            assertThat(digests).isEmpty();
        }
    }
}
