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
 * The nftables ruleset generation of this network namespace, asked from the kernel over netlink (one
 * {@code NFT_MSG_GETGEN} on a fresh {@code NETLINK_NETFILTER} socket, through java.lang.foreign): a number the kernel
 * increments with every committed nftables transaction, of any table. Drift detection lists the table only when it
 * moved, instead of listing 60,000 elements every few seconds.
 *
 * <pre>
 * request: nlmsghdr {len 20, type NFNL_SUBSYS_NFTABLES &lt;&lt; 8 | NFT_MSG_GETGEN (0x0a10), flags NLM_F_REQUEST, seq, pid 0}
 *          nfgenmsg {family AF_UNSPEC, version 0, res_id 0}
 * answer:  nlmsghdr {type 0x0a0f NFT_MSG_NEWGEN} nfgenmsg, attributes: NFTA_GEN_ID (1) = u32 big-endian, ...
 * </pre>
 */
final class NetlinkGeneration {
    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_NETFILTER = 12;
    private static final short GETGEN = 0x0a10;
    private static final short NEWGEN = 0x0a0f;
    private static final short NLMSG_ERROR = 2;
    private static final short NLM_F_REQUEST = 1;
    private static final int NFTA_GEN_ID = 1;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final MethodHandle socket;
    private final MethodHandle send;
    private final MethodHandle recv;
    private final MethodHandle close;
    private int seq;

    private NetlinkGeneration() {
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
    static java.util.Optional<NetlinkGeneration> create() {
        try {
            return java.util.Optional.of(new NetlinkGeneration());
        } catch (RuntimeException | LinkageError e) {
            return java.util.Optional.empty();
        }
    }

    /** The current generation, or empty when the kernel did not answer as expected. */
    synchronized OptionalLong read() {
        int fd = -1;
        try (Arena arena = Arena.ofConfined()) {
            fd = (int) socket.invokeExact(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
            if (fd < 0) {
                return OptionalLong.empty();
            }
            MemorySegment req = arena.allocate(20);
            req.set(INT, 0, 20);
            req.set(SHORT, 4, GETGEN);
            req.set(SHORT, 6, NLM_F_REQUEST);
            req.set(INT, 8, ++seq);
            req.set(INT, 12, 0);
            // nfgenmsg: family 0 (AF_UNSPEC), version 0, res_id 0
            if ((long) send.invokeExact(fd, req, 20L, 0) != 20) {
                return OptionalLong.empty();
            }
            MemorySegment buf = arena.allocate(4096);
            long n = (long) recv.invokeExact(fd, buf, 4096L, 0);
            if (n < 20 || buf.get(SHORT, 4) == NLMSG_ERROR || buf.get(SHORT, 4) != NEWGEN) {
                return OptionalLong.empty();
            }
            int msgLen = Math.min((int) n, buf.get(INT, 0));
            int off = 20;
            while (off + 4 <= msgLen) {
                int len = Short.toUnsignedInt(buf.get(SHORT, off));
                int type = buf.get(SHORT, off + 2) & 0x3fff;
                if (len < 4) {
                    break;
                }
                if (type == NFTA_GEN_ID && len >= 8) {
                    return OptionalLong.of(Integer.toUnsignedLong(buf.get(INT.withOrder(ByteOrder.BIG_ENDIAN), off + 4)));
                }
                off += (len + 3) & ~3;
            }
            return OptionalLong.empty();
        } catch (Throwable e) {
            return OptionalLong.empty();
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
