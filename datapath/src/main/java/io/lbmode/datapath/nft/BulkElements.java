package io.lbmode.datapath.nft;

import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The bulk of a full load into a table that does not exist yet: the {@code service-ports}, {@code backends} and
 * {@code masquerade-ports} elements (all but a handful of a table's elements), written to the kernel as one nf_tables
 * netlink transaction instead of nft text. libnftables spends about 10 us parsing and evaluating each element (0.4 s
 * for the 40,000 backends of 10,000 services); the kernel needs a third of that. The small part of the load (table,
 * chains, rules, affinity objects, source ranges, reject ports) stays nft text and commits first, so the elements'
 * sets and goto chains exist when they arrive.
 *
 * <p>Only for a table that did not exist: between the two transactions the table has its rules but no service
 * ports, which is what the node had before (no VIP forwarded). Replacing an existing table stays one transaction.
 * {@link #script} is the same elements as nft text: for runners that don't speak netlink (the {@code nft} process,
 * the fake kernel) and for tests.
 *
 * <pre>
 * batch:  NFNL_MSG_BATCH_BEGIN (0x10) nfgenmsg{AF_UNSPEC, 0, res_id = htons(NFNL_SUBSYS_NFTABLES)}
 *         NFT_MSG_NEWSETELEM (0x0a0c, NLM_F_REQUEST|NLM_F_CREATE|NLM_F_ACK) nfgenmsg{NFPROTO_IPV4 / NFPROTO_IPV6}
 *           NFTA_SET_ELEM_LIST_TABLE (1) "lbmode\0", NFTA_SET_ELEM_LIST_SET (2) "backends\0",
 *           NFTA_SET_ELEM_LIST_ELEMENTS (3, nested): NFTA_LIST_ELEM (1, nested) per element:
 *             NFTA_SET_ELEM_KEY (1, nested) { NFTA_DATA_VALUE (1) key bytes }
 *             NFTA_SET_ELEM_DATA (2, nested) { NFTA_DATA_VALUE (1) bytes | NFTA_DATA_VERDICT (2, nested)
 *                                              { NFTA_VERDICT_CODE (1) = be32 NFT_GOTO (-4), NFTA_VERDICT_CHAIN (2) "pick-4\0" } }
 *         ... (one message per set and ~60 KB of elements: a nested attribute's length is 16 bits)
 *         NFNL_MSG_BATCH_END (0x11)
 * key:    each field of a concatenation in its own 4-byte register, value first, zero padded:
 *         daddr (4 or 16 bytes) . l4proto (1 + 3) . dport (2 big-endian + 2) [. numgen slot (u32, host order)]
 * value:  backend address (4 or 16) . port (2 big-endian + 2)
 * </pre>
 */
final class BulkElements implements SnatRuleset.ElementSink {
    private static final short BATCH_BEGIN = 0x10;
    private static final short BATCH_END = 0x11;
    private static final short NEWSETELEM = 0x0a0c;
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
    private static final int DATA_VALUE = 1;
    private static final int DATA_VERDICT = 2;
    private static final int VERDICT_CODE = 1;
    private static final int VERDICT_CHAIN = 2;
    private static final int NFT_GOTO = -4;
    /** Elements per message stay below this many bytes: the elements attribute's length is a u16. */
    private static final int MESSAGE_ELEMENT_BYTES = 60_000;

    /** One element; {@code chain} for a service port's verdict, {@code backend} and {@code slot} for a backend. */
    private record Entry(SnatRuleset.Family family, String set, ServicePort port, String chain, int slot, Backend backend) {
    }

    private final SnatRuleset.Family family;
    /** In batch order: by table, then by set (one message holds elements of one set); the walk gives them by port. */
    private final List<Entry> servicePorts = new ArrayList<>();
    private final List<Entry> backends = new ArrayList<>();
    private final List<Entry> masquerade = new ArrayList<>();
    private final List<Entry> entries = new ArrayList<>();

    BulkElements(SnatRuleset.Family family) {
        this.family = family;
    }

    private BulkElements(List<BulkElements> parts) {
        this.family = null;
        parts.forEach(p -> entries.addAll(p.entries()));
    }

    private List<Entry> entries() {
        if (family == null) {
            return entries;
        }
        List<Entry> all = new ArrayList<>(servicePorts.size() + backends.size() + masquerade.size());
        all.addAll(servicePorts);
        all.addAll(backends);
        all.addAll(masquerade);
        return all;
    }

    /** The elements of several tables (families) as one batch: one transaction. */
    static BulkElements of(List<BulkElements> parts) {
        return new BulkElements(parts);
    }

    @Override
    public void sourceRangePort(ServicePort sp) {
        throw new UnsupportedOperationException("source-range-ports are part of the text load");
    }

    @Override
    public void sourceRange(ServicePort sp, io.lbmode.datapath.model.Cidr prefix) {
        throw new UnsupportedOperationException("source-ranges are part of the text load");
    }

    @Override
    public void reject(ServicePort sp) {
        throw new UnsupportedOperationException("reject-ports are part of the text load");
    }

    @Override
    public void affinity(ServicePort sp, SnatRuleset.Affinity affinity) {
        throw new UnsupportedOperationException("affinity objects are part of the text load");
    }

    @Override
    public void servicePort(ServicePort sp, String chain, int picks) {
        servicePorts.add(new Entry(family, SnatRuleset.SERVICE_PORTS, sp, chain, -1, null));
    }

    @Override
    public void backend(ServicePort sp, int slot, Backend backend) {
        backends.add(new Entry(family, SnatRuleset.BACKENDS, sp, null, slot, backend));
    }

    @Override
    public void masquerade(ServicePort sp) {
        masquerade.add(new Entry(family, SnatRuleset.MASQUERADE_PORTS, sp, null, -1, null));
    }

    int size() {
        return entries.size() + servicePorts.size() + backends.size() + masquerade.size();
    }

    boolean isEmpty() {
        return size() == 0;
    }

    /** The same elements as nft text, one {@code add element} statement per set and table. */
    String script() {
        NftTransaction tx = null;
        StringBuilder s = new StringBuilder();
        SnatRuleset.Family current = null;
        for (Entry e : entries()) {
            if (e.family() != current) {
                if (tx != null) {
                    s.append(tx.script());
                }
                current = e.family();
                tx = new NftTransaction(current.nft, SnatRuleset.TABLE);
            }
            String key = SnatRuleset.key(e.port());
            tx.add(switch (e.set()) {
                case SnatRuleset.SERVICE_PORTS -> NftObject.Element.of(e.set(), key, "goto " + e.chain());
                case SnatRuleset.BACKENDS -> NftObject.Element.of(e.set(), key + " . " + e.slot(),
                        Addresses.text(e.backend().address()) + " . " + e.backend().port());
                default -> NftObject.Element.of(e.set(), key);
            });
        }
        if (tx != null) {
            s.append(tx.script());
        }
        return s.toString();
    }

    /**
     * The netlink transaction: the batch's bytes and the sequence number of its last message, the only one asking
     * for an acknowledgement (the kernel reports an error of any message anyway, before that acknowledgement).
     */
    record Batch(byte[] bytes, int lastSeq) {
    }

    /** The batch, its messages numbered from {@code firstSeq}. */
    Batch netlink(int firstSeq) {
        List<Entry> entries = entries();
        Writer w = new Writer(64 + entries.size() * 64);
        int seq = firstSeq;
        w.header(BATCH_BEGIN, NLM_F_REQUEST, seq++, (byte) 0, NFNL_SUBSYS_NFTABLES);
        int last = -1;
        int i = 0;
        while (i < entries.size()) {
            Entry first = entries.get(i);
            last = w.size();
            int message = w.header(NEWSETELEM, (short) (NLM_F_REQUEST | NLM_F_CREATE), seq++,
                    first.family() == SnatRuleset.Family.IPV4 ? (byte) 2 : (byte) 10, 0);
            w.string(LIST_TABLE, SnatRuleset.TABLE);
            w.string(LIST_SET, first.set());
            int list = w.begin(LIST_ELEMENTS);
            while (i < entries.size() && entries.get(i).family() == first.family() && entries.get(i).set().equals(first.set())
                    && w.size() - list < MESSAGE_ELEMENT_BYTES) {
                element(w, entries.get(i++));
            }
            w.end(list);
            w.end(message);
        }
        if (last < 0) {
            throw new IllegalStateException("an empty element batch");
        }
        w.buf.putShort(last + 6, (short) (NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK));
        w.header(BATCH_END, NLM_F_REQUEST, seq, (byte) 0, NFNL_SUBSYS_NFTABLES);
        return new Batch(w.bytes(), seq - 1);
    }

    private static void element(Writer w, Entry e) {
        int elem = w.begin(LIST_ELEM);
        int key = w.begin(ELEM_KEY);
        int value = w.attribute(DATA_VALUE);
        portKey(w, e.port());
        if (e.slot() >= 0) {
            w.buf.order(ByteOrder.nativeOrder()).putInt(e.slot()); // numgen writes its register in host order
        }
        w.end(value);
        w.end(key);
        if (e.set().equals(SnatRuleset.SERVICE_PORTS)) {
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

    /** {@code daddr . l4proto . dport}, each in a 4-byte register. */
    private static void portKey(Writer w, ServicePort sp) {
        InetAddress vip = sp.vip();
        w.buf.put(vip.getAddress());
        w.buf.put((byte) (sp.protocol() == Protocol.TCP ? 6 : 17)).put((byte) 0).put((byte) 0).put((byte) 0);
        port(w, sp.port());
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
