package io.lbmode.datapath.bpf;

import io.lbmode.datapath.bpf.DsrProgrammer.BackendVal;
import io.lbmode.datapath.model.Addresses;
import java.net.Inet4Address;

/**
 * Backend -> id, as lb_backends and lb_backends6 hold them, with the IPv4 backends a restarted agent adopts held as
 * numbers ({@link AdoptedMap}: address, port and local flag in one long -> id) until a pass asks for them; a backend no
 * service wants any more is created only when the pass that removes it iterates.
 */
final class AdoptedBackendIds extends AdoptedMap<BackendVal, Integer> {
    /** Each adopted backend's id, at its slot. */
    private int[] ids = new int[0];

    /** An IPv4 backend read from lb_backends: address (network-order bytes as a big-endian int), port, local flag. */
    void adopt4(int addr, int port, boolean local, int id) {
        ids[adoptSlot(key(addr, port, local))] = id;
    }

    private static long key(int addr, int port, boolean local) {
        return (addr & 0xffff_ffffL) << 32 | (port & 0xffffL) << 1 | (local ? 1 : 0);
    }

    @Override
    void sizeValues(int capacity) {
        ids = new int[capacity];
    }

    @Override
    int slotOf(Object o) {
        return o instanceof BackendVal b && b.addr() instanceof Inet4Address a
                ? find(key((int) Addresses.toLong(a), b.port(), b.local())) : -1;
    }

    @Override
    BackendVal keyOf(long key) {
        return new BackendVal(BpfLayout.ipv4((int) (key >>> 32)), (int) (key >>> 1) & 0xffff, (key & 1) != 0);
    }

    @Override
    Integer valueAt(int slot) {
        return ids[slot];
    }
}
