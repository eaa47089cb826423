package io.lbmode.datapath.maglev;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class MaglevTest {
    private static final long SEED = 0x5eed_1234_abcdL;

    private static List<String> backends(int n) {
        return IntStream.range(0, n).mapToObj(i -> "10.244." + (i / 250) + "." + (i % 250 + 1) + ":8080").toList();
    }

    private static int[] counts(int[] table, int n) {
        int[] c = new int[n];
        for (int b : table) {
            c[b]++;
        }
        return c;
    }

    @Test
    void everySlotIsFilledAndTheSpreadIsEven() {
        for (int n : new int[]{1, 2, 3, 7, 10, 50, 163}) {
            int[] table = Maglev.table(backends(n), Maglev.DEFAULT_TABLE_SIZE, SEED);
            assertThat(table).doesNotContain(Maglev.NONE);
            int[] c = counts(table, n);
            int min = Arrays.stream(c).min().orElseThrow();
            int max = Arrays.stream(c).max().orElseThrow();
            // Round-robin filling gives every backend floor(M/N) or ceil(M/N) slots.
            assertThat(max - min).as("spread for %d backends", n).isLessThanOrEqualTo(1);
        }
    }

    @Test
    void sameInputsGiveTheSameTableAndTheSeedMatters() {
        List<String> b = backends(5);
        assertThat(Maglev.table(b, 1021, SEED)).isEqualTo(Maglev.table(new ArrayList<>(b), 1021, SEED));
        int[] other = Maglev.table(b, 1021, SEED + 1);
        int[] same = Maglev.table(b, 1021, SEED);
        long differing = IntStream.range(0, 1021).filter(i -> other[i] != same[i]).count();
        assertThat(differing).isGreaterThan(1021 / 2);
    }

    /** Fraction of slots whose backend changes between two tables, counted by backend name. */
    private static double changed(List<String> before, int[] t1, List<String> after, int[] t2) {
        int moved = 0;
        for (int i = 0; i < t1.length; i++) {
            if (!before.get(t1[i]).equals(after.get(t2[i]))) {
                moved++;
            }
        }
        return (double) moved / t1.length;
    }

    @Test
    void removingOneBackendMovesLittleMoreThanItsOwnShare() {
        int m = Maglev.DEFAULT_TABLE_SIZE;
        List<String> before = backends(10);
        List<String> after = new ArrayList<>(before);
        String removed = after.remove(3);
        int[] t1 = Maglev.table(before, m, SEED);
        int[] t2 = Maglev.table(after, m, SEED);
        double moved = changed(before, t1, after, t2);
        int ownedByRemoved = counts(t1, 10)[3];
        int otherSlotsMoved = 0;
        for (int i = 0; i < m; i++) {
            if (!before.get(t1[i]).equals(removed) && !before.get(t1[i]).equals(after.get(t2[i]))) {
                otherSlotsMoved++;
            }
        }
        System.out.printf("maglev M=%d N=10 remove 1: %.2f%% of slots changed (ideal %.2f%%), %.2f%% of the survivors' slots moved%n",
                m, moved * 100, ownedByRemoved * 100.0 / m, otherSlotsMoved * 100.0 / (m - ownedByRemoved));
        // Ideal is exactly the removed backend's share (10%); Maglev moves a little more.
        assertThat(moved).isGreaterThanOrEqualTo(ownedByRemoved / (double) m).isLessThan(0.15);
        assertThat(otherSlotsMoved / (double) (m - ownedByRemoved)).isLessThan(0.05);
    }

    @Test
    void addingOneBackendTakesAboutItsShareFromTheOthers() {
        int m = Maglev.DEFAULT_TABLE_SIZE;
        List<String> before = backends(10);
        List<String> after = backends(11);
        int[] t1 = Maglev.table(before, m, SEED);
        int[] t2 = Maglev.table(after, m, SEED);
        double moved = changed(before, t1, after, t2);
        System.out.printf("maglev M=%d N=10 add 1: %.2f%% of slots changed (ideal %.2f%%)%n", m, moved * 100, 100.0 / 11);
        assertThat(moved).isGreaterThanOrEqualTo(1.0 / 11 - 0.01).isLessThan(0.15);
    }

    @Test
    void emptyAndInvalidInputs() {
        assertThat(Maglev.table(List.of(), 251, SEED)).containsOnly(Maglev.NONE);
        assertThatThrownBy(() -> Maglev.table(backends(2), 1000, SEED)).hasMessageContaining("one of");
        assertThatThrownBy(() -> Maglev.table(List.of("a", "a"), 251, SEED)).hasMessageContaining("distinct");
    }

    /**
     * Every LB node must compute the same table, whatever lbmode version it runs (a rolling update mixes them): the
     * checksums were taken from the first release's implementation, which computed each probe with the formula
     * {@code (offset + j * skip) % M}.
     */
    @Test
    void tablesAreTheSameAsTheFirstReleasesSlotForSlot() {
        int[][] golden = {{1, 251, -136027297}, {1, 16381, 680716191}, {3, 251, 84734411}, {3, 16381, -1057118175},
                {7, 251, -1560218755}, {7, 16381, 86922875}, {100, 251, -283031364}, {100, 16381, 1172033837}};
        for (int[] g : golden) {
            assertThat(Arrays.hashCode(Maglev.table(backends(g[0]), g[1], SEED))).as("%d backends, M %d", g[0], g[1])
                    .isEqualTo(g[2]);
        }
    }

    /**
     * The DSR programmer's way to a table: both name hashes in one pass over a name in a reused buffer, and the fill
     * writing its own values (backend ids) straight into a table range at an offset of a larger array (the staged ranges
     * of a full programming), next to other tables it must not touch.
     */
    @Test
    void theFillAtAnOffsetWithValuesGivesTheSameTable() {
        for (int n : new int[]{1, 2, 3, 7, 100}) {
            for (int size : new int[]{251, 509, 16381}) {
                List<String> names = backends(n);
                int[] expected = Maglev.table(names, size, SEED);
                long[] hashes = new long[2 * n];
                byte[] buffer = new byte[64];
                int[] values = new int[n];
                for (int i = 0; i < n; i++) {
                    byte[] name = names.get(i).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    System.arraycopy(name, 0, buffer, 0, name.length);
                    buffer[name.length] = 'x'; // past the length: not hashed
                    Maglev.nameHashes(buffer, name.length, SEED, hashes, 2 * i);
                    assertThat(hashes[2 * i]).isEqualTo(Maglev.offsetHash(name, SEED));
                    assertThat(hashes[2 * i + 1]).isEqualTo(Maglev.skipHash(name, SEED));
                    values[i] = 1000 + i;
                }
                int offset = 3 * size + 17;
                int[] ranges = new int[offset + 2 * size];
                Arrays.fill(ranges, 0, offset, -7); // another table before it
                Maglev.fill(hashes, values, n, size, ranges, offset, new int[2 * n]);
                for (int k = 0; k < size; k++) {
                    assertThat(ranges[offset + k]).as("%d backends, M %d, slot %d", n, size, k).isEqualTo(1000 + expected[k]);
                }
                assertThat(Arrays.copyOfRange(ranges, 0, offset)).containsOnly(-7);
                assertThat(Arrays.copyOfRange(ranges, offset + size, ranges.length)).containsOnly(0);
            }
        }
    }

    @Test
    void minimalSizeKeepsMAbove10TimesBackends() {
        assertThat(Maglev.minimalSize(1, 16381)).isEqualTo(251);
        assertThat(Maglev.minimalSize(4, 16381)).isEqualTo(251);
        assertThat(Maglev.minimalSize(26, 16381)).isEqualTo(509);
        assertThat(Maglev.minimalSize(1000, 16381)).isEqualTo(16381);
        assertThat(Maglev.minimalSize(4, 251)).isEqualTo(251);
    }

    @Test
    void compactSizeKeepsMAbove100TimesBackends() {
        assertThat(Maglev.compactSize(1, 16381)).isEqualTo(251);
        assertThat(Maglev.compactSize(3, 16381)).isEqualTo(509);
        assertThat(Maglev.compactSize(100, 16381)).isEqualTo(16381);
        assertThat(Maglev.compactSize(1000, 16381)).isEqualTo(16381);
        assertThat(Maglev.compactSize(1, 251)).isEqualTo(251);
    }
}
