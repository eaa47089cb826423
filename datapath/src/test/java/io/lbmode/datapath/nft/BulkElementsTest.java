package io.lbmode.datapath.nft;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The netlink batch of a full load, read back message by message: the elements are written as the walk feeds them and
 * only framed by {@link BulkElements#netlink}, so the framing is checked here (the real kernel checks the elements in
 * the lab tier, {@code SnatBulkLoadLabTest}).
 */
@Tag("unit")
class BulkElementsTest {
    /** 10,000 ports x 4 backends, IPv4 and IPv6, some without backends, some with source ranges. */
    static NodeState state() {
        List<ServicePort> ports = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            boolean v6 = i % 5 == 0;
            List<Backend> backends = new ArrayList<>();
            for (int b = 0; b < (i % 11 == 0 ? 0 : 4); b++) {
                backends.add(new Backend(Addresses.ip(v6 ? "fd00:244::" + Integer.toHexString(i) + ":" + b
                        : "10.244." + (i / 250) + "." + (i % 250)), 8000 + b, "w" + b, false));
            }
            List<Cidr> ranges = i % 7 == 0 ? List.of(Cidr.parse(v6 ? "2001:db8::/32" : "192.0.2.0/24").orElseThrow(),
                    Cidr.parse(v6 ? "2001:db9::1" : "198.51.100.7").orElseThrow()) : List.of();
            ports.add(new ServicePort("default", "s" + i, "", i % 3 == 0 ? Protocol.UDP : Protocol.TCP,
                    Addresses.ip(v6 ? "fd00:16::" + Integer.toHexString(i) : "172.16." + (i / 250) + "." + (i % 250)),
                    80, false, backends, List.of(), new ServicePort.Policy(ranges, 0)));
        }
        return new NodeState(ForwardMode.SNAT, SnatRulesetTest.NODE, 1, ports);
    }

    @Test
    void theBatchIsOneTransactionOfWellFormedMessagesHoldingEveryElementOfTheWalk() {
        NodeState s = state();
        BulkElements v4 = SnatRuleset.bulkReplace(SnatRuleset.Family.IPV4, s).bulk();
        BulkElements v6 = SnatRuleset.bulkLoad(SnatRuleset.Family.IPV6, s).bulk();
        BulkElements all = BulkElements.of(List.of(v4, v6));
        int v4Elements = SnatRuleset.Elements.of(SnatRuleset.Family.IPV4, s).size();
        int v6Elements = SnatRuleset.Elements.of(SnatRuleset.Family.IPV6, s).size();
        assertThat(all.size()).isEqualTo(v4Elements + v6Elements).isGreaterThan(50_000);

        BulkElements.Batch batch = all.netlink(7);
        ByteBuffer buf = ByteBuffer.wrap(batch.bytes()).order(ByteOrder.nativeOrder());
        List<int[]> messages = new ArrayList<>(); // type, flags, seq, family
        Map<String, Integer> elementsBySet = new HashMap<>();
        int flushes = 0;
        for (int at = 0; at < buf.limit(); ) {
            int length = buf.getInt(at);
            assertThat(length).as("message at " + at).isGreaterThanOrEqualTo(20).isLessThanOrEqualTo(buf.limit() - at);
            assertThat(length % 4).isZero();
            int type = buf.getShort(at + 4) & 0xffff;
            messages.add(new int[]{type, buf.getShort(at + 6), buf.getInt(at + 8), buf.get(at + 16)});
            if (type == 0x0a0c || type == 0x0a0e) {
                Map<Integer, ByteBuffer> attributes = attributes(buf, at + 20, at + length);
                assertThat(text(attributes.get(1))).isEqualTo("lbmode");
                String set = text(attributes.get(2));
                assertThat(BulkElements.SETS).contains(set);
                if (type == 0x0a0e) {
                    flushes++;
                    assertThat(attributes).doesNotContainKey(3);
                } else {
                    ByteBuffer elements = attributes.get(3);
                    assertThat(elements.remaining()).isLessThan(65_536 - 4);
                    int n = attributes(elements, elements.position(), elements.limit()).size() == 0 ? 0
                            : count(elements);
                    elementsBySet.merge(buf.get(at + 16) + " " + set, n, Integer::sum);
                }
            }
            at += length;
        }
        assertThat(messages.getFirst()[0]).as("batch begin").isEqualTo(0x10);
        assertThat(messages.getLast()[0]).as("batch end").isEqualTo(0x11);
        for (int i = 0; i < messages.size(); i++) {
            assertThat(messages.get(i)[2]).as("sequence").isEqualTo(7 + i);
            boolean ack = (messages.get(i)[1] & 4) != 0;
            assertThat(ack).as("only the last message before the end asks for an acknowledgement").isEqualTo(i == messages.size() - 2);
        }
        assertThat(batch.lastSeq()).isEqualTo(7 + messages.size() - 2);
        assertThat(flushes).as("the IPv4 part replaces: each set flushed once; the IPv6 part adds").isEqualTo(BulkElements.SETS.size());
        assertThat(elementsBySet.entrySet().stream().filter(e -> e.getKey().startsWith("2 ")).mapToInt(Map.Entry::getValue).sum())
                .isEqualTo(v4Elements);
        assertThat(elementsBySet.entrySet().stream().filter(e -> e.getKey().startsWith("10 ")).mapToInt(Map.Entry::getValue).sum())
                .isEqualTo(v6Elements);
        assertThat(elementsBySet).containsEntry("2 backends", (int) s.services().stream()
                .filter(sp -> !sp.vip().getHostAddress().contains(":")).mapToLong(sp -> sp.backends().size()).sum());
    }

    @Test
    void theTextReadBackFromTheBytesIsTheWalksElementsAsNftWritesThem() {
        NodeState s = state();
        for (SnatRuleset.Family family : SnatRuleset.Family.values()) {
            Map<String, Map<String, String>> read = new HashMap<>();
            for (NftTransaction.Op op : NftTransaction.parse(SnatRuleset.bulkLoad(family, s).bulk().script())) {
                NftObject.Element e = (NftObject.Element) op.object();
                assertThat(read.computeIfAbsent(e.set(), k -> new HashMap<>()).put(e.key(), e.value().orElse(""))).isNull();
            }
            SnatRuleset.Elements text = SnatRuleset.Elements.of(family, s);
            assertThat(read.get(SnatRuleset.BACKENDS)).isEqualTo(text.backends());
            assertThat(read.get(SnatRuleset.SERVICE_PORTS)).isEqualTo(text.servicePorts());
            assertThat(read.get(SnatRuleset.SOURCE_RANGES).keySet()).isEqualTo(text.sourceRanges());
            assertThat(read.get(SnatRuleset.MASQUERADE_PORTS).keySet()).isEqualTo(text.masqueradePorts());
            assertThat(read.get(SnatRuleset.REJECT_PORTS).keySet()).isEqualTo(text.rejectPorts());
            assertThat(read.get(SnatRuleset.SOURCE_RANGE_PORTS).keySet()).isEqualTo(text.sourceRangePorts());
        }
    }

    private static int count(ByteBuffer elements) {
        int n = 0;
        for (int at = elements.position(); at < elements.limit(); at += (elements.getShort(at) + 3) & ~3) {
            assertThat(elements.getShort(at + 2) & 0x7fff).as("NFTA_LIST_ELEM").isEqualTo(1);
            n++;
        }
        return n;
    }

    /** The attributes between {@code from} and {@code to}, by type (without the nested flag): their payloads. */
    private static Map<Integer, ByteBuffer> attributes(ByteBuffer buf, int from, int to) {
        Map<Integer, ByteBuffer> out = new HashMap<>();
        for (int at = from; at < to; ) {
            int length = buf.getShort(at) & 0xffff;
            assertThat(length).isGreaterThanOrEqualTo(4);
            out.put(buf.getShort(at + 2) & 0x7fff, buf.duplicate().order(buf.order()).limit(at + length).position(at + 4));
            at += (length + 3) & ~3;
        }
        assertThat(from).isLessThanOrEqualTo(to);
        return out;
    }

    private static String text(ByteBuffer b) {
        byte[] bytes = new byte[b.remaining() - 1];
        b.duplicate().get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
