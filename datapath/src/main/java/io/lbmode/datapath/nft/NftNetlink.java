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
 * Questions to the kernel's nftables over netlink (a fresh {@code NETLINK_NETFILTER} socket each, through
 * java.lang.foreign), each one message instead of an nft listing: libnftables fills its whole cache (every set
 * element: about a second and 100 MB at 10,000 services) for any {@code list} command but {@code list set}, also
 * for {@code list counter}. And one write: the element batch of a full load ({@link BulkElements}), which skips
 * libnftables' parser.
 * <ul>
 *   <li>Whether a table exists ({@code NFT_MSG_GETTABLE}, 0x0a01, {@code NFTA_TABLE_NAME}): answered by
 *       {@code NFT_MSG_NEWTABLE} or by ENOENT.</li>
 *   <li>A table's layout without its elements ({@link #tableLayout}): comment, chains, rules per chain, sets.</li>
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
    private static final short GETTABLE = 0x0a01;
    private static final short GETCHAIN = 0x0a04;
    private static final short GETRULE = 0x0a07;
    private static final short GETSET = 0x0a0a;
    private static final short NLM_F_DUMP = 0x300;
    private static final short NLMSG_DONE = 3;
    private static final int NFTA_TABLE_USERDATA = 6;
    private static final short NEWTABLE = 0x0a00;
    private static final int NFTA_TABLE_NAME = 1;
    private static final int ENOENT = 2;
    private static final int SOL_SOCKET = 1;
    private static final int SO_SNDBUFFORCE = 32;
    private static final int SO_RCVTIMEO = 20;
    private static final int NFTA_COUNTER_BYTES = 1;
    private static final int NFTA_COUNTER_PACKETS = 2;
    private static final java.util.Map<String, Byte> FAMILIES = java.util.Map.of("ip", (byte) 2, "inet", (byte) 1, "ip6", (byte) 10);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final MethodHandle socket;
    private final MethodHandle send;
    private final MethodHandle recv;
    private final MethodHandle close;
    private final MethodHandle setsockopt;
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
        setsockopt = linker.downcallHandle(libc.find("setsockopt").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
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

    /** Whether table {@code family table} exists; empty when the kernel did not answer as expected. */
    synchronized java.util.Optional<Boolean> tableExists(String family, String table) {
        Byte nfproto = FAMILIES.get(family);
        if (nfproto == null) {
            return java.util.Optional.empty();
        }
        java.io.ByteArrayOutputStream attrs = new java.io.ByteArrayOutputStream();
        putAttribute(attrs, NFTA_TABLE_NAME, (table + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        int[] error = new int[1];
        byte[] answer = ask(GETTABLE, nfproto, attrs.toByteArray(), NEWTABLE, error);
        if (answer != null) {
            return java.util.Optional.of(true);
        }
        return error[0] == -ENOENT ? java.util.Optional.of(false) : java.util.Optional.empty();
    }

    /**
     * {@code family table}'s layout, read with four requests (the table, and dumps of its chains, rules and sets: a
     * few hundred messages whatever the number of elements); empty when there is no such table or the kernel did not answer as expected. */
    synchronized java.util.Optional<TableLayout> tableLayout(String family, String table) {
        Byte nfproto = FAMILIES.get(family);
        if (nfproto == null) {
            return java.util.Optional.empty();
        }
        byte[] name = (table + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.io.ByteArrayOutputStream attrs = new java.io.ByteArrayOutputStream();
        putAttribute(attrs, NFTA_TABLE_NAME, name);
        byte[] answer = ask(GETTABLE, nfproto, attrs.toByteArray(), NEWTABLE);
        if (answer == null) {
            return java.util.Optional.empty();
        }
        String comment = "";
        java.nio.ByteBuffer udata = attribute(java.nio.ByteBuffer.wrap(answer), NFTA_TABLE_USERDATA);
        while (udata != null && udata.remaining() >= 2) { // libnftnl's TLVs: u8 type, u8 length, value
            int type = udata.get() & 0xff;
            int len = udata.get() & 0xff;
            if (len > udata.remaining()) {
                break;
            }
            byte[] value = new byte[len];
            udata.get(value);
            if (type == 0) { // NFTNL_UDATA_TABLE_COMMENT, NUL-terminated
                comment = new String(value, java.nio.charset.StandardCharsets.UTF_8).replace("\0", "");
            }
        }
        java.util.Map<String, Integer> rules = new java.util.TreeMap<>();
        java.util.List<byte[]> chains = dump(GETCHAIN, nfproto, new byte[0]);
        java.util.List<byte[]> ruleMessages = dump(GETRULE, nfproto, attrs.toByteArray()); // NFTA_RULE_TABLE (1), as NFTA_TABLE_NAME
        java.util.List<byte[]> setMessages = dump(GETSET, nfproto, attrs.toByteArray()); // NFTA_SET_TABLE (1)
        if (chains == null || ruleMessages == null || setMessages == null) {
            return java.util.Optional.empty();
        }
        for (byte[] m : chains) {
            if (table.equals(string(m, 1))) { // NFTA_CHAIN_TABLE; NFTA_CHAIN_NAME (3)
                rules.put(string(m, 3), 0);
            }
        }
        for (byte[] m : ruleMessages) {
            if (table.equals(string(m, 1))) { // NFTA_RULE_TABLE; NFTA_RULE_CHAIN (2)
                rules.merge(string(m, 2), 1, Integer::sum);
            }
        }
        java.util.Set<String> sets = new java.util.TreeSet<>();
        for (byte[] m : setMessages) {
            java.nio.ByteBuffer flags = attribute(java.nio.ByteBuffer.wrap(m), 3); // NFTA_SET_FLAGS
            boolean anonymous = flags != null && flags.remaining() >= 4 && (flags.getInt() & 1) != 0;
            if (table.equals(string(m, 1)) && !anonymous) { // NFTA_SET_TABLE; NFTA_SET_NAME (2)
                sets.add(string(m, 2));
            }
        }
        return java.util.Optional.of(new TableLayout(comment, rules, sets));
    }

    private static String string(byte[] attributes, int type) {
        java.nio.ByteBuffer v = attribute(java.nio.ByteBuffer.wrap(attributes), type);
        if (v == null) {
            return null;
        }
        byte[] b = new byte[v.remaining()];
        v.get(b);
        int len = 0;
        while (len < b.length && b[len] != 0) {
            len++;
        }
        return new String(b, 0, len, java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * Sends one nf_tables request: the netlink header ({@code type}, {@code flags}, the next sequence number), the
     * nfgenmsg (family, version 0, res_id 0) and {@code attributes}. False when the kernel took less than all of it.
     */
    private boolean request(int fd, Arena arena, short type, short flags, byte family, byte[] attributes)
            throws Throwable {
        int len = 20 + attributes.length;
        MemorySegment req = arena.allocate(len);
        req.set(INT, 0, len);
        req.set(SHORT, 4, type);
        req.set(SHORT, 6, flags);
        req.set(INT, 8, ++seq);
        req.set(INT, 12, 0);
        req.set(ValueLayout.JAVA_BYTE, 16, family);
        MemorySegment.copy(attributes, 0, req, ValueLayout.JAVA_BYTE, 20, attributes.length);
        return (long) send.invokeExact(fd, req, (long) len, 0) == len;
    }

    /** One exchange on an open socket: what {@link #onSocket} runs between opening and closing it. */
    @FunctionalInterface
    private interface Exchange<T> {
        T run(int fd, Arena arena) throws Throwable;
    }

    /**
     * Opens a {@code NETLINK_NETFILTER} socket, runs {@code exchange} on it with an arena for its buffers, and closes
     * both whatever happens: the one place dump, ask and commit get their socket.
     *
     * @throws NftException naming {@code purpose} when the kernel refuses the socket
     */
    private <T> T onSocket(String purpose, Exchange<T> exchange) throws Throwable {
        int fd = (int) socket.invokeExact(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0) {
            throw new NftException("netlink socket for " + purpose + ": refused");
        }
        try (Arena arena = Arena.ofConfined()) {
            return exchange.run(fd, arena);
        } finally {
            try {
                int ignored = (int) close.invokeExact(fd);
            } catch (Throwable e) {
                // nothing to do
            }
        }
    }

    /** The attributes of every message of a dump; null on an error. */
    private java.util.List<byte[]> dump(short type, byte family, byte[] attributes) {
        try {
            return onSocket("a dump", (fd, arena) -> {
                if (!request(fd, arena, type, (short) (NLM_F_REQUEST | NLM_F_DUMP), family, attributes)) {
                    return null;
                }
                java.util.List<byte[]> out = new java.util.ArrayList<>();
                long capacity = 64 * 1024;
                MemorySegment buf = arena.allocate(capacity);
                while (true) {
                    long n = (long) recv.invokeExact(fd, buf, capacity, 0);
                    if (n <= 0) {
                        return null;
                    }
                    for (int off = 0; off + 16 <= n; ) {
                        int msgLen = buf.get(INT, off);
                        short msgType = buf.get(SHORT, off + 4);
                        if (msgLen < 16 || off + msgLen > n) {
                            return null;
                        }
                        if (msgType == NLMSG_DONE) {
                            return out;
                        }
                        if (msgType == NLMSG_ERROR) {
                            return null;
                        }
                        if (msgLen >= 20) {
                            out.add(buf.asSlice(off + 20, msgLen - 20).toArray(ValueLayout.JAVA_BYTE));
                        }
                        off += (msgLen + 3) & ~3;
                    }
                }
            });
        } catch (Throwable e) {
            return null;
        }
    }

    /**
     * Sends {@code batch} (one nf_tables transaction, see {@link BulkElements}) and waits for its acknowledgements:
     * the kernel commits the whole batch or nothing.
     *
     * @throws NftException with the kernel's error when it refused the batch, or when there was no answer
     */
    synchronized void commit(BulkElements.Batch batch) {
        byte[] bytes = batch.bytes();
        try {
            onSocket("the element batch", (fd, arena) -> {
                // The whole batch is one message to the kernel (one transaction), larger than the default buffer.
                MemorySegment size = arena.allocateFrom(ValueLayout.JAVA_INT, bytes.length + 65536);
                int ignored = (int) setsockopt.invokeExact(fd, SOL_SOCKET, SO_SNDBUFFORCE, size, 4);
                MemorySegment timeout = arena.allocate(16); // struct timeval: a kernel that never answers is an error
                timeout.set(ValueLayout.JAVA_LONG, 0, 30L);
                ignored = (int) setsockopt.invokeExact(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16);
                MemorySegment req = arena.allocate(bytes.length);
                MemorySegment.copy(bytes, 0, req, ValueLayout.JAVA_BYTE, 0, bytes.length);
                long sent = (long) send.invokeExact(fd, req, (long) bytes.length, 0);
                if (sent != bytes.length) {
                    throw new NftException("netlink: sending the element batch (" + bytes.length + " bytes) failed");
                }
                // Answers: an NLMSG_ERROR with an error for a refused message (the batch is then aborted), else the
                // acknowledgement (error 0) of the last message, sent after the commit. An error answer carries the
                // refused message (up to ~64 KB).
                long capacity = 256 * 1024;
                MemorySegment buf = arena.allocate(capacity);
                boolean acknowledged = false;
                while (!acknowledged) {
                    long n = (long) recv.invokeExact(fd, buf, capacity, 0);
                    if (n <= 0) {
                        throw new NftException("netlink: no answer to the element batch");
                    }
                    for (int off = 0; off + 16 <= n; ) {
                        int len = buf.get(INT, off);
                        if (buf.get(SHORT, off + 4) == NLMSG_ERROR && len >= 36) {
                            int err = buf.get(INT, off + 16);
                            if (err != 0) {
                                throw new NftException("the kernel refused the element batch: " + errno(-err));
                            }
                            acknowledged |= buf.get(INT, off + 20 + 8) == batch.lastSeq();
                        }
                        if (len < 16) {
                            break;
                        }
                        off += (len + 3) & ~3;
                    }
                }
                return null;
            });
        } catch (NftException e) {
            throw e;
        } catch (Throwable e) {
            throw new NftException("netlink element batch failed: " + e);
        }
    }

    private static String errno(int errno) {
        return switch (errno) {
            case 2 -> "No such file or directory (a table, set or chain is missing)";
            case 16 -> "Device or resource busy";
            case 17 -> "File exists (an element is there with another value)";
            case 22 -> "Invalid argument";
            case 23 -> "Too many open files in system (the set is full)";
            case 105 -> "No buffer space available";
            default -> "errno " + errno;
        };
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
        return ask(type, family, attributes, expected, new int[1]);
    }

    /** {@link #ask(short, byte, byte[], short)}, with the kernel's (negative) error number in {@code error[0]}. */
    private byte[] ask(short type, byte family, byte[] attributes, short expected, int[] error) {
        try {
            return onSocket("a request", (fd, arena) -> {
                if (!request(fd, arena, type, NLM_F_REQUEST, family, attributes)) {
                    return null;
                }
                MemorySegment buf = arena.allocate(4096);
                long n = (long) recv.invokeExact(fd, buf, 4096L, 0);
                if (n >= 20 && buf.get(SHORT, 4) == NLMSG_ERROR) {
                    error[0] = buf.get(INT, 16);
                    return null;
                }
                if (n < 20 || buf.get(SHORT, 4) != expected) {
                    return null;
                }
                int msgLen = Math.min((int) n, buf.get(INT, 0));
                return buf.asSlice(20, msgLen - 20).toArray(ValueLayout.JAVA_BYTE);
            });
        } catch (Throwable e) {
            return null;
        }
    }
}
