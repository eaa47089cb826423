package io.lbmode.datapath.bpf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;

/**
 * The C structs of {@code src/main/bpf/dsr.h}, byte for byte. Addresses and ports are in network order as in the
 * packet; counters and offsets in host order (the programs and the agent run on the same machine).
 */
final class BpfLayout {
    private BpfLayout() {
    }

    static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfInt HOST32 = ValueLayout.JAVA_INT_UNALIGNED;
    static final ValueLayout.OfLong HOST64 = ValueLayout.JAVA_LONG_UNALIGNED;

    static final int PROTO_TCP = 6;
    static final int PROTO_UDP = 17;

    /** struct svc_key: vip(4) port(2, BE) proto(1) pad(1). */
    static final int SVC_KEY_SIZE = 8;
    /** struct svc_value: slot_offset, slot_count, backends, flags (4 x u32 host order). */
    static final int SVC_VALUE_SIZE = 16;
    /** svc_value.flags: only clients in lb_source_ranges may connect. */
    static final int SVC_F_SOURCE_RANGES = 0x01;
    /** svc_value.flags: the slot is chosen by the client address alone (sessionAffinity: ClientIP). */
    static final int SVC_F_AFFINITY = 0x02;
    /** svc_value.flags: a second (established) table follows the first; the range is 2 x slot_count. */
    static final int SVC_F_DRAINING = 0x04;
    /** struct src_range_key: prefixlen(4, host order) svc_key(8) client(4). */
    static final int SRC_RANGE_KEY_SIZE = 16;
    /** Bits of the service key in a src_range_key's prefix (SRC_RANGE_SVC_BITS). */
    static final int SRC_RANGE_SVC_BITS = 64;
    /** struct backend_value: addr(4) port(2, BE) flags(1) pad(1). */
    static final int BACKEND_VALUE_SIZE = 8;
    static final int BACKEND_F_LOCAL = 0x01;
    /** struct rev_key: pod_addr(4) client_addr(4) pod_port(2) client_port(2) proto(1) pad(3). */
    static final int REV_KEY_SIZE = 16;
    /** struct rev_value: vip(4) vip_port(2) flags(1) pad(1). */
    static final int REV_VALUE_SIZE = 8;
    /** struct maglev_digest: a 128-bit digest as two u64 (lb_maglev_inputs, keyed by a table range's first slot, u32). */
    static final int MAGLEV_DIGEST_SIZE = 16;
    /** struct lb_config: hash_seed(4) flags(4). */
    static final int CONFIG_SIZE = 8;

    static void putAddr(MemorySegment s, long off, Inet4Address a) {
        MemorySegment.copy(a.getAddress(), 0, s, ValueLayout.JAVA_BYTE, off, 4);
    }

    static Inet4Address getAddr(MemorySegment s, long off) {
        try {
            return (Inet4Address) InetAddress.getByAddress(s.asSlice(off, 4).toArray(ValueLayout.JAVA_BYTE));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    static void svcKey(MemorySegment s, Inet4Address vip, int port, int proto) {
        putAddr(s, 0, vip);
        s.set(BE16, 4, (short) port);
        s.set(ValueLayout.JAVA_BYTE, 6, (byte) proto);
        s.set(ValueLayout.JAVA_BYTE, 7, (byte) 0);
    }

    static void svcValue(MemorySegment s, int slotOffset, int slotCount, int backends, int flags) {
        s.set(HOST32, 0, slotOffset);
        s.set(HOST32, 4, slotCount);
        s.set(HOST32, 8, backends);
        s.set(HOST32, 12, flags);
    }

    static void svcValue(MemorySegment s, int slotOffset, int slotCount, int backends) {
        svcValue(s, slotOffset, slotCount, backends, 0);
    }

    /** An lb_source_ranges key: the service key, then the client prefix. */
    static void srcRangeKey(MemorySegment s, Inet4Address vip, int port, int proto, Inet4Address network, int length) {
        s.set(HOST32, 0, SRC_RANGE_SVC_BITS + length);
        svcKey(s.asSlice(4, SVC_KEY_SIZE), vip, port, proto);
        putAddr(s, 4 + SVC_KEY_SIZE, network);
    }

    static void backendValue(MemorySegment s, Inet4Address addr, int port, boolean local) {
        putAddr(s, 0, addr);
        s.set(BE16, 4, (short) port);
        s.set(ValueLayout.JAVA_BYTE, 6, (byte) (local ? BACKEND_F_LOCAL : 0));
        s.set(ValueLayout.JAVA_BYTE, 7, (byte) 0);
    }

    private static final boolean LITTLE_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    /*
     * Readers of keys and values as byte arrays (BpfMap.forEach): plain shifts. A memory segment access is a chain of
     * var handle calls, which a fresh JVM interprets: reading the entries of 10,000 services that way took ~70 ms of a
     * restarted agent's adoption, shifts a few.
     */

    /** Host-order u32 at {@code off}. */
    static int host32(byte[] b, int off) {
        int le = (b[off] & 0xff) | (b[off + 1] & 0xff) << 8 | (b[off + 2] & 0xff) << 16 | (b[off + 3] & 0xff) << 24;
        return LITTLE_ENDIAN ? le : Integer.reverseBytes(le);
    }

    /** Host-order u64 at {@code off}. */
    static long host64(byte[] b, int off) {
        long first = host32(b, off) & 0xffff_ffffL;
        long second = host32(b, off + 4) & 0xffff_ffffL;
        return LITTLE_ENDIAN ? second << 32 | first : first << 32 | second;
    }

    /** Network-order u16 at {@code off}. */
    static int u16(byte[] b, int off) {
        return (b[off] & 0xff) << 8 | (b[off + 1] & 0xff);
    }

    static Inet4Address getAddr(byte[] b, int off) {
        try {
            return (Inet4Address) InetAddress.getByAddress(java.util.Arrays.copyOfRange(b, off, off + 4));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    static int u16(MemorySegment s, long off) {
        return Short.toUnsignedInt(s.get(BE16, off));
    }
}
