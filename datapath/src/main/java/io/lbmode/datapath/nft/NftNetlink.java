package io.lbmode.datapath.nft;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;
import java.util.OptionalLong;

/**
 * Two questions to the kernel's nftables over netlink (a fresh {@code NETLINK_NETFILTER} socket each, through
 * java.lang.foreign), each one message instead of an nft listing: libnftables fills its whole cache (every set
 * element: about a second and 100 MB at 10,000 services) for any {@code list} command but {@code list set}, also
 * for {@code list counter}.
 * <ul>
 *   <li>The ruleset generation ({@code NFT_MSG_GETGEN}): a number the kernel increments with every committed
 *       nftables transaction, of any table. Drift detection lists the table only when it moved.</li>
 *   <li>One named counter ({@code NFT_MSG_GETOBJ}): the source-range drops, read at every status write.</li>
 * </ul>
 *
 * <pre>
 * request: nlmsghdr {len, type NFNL_SUBSYS_NFTABLES &lt;&lt; 8 | NFT_MSG_GETGEN (0x0a10), flags NLM_F_REQUEST, seq, pid 0}
 *          nfgenmsg {family AF_UNSPEC, version 0, res_id 0}
 * answer:  nlmsghdr {type 0x0a0f NFT_MSG_NEWGEN} nfgenmsg, attributes: NFTA_GEN_ID (1) = u32 big-endian, ...
 *
 * request: nlmsghdr {type 0x0a13 NFT_MSG_GETOBJ, NLM_F_REQUEST} nfgenmsg {family NFPROTO_IPV4 (2)},
 *          NFTA_OBJ_TABLE (1) = "lbmode\0", NFTA_OBJ_NAME (2) = "NAME\0", NFTA_OBJ_TYPE (3) = u32 BE 1 (counter)
 * answer:  nlmsghdr {type 0x0a12 NFT_MSG_NEWOBJ} nfgenmsg, ..., NFTA_OBJ_DATA (4, nested):
 *          NFTA_COUNTER_BYTES (1) = u64 BE, NFTA_COUNTER_PACKETS (2) = u64 BE; NLMSG_ERROR when there is no such counter
 * </pre>
 */
final class NftNetlink {
    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_NETFILTER = 12;
    private static final short GETGEN = 0x0a10;
    private static final short NEWGEN = 0x0a0f;
    private static final short NLMSG_ERROR = 2;
    private static final short NLM_F_REQUEST = 1;
    private static final int NFTA_GEN_ID = 1;
    private static final short GETOBJ = 0x0a13;
    private static final short NEWOBJ = 0x0a12;
    private static final int NFTA_OBJ_TABLE = 1;
    private static final int NFTA_OBJ_NAME = 2;
    private static final int NFTA_OBJ_TYPE = 3;
    private static final int NFTA_OBJ_DATA = 4;
    private static final int NFT_OBJECT_COUNTER = 1;
    private static final int NFTA_COUNTER_BYTES = 1;
    private static final int NFTA_COUNTER_PACKETS = 2;
    private static final java.util.Map<String, Byte> FAMILIES = java.util.Map.of("ip", (byte) 2, "inet", (byte) 1, "ip6", (byte) 10);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final MethodHandle socket;
    private final MethodHandle send;
    private final MethodHandle recv;
    private final MethodHandle close;
    private int seq;

    private NftNetlink() {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        socket = linker.downcallHandle(libc.find("socket").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        send = linker.downcallHandle(libc.find("send").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
        recv = linker.downcallHandle(libc.find("recv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
        close = linker.downcallHandle(libc.find("close").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    }

    /** Empty when native access is not available. */
    static java.util.Optional<NftNetlink> create() {
        try {
            return java.util.Optional.of(new NftNetlink());
        } catch (RuntimeException | LinkageError e) {
            return java.util.Optional.empty();
        }
    }

    /** The current generation, or empty when the kernel did not answer as expected. */
    synchronized OptionalLong generation() {
        byte[] answer = ask(GETGEN, (byte) 0, new byte[0], NEWGEN);
        if (answer == null) {
            return OptionalLong.empty();
        }
        java.nio.ByteBuffer id = attribute(java.nio.ByteBuffer.wrap(answer), NFTA_GEN_ID);
        return id == null || id.remaining() < 4 ? OptionalLong.empty() : OptionalLong.of(Integer.toUnsignedLong(id.getInt()));
    }

    /** Packets and bytes of a named counter; empty when there is no such table or counter, or no answer. */
    synchronized java.util.Optional<long[]> counter(String family, String table, String name) {
        Byte nfproto = FAMILIES.get(family);
        if (nfproto == null) {
            return java.util.Optional.empty();
        }
        java.io.ByteArrayOutputStream attrs = new java.io.ByteArrayOutputStream();
        putAttribute(attrs, NFTA_OBJ_TABLE, (table + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        putAttribute(attrs, NFTA_OBJ_NAME, (name + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        putAttribute(attrs, NFTA_OBJ_TYPE, java.nio.ByteBuffer.allocate(4).putInt(NFT_OBJECT_COUNTER).array());
        byte[] answer = ask(GETOBJ, nfproto, attrs.toByteArray(), NEWOBJ);
        if (answer == null) {
            return java.util.Optional.empty();
        }
        java.nio.ByteBuffer data = attribute(java.nio.ByteBuffer.wrap(answer), NFTA_OBJ_DATA);
        if (data == null) {
            return java.util.Optional.empty();
        }
        java.nio.ByteBuffer packets = attribute(data.slice(), NFTA_COUNTER_PACKETS);
        java.nio.ByteBuffer bytes = attribute(data.slice(), NFTA_COUNTER_BYTES);
        if (packets == null || bytes == null || packets.remaining() < 8 || bytes.remaining() < 8) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of(new long[]{packets.getLong(), bytes.getLong()});
    }

    private static void putAttribute(java.io.ByteArrayOutputStream out, int type, byte[] value) {
        int len = 4 + value.length;
        java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(4).order(ByteOrder.nativeOrder());
        header.putShort((short) len).putShort((short) type);
        out.writeBytes(header.array());
        out.writeBytes(value);
        out.writeBytes(new byte[((len + 3) & ~3) - len]);
    }

    /**
     * The value of attribute {@code type} among the netlink attributes in {@code attrs} (headers in host order, the
     * values of nftables' numbers big-endian), positioned for reading; null when absent.
     */
    private static java.nio.ByteBuffer attribute(java.nio.ByteBuffer attrs, int type) {
        attrs.order(ByteOrder.nativeOrder());
        while (attrs.remaining() >= 4) {
            int start = attrs.position();
            int len = Short.toUnsignedInt(attrs.getShort());
            int t = attrs.getShort() & 0x3fff;
            if (len < 4 || start + len > attrs.limit()) {
                return null;
            }
            if (t == type) {
                return attrs.slice(start + 4, len - 4).order(ByteOrder.BIG_ENDIAN);
            }
            attrs.position(Math.min(attrs.limit(), start + ((len + 3) & ~3)));
        }
        return null;
    }

    /**
     * Sends one request ({@code family} in its nfgenmsg, then {@code attributes}) and returns the attributes of the
     * answer when it has type {@code expected}; null on any error (including NLMSG_ERROR: no such object).
     */
    private byte[] ask(short type, byte family, byte[] attributes, short expected) {
        int fd = -1;
        try (Arena arena = Arena.ofConfined()) {
            fd = (int) socket.invokeExact(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
            if (fd < 0) {
                return null;
            }
            int len = 20 + attributes.length;
            MemorySegment req = arena.allocate(len);
            req.set(INT, 0, len);
            req.set(SHORT, 4, type);
            req.set(SHORT, 6, NLM_F_REQUEST);
            req.set(INT, 8, ++seq);
            req.set(INT, 12, 0);
            req.set(ValueLayout.JAVA_BYTE, 16, family); // nfgenmsg: family, version 0, res_id 0
            MemorySegment.copy(attributes, 0, req, ValueLayout.JAVA_BYTE, 20, attributes.length);
            if ((long) send.invokeExact(fd, req, (long) len, 0) != len) {
                return null;
            }
            MemorySegment buf = arena.allocate(4096);
            long n = (long) recv.invokeExact(fd, buf, 4096L, 0);
            if (n < 20 || buf.get(SHORT, 4) == NLMSG_ERROR || buf.get(SHORT, 4) != expected) {
                return null;
            }
            int msgLen = Math.min((int) n, buf.get(INT, 0));
            return buf.asSlice(20, msgLen - 20).toArray(ValueLayout.JAVA_BYTE);
        } catch (Throwable e) {
            return null;
        } finally {
            if (fd >= 0) {
                try {
                    int ignored = (int) close.invokeExact(fd);
                } catch (Throwable e) {
                    // nothing to do
                }
            }
        }
    }
}
