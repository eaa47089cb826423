package io.lbmode.datapath.bpf;

import io.lbmode.datapath.model.Addresses;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
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
    /** struct svc6_key: vip(16) port(2, BE) proto(1) pad(1). */
    static final int SVC6_KEY_SIZE = 20;
    /** struct src_range6_key: prefixlen(4, host order) svc6_key(20) client(16). */
    static final int SRC_RANGE6_KEY_SIZE = 40;
    /** Bits of the service key in a src_range6_key's prefix (SRC_RANGE6_SVC_BITS). */
    static final int SRC_RANGE6_SVC_BITS = 160;
    /** struct backend6_value: addr(16) port(2, BE) flags(1) pad(1). */
    static final int BACKEND6_VALUE_SIZE = 20;
    /** struct rev6_key: pod_addr(16) client_addr(16) pod_port(2) client_port(2) proto(1) pad(3). */
    static final int REV6_KEY_SIZE = 40;
    /** struct lb_config: hash_seed(4) flags(4). */
    static final int CONFIG_SIZE = 8;
    /**
     * struct origin (lb_origin): version(4) maps(4) object_size(8) object_crc32c(4) object_crc32(4) ingress_id(4)
     * egress_id(4), then ORIGIN_MAPS x struct origin_map: name(16, NUL-padded) id(4).
     */
    static final int ORIGIN_VERSION = 1;
    static final int ORIGIN_MAPS = 24;
    static final int ORIGIN_MAPS_OFF = 4;
    static final int ORIGIN_OBJECT_OFF = 8;
    static final int ORIGIN_PROGS_OFF = 24;
    static final int ORIGIN_MAP_OFF = 32;
    static final int ORIGIN_MAP_SIZE = 20;
    static final int ORIGIN_SIZE = ORIGIN_MAP_OFF + ORIGIN_MAPS * ORIGIN_MAP_SIZE;

    /** Writes the address's 4 (IPv4) or 16 (IPv6) bytes, network order. */
    static void putAddr(MemorySegment s, long off, InetAddress a) {
        byte[] b = a.getAddress();
        MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, off, b.length);
    }

    static Inet4Address getAddr(MemorySegment s, long off) {
        return (Inet4Address) getAddr(s, off, 4);
    }

    static Inet6Address getAddr6(MemorySegment s, long off) {
        return (Inet6Address) getAddr(s, off, 16);
    }

    /** Keeps the family of the field: 16 bytes of {@code ::ffff:a.b.c.d} (a foreign entry) stay an Inet6Address. */
    private static InetAddress getAddr(MemorySegment s, long off, int length) {
        return Addresses.ofBytes(s.asSlice(off, length).toArray(ValueLayout.JAVA_BYTE));
    }

    /** Address bytes of the family: 4 or 16. */
    static int addrLen(InetAddress a) {
        return a instanceof Inet6Address ? 16 : 4;
    }

    /** struct svc_key (IPv4 VIP) or struct svc6_key (IPv6 VIP): the address, port, protocol, pad. */
    static void svcKey(MemorySegment s, InetAddress vip, int port, int proto) {
        int n = addrLen(vip);
        putAddr(s, 0, vip);
        s.set(BE16, n, (short) port);
        s.set(ValueLayout.JAVA_BYTE, n + 2, (byte) proto);
        s.set(ValueLayout.JAVA_BYTE, n + 3, (byte) 0);
    }

    static int svcKeySize(InetAddress vip) {
        return vip instanceof Inet6Address ? SVC6_KEY_SIZE : SVC_KEY_SIZE;
    }

    static int backendValueSize(InetAddress addr) {
        return addr instanceof Inet6Address ? BACKEND6_VALUE_SIZE : BACKEND_VALUE_SIZE;
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
    static void srcRangeKey(MemorySegment s, InetAddress vip, int port, int proto, InetAddress network, int length) {
        int keySize = svcKeySize(vip);
        s.set(HOST32, 0, (vip instanceof Inet6Address ? SRC_RANGE6_SVC_BITS : SRC_RANGE_SVC_BITS) + length);
        svcKey(s.asSlice(4, keySize), vip, port, proto);
        putAddr(s, 4 + keySize, network);
    }

    /** lb_source_ranges (IPv4 VIP) or lb_src_ranges6 (IPv6 VIP) key size. */
    static int srcRangeKeySize(InetAddress vip) {
        return vip instanceof Inet6Address ? SRC_RANGE6_KEY_SIZE : SRC_RANGE_KEY_SIZE;
    }

    /** struct backend_value or struct backend6_value, by the address's family. */
    static void backendValue(MemorySegment s, InetAddress addr, int port, boolean local) {
        int n = addrLen(addr);
        putAddr(s, 0, addr);
        s.set(BE16, n, (short) port);
        s.set(ValueLayout.JAVA_BYTE, n + 2, (byte) (local ? BACKEND_F_LOCAL : 0));
        s.set(ValueLayout.JAVA_BYTE, n + 3, (byte) 0);
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

    /** The NUL-terminated (or {@code max} bytes long) ASCII string at {@code off}. */
    static String cString(byte[] b, int off, int max) {
        int n = 0;
        while (n < max && b[off + n] != 0) {
            n++;
        }
        return new String(b, off, n, java.nio.charset.StandardCharsets.US_ASCII);
    }

    /** Network-order u16 at {@code off}. */
    static int u16(byte[] b, int off) {
        return (b[off] & 0xff) << 8 | (b[off + 1] & 0xff);
    }

    /** The IPv4 address whose network-order bytes are {@code addr}'s, most significant first. */
    static Inet4Address ipv4(int addr) {
        return (Inet4Address) Addresses.ofBytes(new byte[]{(byte) (addr >>> 24), (byte) (addr >>> 16), (byte) (addr >>> 8), (byte) addr});
    }

    /** Network-order u32 at {@code off} (an IPv4 address's bytes, most significant first). */
    static int be32(byte[] b, int off) {
        return (b[off] & 0xff) << 24 | (b[off + 1] & 0xff) << 16 | (b[off + 2] & 0xff) << 8 | (b[off + 3] & 0xff);
    }

    static Inet4Address getAddr(byte[] b, int off) {
        return (Inet4Address) getAddr(b, off, 4);
    }

    static Inet6Address getAddr6(byte[] b, int off) {
        return (Inet6Address) getAddr(b, off, 16);
    }

    /** As {@link #getAddr(MemorySegment, long, int)}: an IPv6 field always reads as an Inet6Address. */
    private static InetAddress getAddr(byte[] b, int off, int length) {
        return Addresses.ofBytes(java.util.Arrays.copyOfRange(b, off, off + length));
    }

    /*
     * Writers into byte arrays, for the same reason: a batch of 10,000 keys and values is built in plain arrays and
     * copied to native memory once (BpfMap.updateBatch(byte[], byte[], int)).
     */

    /** Host-order u32 at {@code off}. */
    static void putHost32(byte[] b, int off, int v) {
        int le = LITTLE_ENDIAN ? v : Integer.reverseBytes(v);
        b[off] = (byte) le;
        b[off + 1] = (byte) (le >>> 8);
        b[off + 2] = (byte) (le >>> 16);
        b[off + 3] = (byte) (le >>> 24);
    }

    /** Host-order u64 at {@code off}. */
    static void putHost64(byte[] b, int off, long v) {
        putHost32(b, off, (int) (LITTLE_ENDIAN ? v : v >>> 32));
        putHost32(b, off + 4, (int) (LITTLE_ENDIAN ? v >>> 32 : v));
    }

    /** {@link #svcKey(MemorySegment, InetAddress, int, int)} at {@code off} of an array. */
    static void svcKey(byte[] b, int off, InetAddress vip, int port, int proto) {
        byte[] a = vip.getAddress();
        System.arraycopy(a, 0, b, off, a.length);
        b[off + a.length] = (byte) (port >>> 8);
        b[off + a.length + 1] = (byte) port;
        b[off + a.length + 2] = (byte) proto;
        b[off + a.length + 3] = 0;
    }

    /** {@link #svcValue(MemorySegment, int, int, int, int)} at {@code off} of an array. */
    static void svcValue(byte[] b, int off, int slotOffset, int slotCount, int backends, int flags) {
        putHost32(b, off, slotOffset);
        putHost32(b, off + 4, slotCount);
        putHost32(b, off + 8, backends);
        putHost32(b, off + 12, flags);
    }

    /** {@link #backendValue(MemorySegment, InetAddress, int, boolean)} at {@code off} of an array. */
    static void backendValue(byte[] b, int off, InetAddress addr, int port, boolean local) {
        byte[] a = addr.getAddress();
        System.arraycopy(a, 0, b, off, a.length);
        b[off + a.length] = (byte) (port >>> 8);
        b[off + a.length + 1] = (byte) port;
        b[off + a.length + 2] = (byte) (local ? BACKEND_F_LOCAL : 0);
        b[off + a.length + 3] = 0;
    }

    /** {@link #backendValue(byte[], int, InetAddress, int, boolean)} of an IPv4 address given as an int (network order). */
    static void backendValue4(byte[] b, int off, int addr, int port, boolean local) {
        b[off] = (byte) (addr >>> 24);
        b[off + 1] = (byte) (addr >>> 16);
        b[off + 2] = (byte) (addr >>> 8);
        b[off + 3] = (byte) addr;
        b[off + 4] = (byte) (port >>> 8);
        b[off + 5] = (byte) port;
        b[off + 6] = (byte) (local ? BACKEND_F_LOCAL : 0);
        b[off + 7] = 0;
    }

    static int u16(MemorySegment s, long off) {
        return Short.toUnsignedInt(s.get(BE16, off));
    }
}
