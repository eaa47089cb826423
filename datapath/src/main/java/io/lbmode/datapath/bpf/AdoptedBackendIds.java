package io.lbmode.datapath.bpf;

import io.lbmode.datapath.bpf.DsrProgrammer.BackendVal;
import io.lbmode.datapath.model.Addresses;
import java.net.Inet4Address;
import java.util.AbstractMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Backend -> id, as lb_backends and lb_backends6 hold them: a map like any other, except that the IPv4 backends a
 * restarted agent adopts wait in a table of numbers (address, port, local flag -> id) until they are asked for. The
 * first {@code get}, {@code containsKey}, {@code put} or {@code remove} of such a backend moves it into the ordinary
 * map under the caller's key (the desired state's own backend, whose address object exists already); iterating
 * moves the rest. At 10,000 services of 2 backends the adoption then creates no object per backend (20,000 keys,
 * addresses and boxed ids of a restart's live set, copied by every young collection of a 4 MB young generation), and
 * a backend no service wants any more is created only when the pass that removes it iterates.
 */
final class AdoptedBackendIds extends AbstractMap<BackendVal, Integer> {
    private final Map<BackendVal, Integer> live = new HashMap<>();
    private AdoptedTable table = AdoptedTable.NONE;
    /** Each adopted backend's id, at its slot in {@link #table}. */
    private int[] ids = new int[0];

    /** Makes room for {@code n} adopted IPv4 backends; only before the first {@link #adopt4}. */
    void expect(int n) {
        if (table.count() != 0) {
            throw new IllegalStateException("expect before adopting");
        }
        table = AdoptedTable.forEntries(n);
        ids = new int[table.capacity()];
    }

    /** An IPv4 backend read from lb_backends: address (network-order bytes as a big-endian int), port, local flag. */
    void adopt4(int addr, int port, boolean local, int id) {
        ids[table.insert(key(addr, port, local))] = id; // the same backend twice: the later id, as put would
    }

    private static long key(int addr, int port, boolean local) {
        return (addr & 0xffff_ffffL) << 32 | (port & 0xffffL) << 1 | (local ? 1 : 0);
    }

    /** Takes {@code o}'s adopted id out of the table (null when it has none there). */
    private Integer take(Object o) {
        if (table.count() == 0 || !(o instanceof BackendVal b) || !(b.addr() instanceof Inet4Address a)) {
            return null;
        }
        int slot = table.find(key((int) Addresses.toLong(a), b.port(), b.local()));
        if (slot < 0) {
            return null;
        }
        table.take(slot);
        return ids[slot];
    }

    @Override
    public Integer get(Object o) {
        Integer id = live.get(o);
        if (id == null) {
            id = take(o);
            if (id != null) {
                live.put((BackendVal) o, id);
            }
        }
        return id;
    }

    @Override
    public boolean containsKey(Object o) {
        return get(o) != null;
    }

    @Override
    public Integer put(BackendVal b, Integer id) {
        Integer adopted = take(b);
        Integer before = live.put(b, id);
        return before != null ? before : adopted;
    }

    @Override
    public Integer remove(Object o) {
        Integer id = live.remove(o);
        return id != null ? id : take(o);
    }

    @Override
    public int size() {
        return live.size() + table.count();
    }

    @Override
    public void clear() {
        live.clear();
        forgetTable();
    }

    /** Every entry, the adopted ones that were never asked for created now. */
    @Override
    public Set<Entry<BackendVal, Integer>> entrySet() {
        if (table.count() > 0) {
            for (int i = 0; i < table.capacity(); i++) {
                if (table.holds(i)) {
                    long k = table.key(i);
                    BackendVal b = new BackendVal(BpfLayout.ipv4((int) (k >>> 32)), (int) (k >>> 1) & 0xffff, (k & 1) != 0);
                    live.putIfAbsent(b, ids[i]);
                }
            }
            forgetTable();
        }
        return live.entrySet();
    }

    private void forgetTable() {
        table = AdoptedTable.NONE;
        ids = new int[0];
    }
}
