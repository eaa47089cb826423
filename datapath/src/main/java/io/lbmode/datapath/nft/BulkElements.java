package io.lbmode.datapath.nft;

import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Every element of a full load, written to the kernel as one nf_tables netlink transaction instead of nft text:
 * libnftables spends about 10 us parsing and evaluating each element (0.4 s for the 40,000 backends of 10,000
 * services); the kernel needs a third of that. Two uses:
 * <ul>
 *   <li>A table that does not exist yet ({@link #adding}): the table, chains, rules and affinity objects are nft text
 *       and commit first, then this batch. In between the table forwards no VIP, as the node did before.</li>
 *   <li>A table that exists with the very layout the load would create (same fingerprint in its comment, same
 *       chains, rule counts and sets: an agent restart): {@link #replacing} flushes every set and map and adds the
 *       elements in the same transaction, so the table switches from the old elements to the new ones at once, and
 *       the affinity sets keep their clients.</li>
 * </ul>
 * {@link #script} is the same transaction as nft text: for runners that don't speak netlink (the {@code nft}
 * process, the fake kernel) and for tests.
 *
 * <pre>
 * batch:  NFNL_MSG_BATCH_BEGIN (0x10) nfgenmsg{AF_UNSPEC, 0, res_id = htons(NFNL_SUBSYS_NFTABLES)}
 *         [NFT_MSG_DELSETELEM (0x0a0e) TABLE, SET, no ELEMENTS: flushes the set]  (replacing only, every set first)
 *         NFT_MSG_NEWSETELEM (0x0a0c, NLM_F_REQUEST|NLM_F_CREATE) nfgenmsg{NFPROTO_IPV4 / NFPROTO_IPV6}
 *           NFTA_SET_ELEM_LIST_TABLE (1) "lbmode\0", NFTA_SET_ELEM_LIST_SET (2) "backends\0",
 *           NFTA_SET_ELEM_LIST_ELEMENTS (3, nested): NFTA_LIST_ELEM (1, nested) per element:
 *             NFTA_SET_ELEM_KEY (1, nested) { NFTA_DATA_VALUE (1) key bytes }
 *             NFTA_SET_ELEM_DATA (2, nested) { NFTA_DATA_VALUE (1) bytes | NFTA_DATA_VERDICT (2, nested)
 *                                              { NFTA_VERDICT_CODE (1) = be32 NFT_GOTO (-4), NFTA_VERDICT_CHAIN (2) "pick-4\0" } }
 *             NFTA_SET_ELEM_KEY_END (10, nested) { NFTA_DATA_VALUE (1) } (source-ranges: the prefix's last address)
 *         ... (one message per set and ~60 KB of elements: a nested attribute's length is 16 bits; the last one
 *         with NLM_F_ACK: the kernel acknowledges after the commit, and reports a refused message before that)
 *         NFNL_MSG_BATCH_END (0x11)
 * key:    each field of a concatenation in its own 4-byte register, value first, zero padded:
 *         daddr (4 or 16 bytes) . l4proto (1 + 3) . dport (2 big-endian + 2) [. numgen slot (u32, host order)]
 *         [. client prefix's first address (source-ranges; KEY_END: its last address)]
 * value:  backend address (4 or 16) . port (2 big-endian + 2)
 * </pre>
 * The walk writes each element's bytes as it is fed, into one growing array per set (no object per element: a fresh
 * agent's first load ran its Java part half interpreted, and the 60,000 element objects and the second pass over
 * them were two thirds of it); {@link #netlink} only adds the message headers around them. {@link #script} reads the
 * text back from those bytes, so the text form and the netlink form can't disagree.
 */
final class BulkElements implements SnatRuleset.ElementSink {
    private static final short BATCH_BEGIN = 0x10;
    private static final short BATCH_END = 0x11;
    private static final short NEWSETELEM = 0x0a0c;
    private static final short DELSETELEM = 0x0a0e;
    private static final short NLM_F_REQUEST = 1;
    private static final short NLM_F_ACK = 4;
    private static final short NLM_F_CREATE = 0x400;
    private static final int NFNL_SUBSYS_NFTABLES = 10;
    private static final int NLA_F_NESTED = 0x8000;
    private static final int LIST_TABLE = 1;
    private static final int LIST_SET = 2;
    private static final int LIST_ELEMENTS = 3;
    private static final int LIST_ELEM = 1;
    private static final int ELEM_KEY = 1;
    private static final int ELEM_DATA = 2;
    private static final int ELEM_KEY_END = 10;
    private static final int DATA_VALUE = 1;
    private static final int DATA_VERDICT = 2;
    private static final int VERDICT_CODE = 1;
    private static final int VERDICT_CHAIN = 2;
    private static final int NFT_GOTO = -4;
    private static final int NLMSG_HEADER = 16;
    private static final int NFGENMSG = 4;
    private static final int ATTRIBUTE_HEADER = 4;
    /** Elements per message stay below this many bytes: the elements attribute's length is a u16. */
    private static final int MESSAGE_ELEMENT_BYTES = 60_000;
    private static final boolean LITTLE_ENDIAN = java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN;
    /** Every set and map of the table, in the order the batch fills them. */
    static final List<String> SETS = List.of(SnatRuleset.SOURCE_RANGES, SnatRuleset.SOURCE_RANGE_PORTS,
            SnatRuleset.REJECT_PORTS, SnatRuleset.MASQUERADE_PORTS, SnatRuleset.BACKENDS, SnatRuleset.SERVICE_PORTS);
    private static final int SOURCE_RANGES = SETS.indexOf(SnatRuleset.SOURCE_RANGES);
    private static final int SOURCE_RANGE_PORTS = SETS.indexOf(SnatRuleset.SOURCE_RANGE_PORTS);
    private static final int REJECT_PORTS = SETS.indexOf(SnatRuleset.REJECT_PORTS);
    private static final int MASQUERADE_PORTS = SETS.indexOf(SnatRuleset.MASQUERADE_PORTS);
    private static final int BACKENDS = SETS.indexOf(SnatRuleset.BACKENDS);
    private static final int SERVICE_PORTS = SETS.indexOf(SnatRuleset.SERVICE_PORTS);

    /**
     * One set's elements as the netlink attributes ({@code NFTA_LIST_ELEM} each) the kernel gets, back to back, and
     * where a message must start so that no message's elements exceed {@link #MESSAGE_ELEMENT_BYTES}.
     */
    private static final class SetBytes {
        byte[] bytes;
        int size;
        int count;
        /** Offsets in {@link #bytes} where a message starts; the first is 0. */
        int[] cuts = new int[8];
        int messages;

        SetBytes(int capacity) {
            bytes = new byte[capacity];
        }

        /** Room for an element of up to {@code n} bytes, starting a new message when the current one is full. */
        void element(int n) {
            if (messages == 0 || size + n - cuts[messages - 1] > MESSAGE_ELEMENT_BYTES) {
                if (messages == cuts.length) {
                    cuts = java.util.Arrays.copyOf(cuts, messages * 2);
                }
                cuts[messages++] = size;
            }
            if (bytes.length - size < n) {
                bytes = java.util.Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + n));
            }
            count++;
        }

        /** An attribute header; returns where it starts, for {@link #end} of a nested one. */
        int attribute(int type, int length) {
            int start = size;
            putShort(bytes, size, length);
            putShort(bytes, size + 2, type);
            size += ATTRIBUTE_HEADER;
            return start;
        }

        int nested(int type) {
            return attribute(type | NLA_F_NESTED, 0);
        }

        /** Sets the length of the nested attribute started at {@code start} to what was written since. */
        void end(int start) {
            putShort(bytes, start, size - start);
        }

        void put(byte[] b) {
            System.arraycopy(b, 0, bytes, size, b.length);
            size += b.length;
        }

        void put(byte[] b, int offset, int length) {
            System.arraycopy(b, offset, bytes, size, length);
            size += length;
        }

        /** A netlink string attribute: the bytes, a NUL, padding to 4 bytes. */
        void string(int type, byte[] value) {
            attribute(type, ATTRIBUTE_HEADER + value.length + 1);
            put(value);
            int nulAndPadding = padded(value.length + 1) - value.length;
            java.util.Arrays.fill(bytes, size, size + nulAndPadding, (byte) 0);
            size += nulAndPadding;
        }
    }

    /** One table's part: whether its sets are flushed first, and its elements by set ({@link #SETS} order). */
    private record Part(SnatRuleset.Family family, boolean flush, SetBytes[] sets) {
    }

    private final List<Part> parts = new ArrayList<>();
    /** The part the walk fills ({@link #adding}, {@link #replacing}); null in a batch made {@link #of} parts. */
    private final Part part;

    private BulkElements(SnatRuleset.Family family, boolean flush) {
        SetBytes[] sets = new SetBytes[SETS.size()];
        for (int i = 0; i < sets.length; i++) {
            sets[i] = new SetBytes(i == BACKENDS ? 256 * 1024 : 16 * 1024);
        }
        part = new Part(family, flush, sets);
        parts.add(part);
    }

    private BulkElements(List<BulkElements> of) {
        part = null;
        of.forEach(b -> parts.addAll(b.parts));
    }

    /** Elements for the empty sets of a table just created. */
    static BulkElements adding(SnatRuleset.Family family) {
        return new BulkElements(family, false);
    }

    /** Elements replacing all elements of an existing table's sets. */
    static BulkElements replacing(SnatRuleset.Family family) {
        return new BulkElements(family, true);
    }

    /** The elements of several tables (families) as one batch: one transaction. */
    static BulkElements of(List<BulkElements> parts) {
        return new BulkElements(parts);
    }

    private ServicePort keyOf;
    private byte[] key;

    /** {@code daddr . l4proto . dport} of {@code sp}, encoded once per port (the walk calls back several times per port). */
    private byte[] key(ServicePort sp) {
        if (sp != keyOf) {
            keyOf = sp;
            key = portKey(sp);
        }
        return key;
    }

    /** An element of a set without data: the port's key. */
    private void keyOnly(int set, ServicePort sp) {
        byte[] k = key(sp);
        SetBytes b = part.sets()[set];
        b.element(3 * ATTRIBUTE_HEADER + k.length);
        int elem = b.nested(LIST_ELEM);
        b.attribute(ELEM_KEY | NLA_F_NESTED, 2 * ATTRIBUTE_HEADER + k.length);
        b.attribute(DATA_VALUE, ATTRIBUTE_HEADER + k.length);
        b.put(k);
        b.end(elem);
    }

    @Override
    public void sourceRangePort(ServicePort sp) {
        keyOnly(SOURCE_RANGE_PORTS, sp);
    }

    @Override
    public void sourceRange(ServicePort sp, Cidr prefix) {
        byte[] k = key(sp);
        byte[] first = prefix.network().getAddress();
        int value = k.length + first.length;
        SetBytes b = part.sets()[SOURCE_RANGES];
        b.element(5 * ATTRIBUTE_HEADER + 2 * value);
        int elem = b.nested(LIST_ELEM);
        b.attribute(ELEM_KEY | NLA_F_NESTED, 2 * ATTRIBUTE_HEADER + value);
        b.attribute(DATA_VALUE, ATTRIBUTE_HEADER + value);
        b.put(k);
        b.put(first);
        b.attribute(ELEM_KEY_END | NLA_F_NESTED, 2 * ATTRIBUTE_HEADER + value);
        b.attribute(DATA_VALUE, ATTRIBUTE_HEADER + value);
        b.put(k);
        b.put(last(prefix));
        b.end(elem);
    }

    @Override
    public void reject(ServicePort sp) {
        keyOnly(REJECT_PORTS, sp);
    }

    /** Affinity objects are not elements: they come with the text part of a load (or exist, when replacing). */
    @Override
    public void affinity(ServicePort sp, SnatRuleset.Affinity affinity) {
    }

    @Override
    public void servicePort(ServicePort sp, String chain, int picks) {
        byte[] k = key(sp);
        byte[] name = chain.getBytes(StandardCharsets.UTF_8);
        int chainAttribute = ATTRIBUTE_HEADER + padded(name.length + 1);
        int verdict = ATTRIBUTE_HEADER + (ATTRIBUTE_HEADER + 4) + chainAttribute;
        SetBytes b = part.sets()[SERVICE_PORTS];
        b.element(5 * ATTRIBUTE_HEADER + k.length + verdict);
        int elem = b.nested(LIST_ELEM);
        b.attribute(ELEM_KEY | NLA_F_NESTED, 2 * ATTRIBUTE_HEADER + k.length);
        b.attribute(DATA_VALUE, ATTRIBUTE_HEADER + k.length);
        b.put(k);
        int data = b.nested(ELEM_DATA);
        int v = b.nested(DATA_VERDICT);
        b.attribute(VERDICT_CODE, ATTRIBUTE_HEADER + 4);
        putIntBigEndian(b.bytes, b.size, NFT_GOTO);
        b.size += 4;
        b.string(VERDICT_CHAIN, name);
        b.end(v);
        b.end(data);
        b.end(elem);
    }

    @Override
    public void backend(ServicePort sp, int slot, Backend backend) {
        byte[] k = key(sp);
        byte[] address = backend.address().getAddress();
        SetBytes b = part.sets()[BACKENDS];
        b.element(5 * ATTRIBUTE_HEADER + k.length + 4 + address.length + 4);
        int elem = b.nested(LIST_ELEM);
        b.attribute(ELEM_KEY | NLA_F_NESTED, 2 * ATTRIBUTE_HEADER + k.length + 4);
        b.attribute(DATA_VALUE, ATTRIBUTE_HEADER + k.length + 4);
        b.put(k);
        putInt(b.bytes, b.size, slot); // numgen writes its register in host order
        b.size += 4;
        b.attribute(ELEM_DATA | NLA_F_NESTED, 2 * ATTRIBUTE_HEADER + address.length + 4);
        b.attribute(DATA_VALUE, ATTRIBUTE_HEADER + address.length + 4);
        b.put(address);
        b.bytes[b.size] = (byte) (backend.port() >> 8);
        b.bytes[b.size + 1] = (byte) backend.port();
        b.bytes[b.size + 2] = 0;
        b.bytes[b.size + 3] = 0;
        b.size += 4;
        b.end(elem);
    }

    @Override
    public void masquerade(ServicePort sp) {
        keyOnly(MASQUERADE_PORTS, sp);
    }

    /** The number of elements. */
    int size() {
        int n = 0;
        for (Part p : parts) {
            for (SetBytes b : p.sets()) {
                n += b.count;
            }
        }
        return n;
    }

    /** The same transaction as nft text, read back from the elements' bytes. */
    String script() {
        StringBuilder s = new StringBuilder();
        for (Part p : parts) {
            NftTransaction tx = new NftTransaction(p.family().nft, SnatRuleset.TABLE);
            if (p.flush()) {
                SETS.forEach(set -> tx.flush(new NftObject.NftSet(set, set.equals(SnatRuleset.BACKENDS)
                        || set.equals(SnatRuleset.SERVICE_PORTS), "")));
            }
            int addressLength = p.family() == SnatRuleset.Family.IPV4 ? 4 : 16;
            for (int set = 0; set < SETS.size(); set++) {
                SetBytes b = p.sets()[set];
                for (int at = 0; at < b.size; at += padded(getShort(b.bytes, at))) {
                    tx.add(text(SETS.get(set), addressLength, b.bytes, at));
                }
            }
            s.append(tx.script());
        }
        return s.toString();
    }

    /** The element whose {@code NFTA_LIST_ELEM} starts at {@code at}, as nft text. */
    private static NftObject.Element text(String set, int addressLength, byte[] bytes, int at) {
        int end = at + getShort(bytes, at);
        byte[] key = null, keyEnd = null, value = null;
        String chain = null;
        for (int a = at + ATTRIBUTE_HEADER; a < end; a += padded(getShort(bytes, a))) {
            int type = getShort(bytes, a + 2) & ~NLA_F_NESTED;
            int inner = a + ATTRIBUTE_HEADER; // every element attribute nests one attribute
            int innerLength = getShort(bytes, inner) & 0xffff;
            byte[] payload = java.util.Arrays.copyOfRange(bytes, inner + ATTRIBUTE_HEADER, inner + innerLength);
            switch (type) {
                case ELEM_KEY -> key = payload;
                case ELEM_KEY_END -> keyEnd = payload;
                case ELEM_DATA -> {
                    if ((getShort(bytes, inner + 2) & ~NLA_F_NESTED) == DATA_VERDICT) {
                        int chainAttribute = inner + ATTRIBUTE_HEADER + ATTRIBUTE_HEADER + 4;
                        int chainLength = getShort(bytes, chainAttribute) - ATTRIBUTE_HEADER - 1;
                        chain = new String(bytes, chainAttribute + ATTRIBUTE_HEADER, chainLength, StandardCharsets.UTF_8);
                    } else {
                        value = payload;
                    }
                }
                default -> throw new IllegalStateException("element attribute " + type);
            }
        }
        String port = address(key, 0, addressLength) + " . " + (key[addressLength] == 6 ? Protocol.TCP : Protocol.UDP).wireName()
                + " . " + (((key[addressLength + 4] & 0xff) << 8) | (key[addressLength + 5] & 0xff));
        return switch (set) {
            case SnatRuleset.SERVICE_PORTS -> NftObject.Element.of(set, port, "goto " + chain);
            case SnatRuleset.BACKENDS -> NftObject.Element.of(set, port + " . " + getInt(key, addressLength + 8),
                    address(value, 0, addressLength) + " . " + (((value[addressLength] & 0xff) << 8) | (value[addressLength + 1] & 0xff)));
            case SnatRuleset.SOURCE_RANGES -> NftObject.Element.of(set, port + " . " + SnatRuleset.prefix(
                    prefix(java.util.Arrays.copyOfRange(key, addressLength + 8, key.length),
                            java.util.Arrays.copyOfRange(keyEnd, addressLength + 8, keyEnd.length))));
            default -> NftObject.Element.of(set, port);
        };
    }

    private static String address(byte[] bytes, int offset, int length) {
        try {
            return Addresses.text(InetAddress.getByAddress(java.util.Arrays.copyOfRange(bytes, offset, offset + length)));
        } catch (UnknownHostException e) {
            throw new IllegalStateException("4 or 16 bytes are always an address", e);
        }
    }

    /** The prefix from its first and last address. */
    private static Cidr prefix(byte[] first, byte[] last) {
        int length = 0;
        while (length < first.length * 8 && (first[length / 8] & (0x80 >>> (length % 8))) == (last[length / 8] & (0x80 >>> (length % 8)))) {
            length++;
        }
        try {
            return new Cidr(InetAddress.getByAddress(first), length);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("4 or 16 bytes are always an address", e);
        }
    }

    /**
     * The netlink transaction: the batch's bytes and the sequence number of its last message, the only one asking
     * for an acknowledgement.
     */
    record Batch(byte[] bytes, int lastSeq) {
    }

    /** The batch, its messages numbered from {@code firstSeq}: the elements' bytes with the message headers around them. */
    Batch netlink(int firstSeq) {
        byte[] table = SnatRuleset.TABLE.getBytes(StandardCharsets.UTF_8);
        int tableAttribute = ATTRIBUTE_HEADER + padded(table.length + 1);
        int length = 2 * (NLMSG_HEADER + NFGENMSG);
        for (Part p : parts) {
            for (int set = 0; set < SETS.size(); set++) {
                int setAttribute = ATTRIBUTE_HEADER + padded(SETS.get(set).length() + 1);
                int head = NLMSG_HEADER + NFGENMSG + tableAttribute + setAttribute;
                length += (p.flush() ? head : 0) + p.sets()[set].messages * (head + ATTRIBUTE_HEADER) + p.sets()[set].size;
            }
        }
        SetBytes w = new SetBytes(length);
        int seq = firstSeq;
        header(w, BATCH_BEGIN, NLM_F_REQUEST, seq++, (byte) 0, NFNL_SUBSYS_NFTABLES);
        end(w, 0);
        int last = -1;
        for (Part p : parts) {
            byte nfproto = p.family() == SnatRuleset.Family.IPV4 ? (byte) 2 : (byte) 10;
            if (p.flush()) {
                for (String set : SETS) {
                    last = w.size;
                    header(w, DELSETELEM, NLM_F_REQUEST, seq++, nfproto, 0);
                    w.string(LIST_TABLE, table);
                    w.string(LIST_SET, set.getBytes(StandardCharsets.UTF_8));
                    end(w, last);
                }
            }
            for (int set = 0; set < SETS.size(); set++) {
                SetBytes b = p.sets()[set];
                for (int m = 0; m < b.messages; m++) {
                    int from = b.cuts[m];
                    int to = m + 1 < b.messages ? b.cuts[m + 1] : b.size;
                    last = w.size;
                    header(w, NEWSETELEM, (short) (NLM_F_REQUEST | NLM_F_CREATE), seq++, nfproto, 0);
                    w.string(LIST_TABLE, table);
                    w.string(LIST_SET, SETS.get(set).getBytes(StandardCharsets.UTF_8));
                    w.attribute(LIST_ELEMENTS | NLA_F_NESTED, ATTRIBUTE_HEADER + to - from);
                    w.put(b.bytes, from, to - from);
                    end(w, last);
                }
            }
        }
        if (last < 0) {
            throw new IllegalStateException("an empty element batch");
        }
        putShort(w.bytes, last + 6, getShort(w.bytes, last + 6) | NLM_F_ACK);
        int end = w.size;
        header(w, BATCH_END, NLM_F_REQUEST, seq, (byte) 0, NFNL_SUBSYS_NFTABLES);
        end(w, end);
        if (w.size != length) {
            throw new IllegalStateException("element batch of " + w.size + " bytes, " + length + " expected");
        }
        return new Batch(w.bytes, seq - 1);
    }

    /** nlmsghdr (its length set by {@link #end(SetBytes, int)}) + nfgenmsg. */
    private static void header(SetBytes w, short type, short flags, int seq, byte family, int resId) {
        byte[] b = w.bytes;
        int at = w.size;
        putInt(b, at, 0);
        putShort(b, at + 4, type);
        putShort(b, at + 6, flags);
        putInt(b, at + 8, seq);
        putInt(b, at + 12, 0);
        b[at + 16] = family;
        b[at + 17] = 0;
        b[at + 18] = (byte) (resId >> 8);
        b[at + 19] = (byte) resId;
        w.size += NLMSG_HEADER + NFGENMSG;
    }

    /** Sets the 32-bit length of the message started at {@code start}. */
    private static void end(SetBytes w, int start) {
        putInt(w.bytes, start, w.size - start);
    }

    /** The last address of a prefix. */
    private static byte[] last(Cidr prefix) {
        byte[] a = prefix.network().getAddress();
        for (int bit = prefix.length(); bit < a.length * 8; bit++) {
            a[bit / 8] |= (byte) (0x80 >>> (bit % 8));
        }
        return a;
    }

    /** {@code daddr . l4proto . dport}, each in a 4-byte register. */
    private static byte[] portKey(ServicePort sp) {
        byte[] vip = sp.vip().getAddress();
        byte[] key = java.util.Arrays.copyOf(vip, vip.length + 8);
        key[vip.length] = (byte) (sp.protocol() == Protocol.TCP ? 6 : 17);
        key[vip.length + 4] = (byte) (sp.port() >> 8);
        key[vip.length + 5] = (byte) sp.port();
        return key;
    }

    private static int padded(int length) {
        return (length + 3) & ~3;
    }

    /** Netlink headers and attribute headers are in host order. */
    private static void putShort(byte[] b, int at, int v) {
        if (LITTLE_ENDIAN) {
            b[at] = (byte) v;
            b[at + 1] = (byte) (v >> 8);
        } else {
            b[at] = (byte) (v >> 8);
            b[at + 1] = (byte) v;
        }
    }

    /** Unsigned. */
    private static int getShort(byte[] b, int at) {
        return LITTLE_ENDIAN ? (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 : (b[at] & 0xff) << 8 | (b[at + 1] & 0xff);
    }

    private static void putInt(byte[] b, int at, int v) {
        if (LITTLE_ENDIAN) {
            putShort(b, at, v);
            putShort(b, at + 2, v >> 16);
        } else {
            putShort(b, at, v >> 16);
            putShort(b, at + 2, v);
        }
    }

    private static int getInt(byte[] b, int at) {
        return LITTLE_ENDIAN ? getShort(b, at) | getShort(b, at + 2) << 16 : getShort(b, at) << 16 | getShort(b, at + 2);
    }

    private static void putIntBigEndian(byte[] b, int at, int v) {
        b[at] = (byte) (v >> 24);
        b[at + 1] = (byte) (v >> 16);
        b[at + 2] = (byte) (v >> 8);
        b[at + 3] = (byte) v;
    }
}
