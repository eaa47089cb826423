package io.lbmode.datapath.bpf;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * {@code ethtool -K IF tx off rx off} without the ethtool binary (not installed here): the legacy SIOCETHTOOL
 * ETHTOOL_STXCSUM / ETHTOOL_SRXCSUM ioctls, in the calling thread's network namespace. With tx checksum offload off
 * the stack computes full checksums instead of leaving CHECKSUM_PARTIAL seeds, so rewritten packets must be right.
 */
final class Ethtool {
    private Ethtool() {
    }

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SOCKET = LINKER.downcallHandle(LINKER.defaultLookup().find("socket").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle IOCTL = LINKER.downcallHandle(LINKER.defaultLookup().find("ioctl").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private static final long SIOCETHTOOL = 0x8946;
    private static final int ETHTOOL_GTXCSUM = 0x16, ETHTOOL_STXCSUM = 0x17, ETHTOOL_SRXCSUM = 0x15;

    /** Turns tx and rx checksum offload off on {@code ifname}. */
    static void checksumOffloadOff(String ifname) {
        set(ifname, ETHTOOL_STXCSUM, 0);
        set(ifname, ETHTOOL_SRXCSUM, 0);
        if (get(ifname, ETHTOOL_GTXCSUM) != 0) {
            throw new IllegalStateException(ifname + ": tx checksum offload still on");
        }
    }

    private static int get(String ifname, int cmd) {
        return ioctl(ifname, cmd, 0);
    }

    private static void set(String ifname, int cmd, int value) {
        ioctl(ifname, cmd, value);
    }

    private static int ioctl(String ifname, int cmd, int value) {
        try (Arena a = Arena.ofConfined()) {
            int fd = (int) SOCKET.invokeExact(2, 2, 0); // AF_INET, SOCK_DGRAM
            if (fd < 0) {
                throw new IllegalStateException("socket() failed");
            }
            try {
                MemorySegment ev = a.allocate(8, 8); // struct ethtool_value { u32 cmd; u32 data; }
                ev.set(ValueLayout.JAVA_INT, 0, cmd);
                ev.set(ValueLayout.JAVA_INT, 4, value);
                MemorySegment ifr = a.allocate(40, 8); // struct ifreq { char name[16]; void *data; ... }
                ifr.setString(0, ifname);
                ifr.set(ValueLayout.ADDRESS, 16, ev);
                int rc = (int) IOCTL.invokeExact(fd, SIOCETHTOOL, ifr);
                if (rc != 0) {
                    throw new IllegalStateException("SIOCETHTOOL " + cmd + " on " + ifname + " failed");
                }
                return ev.get(ValueLayout.JAVA_INT, 4);
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd);
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
