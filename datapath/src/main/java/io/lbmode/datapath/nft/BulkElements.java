package io.lbmode.datapath.nft;

import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
    /** Elements per message stay below this many bytes: the elements attribute's length is a u16. */
    private static final int MESSAGE_ELEMENT_BYTES = 60_000;
    /** Every set and map of the table, in the order the batch fills them. */
    static final List<String> SETS = List.of(SnatRuleset.SOURCE_RANGES, SnatRuleset.SOURCE_RANGE_PORTS,
            SnatRuleset.REJECT_PORTS, SnatRuleset.MASQUERADE_PORTS, SnatRuleset.BACKENDS, SnatRuleset.SERVICE_PORTS);

    /**
     * One element of {@code set}: the port's key, and {@code chain} for a service port's verdict, {@code slot} and
     * {@code backend} for a backend, {@code prefix} for a source range.
     */
    private record Entry(String set, ServicePort port, byte[] key, String chain, int slot, Backend backend, Cidr prefix) {
    }

    /** One table's part: whether its sets are flushed first, and its elements by set ({@link #SETS} order). */
    private record Part(SnatRuleset.Family family, boolean flush, java.util.Map<String, List<Entry>> sets) {
    }

    private final List<Part> parts = new ArrayList<>();
    /** The part the walk fills ({@link #adding}, {@link #replacing}); null in a batch made {@link #of} parts. */
    private final Part part;

    private BulkElements(SnatRuleset.Family family, boolean flush) {
        java.util.Map<String, List<Entry>> sets = new java.util.LinkedHashMap<>();
        SETS.forEach(set -> sets.put(set, new ArrayList<>()));
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

    private void add(String set, ServicePort sp, String chain, int slot, Backend backend, Cidr prefix) {
        if (sp != keyOf) { // the walk calls back several times per port: its key is encoded once
            keyOf = sp;
            key = portKey(sp);
        }
        part.sets().get(set).add(new Entry(set, sp, key, chain, slot, backend, prefix));
    }

    @Override
    public void sourceRangePort(ServicePort sp) {
        add(SnatRuleset.SOURCE_RANGE_PORTS, sp, null, -1, null, null);
    }

    @Override
    public void sourceRange(ServicePort sp, Cidr prefix) {
        add(SnatRuleset.SOURCE_RANGES, sp, null, -1, null, prefix);
    }

    @Override
    public void reject(ServicePort sp) {
        add(SnatRuleset.REJECT_PORTS, sp, null, -1, null, null);
    }

    /** Affinity objects are not elements: they come with the text part of a load (or exist, when replacing). */
    @Override
    public void affinity(ServicePort sp, SnatRuleset.Affinity affinity) {
    }

    @Override
    public void servicePort(ServicePort sp, String chain, int picks) {
        add(SnatRuleset.SERVICE_PORTS, sp, chain, -1, null, null);
    }

    @Override
    public void backend(ServicePort sp, int slot, Backend backend) {
        add(SnatRuleset.BACKENDS, sp, null, slot, backend, null);
    }

    @Override
    public void masquerade(ServicePort sp) {
        add(SnatRuleset.MASQUERADE_PORTS, sp, null, -1, null, null);
    }

    /** The number of elements. */
    int size() {
        return parts.stream().mapToInt(p -> p.sets().values().stream().mapToInt(List::size).sum()).sum();
    }

    /** The same transaction as nft text. */
    String script() {
        StringBuilder s = new StringBuilder();
        for (Part p : parts) {
            NftTransaction tx = new NftTransaction(p.family().nft, SnatRuleset.TABLE);
            if (p.flush()) {
                SETS.forEach(set -> tx.flush(new NftObject.NftSet(set, set.equals(SnatRuleset.BACKENDS)
                        || set.equals(SnatRuleset.SERVICE_PORTS), "")));
            }
            p.sets().forEach((set, entries) -> entries.forEach(e -> tx.add(text(e))));
            s.append(tx.script());
        }
        return s.toString();
    }

    private static NftObject.Element text(Entry e) {
        String key = SnatRuleset.key(e.port());
        return switch (e.set()) {
            case SnatRuleset.SERVICE_PORTS -> NftObject.Element.of(e.set(), key, "goto " + e.chain());
            case SnatRuleset.BACKENDS -> NftObject.Element.of(e.set(), key + " . " + e.slot(),
                    Addresses.text(e.backend().address()) + " . " + e.backend().port());
            case SnatRuleset.SOURCE_RANGES -> NftObject.Element.of(e.set(), key + " . " + SnatRuleset.prefix(e.prefix()));
            default -> NftObject.Element.of(e.set(), key);
        };
    }

    /**
     * The netlink transaction: the batch's bytes and the sequence number of its last message, the only one asking
     * for an acknowledgement.
     */
    record Batch(byte[] bytes, int lastSeq) {
    }

    /** The batch, its messages numbered from {@code firstSeq}. */
    Batch netlink(int firstSeq) {
        Writer w = new Writer(64 + size() * 64);
        int seq = firstSeq;
        w.header(BATCH_BEGIN, NLM_F_REQUEST, seq++, (byte) 0, NFNL_SUBSYS_NFTABLES);
        int last = -1;
        for (Part p : parts) {
            byte nfproto = p.family() == SnatRuleset.Family.IPV4 ? (byte) 2 : (byte) 10;
            if (p.flush()) {
                for (String set : SETS) {
                    last = w.size();
                    int message = w.header(DELSETELEM, NLM_F_REQUEST, seq++, nfproto, 0);
                    w.string(LIST_TABLE, SnatRuleset.TABLE);
                    w.string(LIST_SET, set);
                    w.end(message);
                }
            }
            for (var set : p.sets().entrySet()) {
                List<Entry> entries = set.getValue();
                int i = 0;
                while (i < entries.size()) {
                    last = w.size();
                    int message = w.header(NEWSETELEM, (short) (NLM_F_REQUEST | NLM_F_CREATE), seq++, nfproto, 0);
                    w.string(LIST_TABLE, SnatRuleset.TABLE);
                    w.string(LIST_SET, set.getKey());
                    int list = w.begin(LIST_ELEMENTS);
                    while (i < entries.size() && w.size() - list < MESSAGE_ELEMENT_BYTES) {
                        element(w, entries.get(i++));
                    }
                    w.end(list);
                    w.end(message);
                }
            }
        }
        if (last < 0) {
            throw new IllegalStateException("an empty element batch");
        }
        w.buf.putShort(last + 6, (short) (w.buf.getShort(last + 6) | NLM_F_ACK));
        w.header(BATCH_END, NLM_F_REQUEST, seq, (byte) 0, NFNL_SUBSYS_NFTABLES);
        return new Batch(w.bytes(), seq - 1);
    }

    private static void element(Writer w, Entry e) {
        int elem = w.begin(LIST_ELEM);
        int key = w.begin(ELEM_KEY);
        int value = w.attribute(DATA_VALUE);
        w.buf.put(e.key());
        if (e.slot() >= 0) {
            w.buf.order(ByteOrder.nativeOrder()).putInt(e.slot()); // numgen writes its register in host order
        }
        if (e.prefix() != null) {
            w.buf.put(e.prefix().network().getAddress());
        }
        w.end(value);
        w.end(key);
        if (e.prefix() != null) {
            int keyEnd = w.begin(ELEM_KEY_END);
            int end = w.attribute(DATA_VALUE);
            w.buf.put(e.key());
            w.buf.put(last(e.prefix()));
            w.end(end);
            w.end(keyEnd);
        }
        if (e.chain() != null) {
            int data = w.begin(ELEM_DATA);
            int verdict = w.begin(DATA_VERDICT);
            int code = w.attribute(VERDICT_CODE);
            w.buf.order(ByteOrder.BIG_ENDIAN).putInt(NFT_GOTO);
            w.end(code);
            w.string(VERDICT_CHAIN, e.chain());
            w.end(verdict);
            w.end(data);
        } else if (e.backend() != null) {
            int data = w.begin(ELEM_DATA);
            int v = w.attribute(DATA_VALUE);
            w.buf.put(e.backend().address().getAddress());
            port(w, e.backend().port());
            w.end(v);
            w.end(data);
        }
        w.end(elem);
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

    private static void port(Writer w, int port) {
        w.buf.put((byte) (port >> 8)).put((byte) port).put((byte) 0).put((byte) 0);
    }

    /** Netlink messages and attributes into one growing buffer; headers in host order, nested lengths patched at the end. */
    private static final class Writer {
        ByteBuffer buf;
        /** Where messages start: their length is 32 bits, an attribute's 16. */
        private final java.util.BitSet messages = new java.util.BitSet();

        Writer(int capacity) {
            buf = ByteBuffer.allocate(capacity).order(ByteOrder.nativeOrder());
        }

        int size() {
            return buf.position();
        }

        private void room(int n) {
            if (buf.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n)).order(ByteOrder.nativeOrder());
                buf.flip();
                bigger.put(buf);
                buf = bigger;
            }
        }

        /** nlmsghdr + nfgenmsg; returns the message's start for {@link #end}. */
        int header(short type, short flags, int seq, byte family, int resId) {
            room(20);
            buf.order(ByteOrder.nativeOrder());
            int start = buf.position();
            messages.set(start);
            buf.putInt(20).putShort(type).putShort(flags).putInt(seq).putInt(0);
            buf.put(family).put((byte) 0).put((byte) (resId >> 8)).put((byte) resId);
            return start;
        }

        /** A nested attribute; returns its start for {@link #end}. */
        int begin(int type) {
            return attribute(type | NLA_F_NESTED);
        }

        /** An attribute whose value the caller writes next (at most 64 bytes); returns its start for {@link #end}. */
        int attribute(int type) {
            room(128);
            buf.order(ByteOrder.nativeOrder());
            int start = buf.position();
            buf.putShort((short) 0).putShort((short) type);
            return start;
        }

        void string(int type, String value) {
            byte[] b = value.getBytes(StandardCharsets.UTF_8);
            room(8 + b.length);
            int start = attribute(type);
            buf.put(b).put((byte) 0);
            end(start);
        }

        /** Patches the length of the attribute or message started at {@code start} and pads to 4 bytes. */
        void end(int start) {
            int len = buf.position() - start;
            buf.order(ByteOrder.nativeOrder());
            if (isMessage(start)) {
                buf.putInt(start, len);
            } else {
                buf.putShort(start, (short) len);
            }
            int pad = ((len + 3) & ~3) - len;
            for (int p = 0; p < pad; p++) {
                buf.put((byte) 0);
            }
        }

        private boolean isMessage(int start) {
            return messages.get(start);
        }

        byte[] bytes() {
            byte[] out = new byte[buf.position()];
            buf.flip();
            buf.get(out);
            return out;
        }
    }
}
