package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Backend;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.NodeInfo;
import io.lbmode.datapath.model.NodeState;
import io.lbmode.datapath.model.Protocol;
import io.lbmode.datapath.model.ServicePort;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The Java side of the DSR datapath that needs no kernel: layouts, reason codes, slot allocation, rendering. */
@Tag("unit")
class DsrUnitTest {
    static final Path HEADER = Path.of("src/main/bpf/dsr.h");

    static Map<String, Integer> cEnum(String name) throws Exception {
        String h = Files.readString(HEADER);
        Matcher body = Pattern.compile("enum " + name + " \\{(.*?)\\};", Pattern.DOTALL).matcher(h);
        assertThat(body.find()).as("enum %s in %s", name, HEADER).isTrue();
        Map<String, Integer> out = new LinkedHashMap<>();
        Matcher e = Pattern.compile("(\\w+) = (\\d+),\\s*(?:/\\*\\s*(\\w+))?").matcher(body.group(1));
        while (e.find()) {
            out.put(e.group(1) + (e.group(3) == null ? "" : ":" + e.group(3)), Integer.parseInt(e.group(2)));
        }
        return out;
    }

    @Test
    void dropReasonsMatchTheCHeaderCodesAndNames() throws Exception {
        Map<String, Integer> c = cEnum("drop_reason");
        for (DropReason r : DropReason.values()) {
            assertThat(c).as("C enum entry for %s", r).containsValue(r.code());
            String entry = c.entrySet().stream().filter(e -> e.getValue() == r.code()).findFirst().orElseThrow().getKey();
            assertThat(entry).as("status name in the C comment").endsWith(":" + r.statusName());
        }
        assertThat(c.get("DROP_MAX")).isEqualTo(DropReason.SLOTS);
        assertThat(c).hasSize(DropReason.values().length + 1);
    }

    @Test
    void eventsMatchTheCHeader() throws Exception {
        Map<String, Integer> c = cEnum("event");
        assertThat(c.values().stream().filter(v -> v < DsrEvent.SLOTS).count()).isEqualTo(DsrEvent.values().length);
        assertThat(c.entrySet().stream().filter(e -> e.getKey().startsWith("EV_MAX")).findFirst().orElseThrow().getValue())
                .isEqualTo(DsrEvent.SLOTS);
    }

    @Test
    void structLayoutsAreTheBytesTheHeaderDocuments() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.SVC_KEY_SIZE);
            BpfLayout.svcKey(key, Addresses.ipv4("172.16.20.16"), 80, BpfLayout.PROTO_TCP);
            // dsr.h: key bytes ac 10 14 10 | 00 50 | 06 | 00
            assertThat(HexFormat.of().formatHex(key.toArray(ValueLayout.JAVA_BYTE))).isEqualTo("ac101410" + "0050" + "06" + "00");
            MemorySegment be = a.allocate(BpfLayout.BACKEND_VALUE_SIZE);
            BpfLayout.backendValue(be, Addresses.ipv4("192.168.1.2"), 8080, true);
            // dsr.h: value bytes c0 a8 01 02 | 1f 90 | 01 | 00
            assertThat(HexFormat.of().formatHex(be.toArray(ValueLayout.JAVA_BYTE))).isEqualTo("c0a80102" + "1f90" + "01" + "00");
            MemorySegment v = a.allocate(BpfLayout.SVC_VALUE_SIZE);
            BpfLayout.svcValue(v, 16381, 251, 2);
            assertThat(v.get(ValueLayout.JAVA_INT, 0)).isEqualTo(16381);
            assertThat(v.get(ValueLayout.JAVA_INT, 4)).isEqualTo(251);
            assertThat(v.get(ValueLayout.JAVA_INT, 8)).isEqualTo(2);
            assertThat(BpfLayout.getAddr(key, 0).getHostAddress()).isEqualTo("172.16.20.16");
            assertThat(BpfLayout.u16(key, 4)).isEqualTo(80);
        }
    }

    @Test
    void sourceRangeKeyIsTheServiceKeyThenTheClientPrefix() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.SRC_RANGE_KEY_SIZE);
            BpfLayout.srcRangeKey(key, Addresses.ipv4("172.16.20.16"), 80, BpfLayout.PROTO_TCP, Addresses.ipv4("203.0.113.0"), 24);
            // dsr.h: 58 00 00 00 | ac 10 14 10 00 50 06 00 | cb 00 71 00 (prefixlen 64 + 24, host order)
            assertThat(HexFormat.of().formatHex(key.toArray(ValueLayout.JAVA_BYTE)))
                    .isEqualTo("58000000" + "ac101410" + "0050" + "06" + "00" + "cb007100");
        }
    }

    @Test
    void ipv6StructLayoutsAreTheBytesTheHeaderDocuments() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(BpfLayout.svcKeySize(Addresses.ip("fd00:172:16:20::10")));
            BpfLayout.svcKey(key, Addresses.ip("fd00:172:16:20::10"), 80, BpfLayout.PROTO_TCP);
            // dsr.h (lb_services6): fd 00 01 72 00 16 00 20 00 00 00 00 00 00 00 10 | 00 50 | 06 | 00
            assertThat(HexFormat.of().formatHex(key.toArray(ValueLayout.JAVA_BYTE)))
                    .isEqualTo("fd000172001600200000000000000010" + "0050" + "06" + "00");
            assertThat(BpfLayout.getAddr6(key, 0)).isEqualTo(Addresses.ip("fd00:172:16:20::10"));
            MemorySegment be = a.allocate(BpfLayout.BACKEND6_VALUE_SIZE);
            BpfLayout.backendValue(be, Addresses.ip("fd00:10:244:1::2"), 8080, true);
            assertThat(HexFormat.of().formatHex(be.toArray(ValueLayout.JAVA_BYTE)))
                    .isEqualTo("fd000010024400010000000000000002" + "1f90" + "01" + "00");
            MemorySegment range = a.allocate(BpfLayout.srcRangeKeySize(Addresses.ip("fd00:172:16:20::10")));
            BpfLayout.srcRangeKey(range, Addresses.ip("fd00:172:16:20::10"), 80, BpfLayout.PROTO_TCP, Addresses.ip("fd00:1::"), 64);
            // lb_src_ranges6: prefixlen 160 + 64 (host order) | svc6_key | client prefix
            assertThat(HexFormat.of().formatHex(range.toArray(ValueLayout.JAVA_BYTE))).isEqualTo("e0000000"
                    + "fd000172001600200000000000000010" + "0050" + "06" + "00" + "fd000001000000000000000000000000");
            // the IPv4 layouts an older agent pinned are unchanged by the IPv6 additions
            assertThat(BpfLayout.svcKeySize(Addresses.ip("172.16.20.16"))).isEqualTo(8);
            assertThat(BpfLayout.srcRangeKeySize(Addresses.ip("172.16.20.16"))).isEqualTo(16);
        }
    }

    @Test
    void ipv6SizesMatchTheCStructs() throws Exception {
        String h = Files.readString(HEADER);
        // struct addr6 is 4 x __be32; the structs are the sizes BpfLayout writes
        assertThat(h).contains("struct svc6_key {\n\tstruct addr6 vip;\n\t__be16 port;\n\t__u8 proto;\n\t__u8 pad;\n};");
        assertThat(h).contains("struct backend6_value {\n\tstruct addr6 addr;\n\t__be16 port;\n\t__u8 flags;\n\t__u8 pad;\n};");
        assertThat(h).contains("#define SRC_RANGE6_SVC_BITS " + BpfLayout.SRC_RANGE6_SVC_BITS);
        assertThat(BpfLayout.SVC6_KEY_SIZE).isEqualTo(16 + 2 + 1 + 1);
        assertThat(BpfLayout.SRC_RANGE6_KEY_SIZE).isEqualTo(4 + BpfLayout.SVC6_KEY_SIZE + 16);
    }

    @Test
    void anIpv6VipWhoseSourceRangesAreAllIpv4KeepsTheFlagWithNoPrefixSoItAdmitsNobody() {
        List<Backend> ready = List.of(new Backend(Addresses.ip("fd00:10:244:1::2"), 8080, "w1", false));
        var d = DsrProgrammer.desiredOf(new ServicePort("default", "web", "", Protocol.TCP, Addresses.ip("fd00:172:16:20::10"), 80,
                false, ready, List.of(), new ServicePort.Policy(List.of(Cidr.parse("10.0.1.0/24").orElseThrow()), 0)));
        assertThat(d.flags() & BpfLayout.SVC_F_SOURCE_RANGES).isNotZero();
        assertThat(d.ranges()).isEmpty();
        assertThat(d.tables().fresh()).extracting(DsrProgrammer.BackendVal::name).containsExactly("[fd00:10:244:1::2]:8080");
    }

    static Backend be(String ip, String node) {
        return new Backend(Addresses.ipv4(ip), 8080, node, false);
    }

    static ServicePort port(Protocol proto, List<Backend> ready, List<Backend> draining, ServicePort.Policy policy) {
        return new ServicePort("default", "web", "", proto, Addresses.ipv4("172.16.20.16"), 80, false, ready, draining, policy);
    }

    @Test
    void flagsFollowTheServicePolicy() {
        List<Backend> ready = List.of(be("10.244.1.2", "w1"), be("10.244.2.2", "w2"));
        assertThat(DsrProgrammer.desiredOf(port(Protocol.TCP, ready, List.of(), ServicePort.Policy.OPEN)).flags()).isZero();
        var ranged = DsrProgrammer.desiredOf(port(Protocol.TCP, ready, List.of(),
                new ServicePort.Policy(List.of(Cidr.parse("203.0.113.0/24").orElseThrow()), 0)));
        assertThat(ranged.flags()).isEqualTo(BpfLayout.SVC_F_SOURCE_RANGES);
        assertThat(ranged.ranges()).containsExactly(Cidr.parse("203.0.113.0/24").orElseThrow());
        var ipv6Ranged = DsrProgrammer.desiredOf(port(Protocol.TCP, ready, List.of(), new ServicePort.Policy(
                List.of(Cidr.parse("203.0.113.0/24").orElseThrow(), Cidr.parse("2001:db8::/32").orElseThrow()), 0)));
        assertThat(ipv6Ranged.ranges()).as("an IPv4 VIP checks its IPv4 prefixes only")
                .containsExactly(Cidr.parse("203.0.113.0/24").orElseThrow());
        var onlyIpv6 = DsrProgrammer.desiredOf(port(Protocol.TCP, ready, List.of(),
                new ServicePort.Policy(List.of(Cidr.parse("2001:db8::/32").orElseThrow()), 0)));
        assertThat(onlyIpv6.flags()).as("still checked").isEqualTo(BpfLayout.SVC_F_SOURCE_RANGES);
        assertThat(onlyIpv6.ranges()).as("and no IPv4 client is in a range: closed").isEmpty();
        assertThat(DsrProgrammer.desiredOf(port(Protocol.UDP, ready, List.of(), new ServicePort.Policy(List.of(), 10800))).flags())
                .isEqualTo(BpfLayout.SVC_F_AFFINITY);
    }

    @Test
    void whileAnEndpointDrainsTheEstablishedTableIsTheOneTheServiceHadBefore() {
        Backend a = be("10.244.1.2", "w1");
        Backend b = be("10.244.2.2", "w2");
        Backend c = be("10.244.2.3", "w2");
        var before = DsrProgrammer.desiredOf(port(Protocol.TCP, List.of(a, b, c), List.of(), ServicePort.Policy.OPEN));
        var draining = DsrProgrammer.desiredOf(port(Protocol.TCP, List.of(a, c), List.of(b), ServicePort.Policy.OPEN));
        assertThat(before.tables().draining()).isFalse();
        assertThat(draining.flags() & BpfLayout.SVC_F_DRAINING).isNotZero();
        assertThat(draining.tables().fresh()).extracting(DsrProgrammer.BackendVal::name).containsExactly("10.244.1.2:8080", "10.244.2.3:8080");
        assertThat(draining.tables().established()).as("same backends, same order: the same Maglev table")
                .isEqualTo(before.tables().fresh());
        // UDP has no handshake to tell new flows from old ones: datagrams stop going to the draining endpoint at once
        var udp = DsrProgrammer.desiredOf(port(Protocol.UDP, List.of(a, c), List.of(b), ServicePort.Policy.OPEN));
        assertThat(udp.tables().draining()).isFalse();
        assertThat(udp.flags() & BpfLayout.SVC_F_DRAINING).isZero();
        // no ready endpoint left: nothing to drain towards (the model lists the serving ones as backends then)
        assertThat(DsrProgrammer.desiredOf(port(Protocol.TCP, List.of(), List.of(b), ServicePort.Policy.OPEN)).tables().draining()).isFalse();
    }

    @Test
    void slotAllocatorReusesAndMergesFreedRanges() {
        SlotAllocator s = new SlotAllocator(1000);
        int a = s.allocate(251).orElseThrow();
        int b = s.allocate(251).orElseThrow();
        int c = s.allocate(251).orElseThrow();
        assertThat(List.of(a, b, c)).containsExactly(0, 251, 502);
        assertThat(s.allocate(251)).isEmpty(); // 247 left
        s.release(b, 251);
        assertThat(s.allocate(251).orElseThrow()).isEqualTo(251);
        s.release(a, 251);
        s.release(251, 251);
        assertThat(s.allocate(502).orElseThrow()).as("neighbours merged").isZero();
        assertThat(s.freeSlots()).isEqualTo(1000 - 502 - 251);
        SlotAllocator adopted = new SlotAllocator(1000);
        assertThat(adopted.claimAll(new int[]{100, 300}, new long[]{251, 10}, 2)).as("the second overlaps").containsExactly(true, false);
        assertThat(adopted.allocate(100).orElseThrow()).isZero();
    }

    /** A free list of {@code capacity} slots (offset -> length), for {@link #claim}. */
    private static java.util.TreeMap<Integer, Integer> freeList(int capacity) {
        java.util.TreeMap<Integer, Integer> free = new java.util.TreeMap<>();
        free.put(0, capacity);
        return free;
    }

    /**
     * The reference claimAll is checked against: one adopted range claimed in a free list (how the agent adopted ranges
     * before claimAll); false when it overlaps something claimed or leaves the table memory.
     */
    private static boolean claim(java.util.TreeMap<Integer, Integer> free, int offset, int length) {
        Map.Entry<Integer, Integer> e = free.floorEntry(offset);
        if (e == null || offset + (long) length > e.getKey() + (long) e.getValue()) {
            return false;
        }
        int start = e.getKey();
        int end = e.getKey() + e.getValue();
        free.remove(start);
        if (offset > start) {
            free.put(start, offset - start);
        }
        if (offset + length < end) {
            free.put(offset + length, end - offset - length);
        }
        return true;
    }

    @Test
    void claimingAllAdoptedRangesAtOnceClaimsWhatClaimingThemOneByOneDoes() {
        java.util.Random random = new java.util.Random(14);
        for (int round = 0; round < 200; round++) {
            int capacity = 64 + random.nextInt(5000); // not always a multiple of the bitmap's 64-slot words
            int n = random.nextInt(60);
            int[] offsets = new int[n];
            long[] lengths = new long[n];
            for (int i = 0; i < n; i++) {
                // mostly inside, some overlapping, some leaving the table memory or starting before it
                offsets[i] = random.nextInt(10) == 0 ? -random.nextInt(100) - 1 : random.nextInt(capacity + 50);
                lengths[i] = 1 + random.nextInt(random.nextBoolean() ? 70 : 400);
            }
            java.util.TreeMap<Integer, Integer> oneByOne = freeList(capacity);
            boolean[] expected = new boolean[n];
            for (int i = 0; i < n; i++) {
                expected[i] = claim(oneByOne, offsets[i], (int) lengths[i]);
            }
            SlotAllocator atOnce = new SlotAllocator(capacity);
            assertThat(atOnce.claimAll(offsets, lengths, n)).as("round %d", round).containsExactly(expected);
            assertThat(atOnce.freeRanges()).as("round %d", round).isEqualTo(oneByOne);
        }
        // ranges that tile a stretch (an agent's packing), in map order, from 0, from further on, up to the end
        for (int start : new int[]{0, 100, 2000 - 4 * 251}) {
            int[] offsets = {start + 2 * 251, start, start + 3 * 251, start + 251};
            long[] lengths = {251, 251, 251, 251};
            java.util.TreeMap<Integer, Integer> oneByOne = freeList(2000);
            for (int i = 0; i < 4; i++) {
                assertThat(claim(oneByOne, offsets[i], 251)).isTrue();
            }
            SlotAllocator atOnce = new SlotAllocator(2000);
            assertThat(atOnce.claimAll(offsets, lengths, 4)).containsExactly(true, true, true, true);
            assertThat(atOnce.freeRanges()).as("from %d", start).isEqualTo(oneByOne);
        }
        // an empty range is no table: not adopted (an agent never writes one)
        assertThat(new SlotAllocator(100).claimAll(new int[]{10}, new long[]{0}, 1)).containsExactly(false);
        // garbage that would overflow an int
        assertThat(new SlotAllocator(100).claimAll(new int[]{10}, new long[]{2L * Integer.MAX_VALUE}, 1)).containsExactly(false);
    }

    @Test
    void renderShowsServicesBackendsAndSlotsWithoutTouchingTheKernel() {
        NodeInfo node = new NodeInfo("lb", Addresses.ipv4("10.0.0.10"));
        ServicePort web = new ServicePort("default", "web", "http", Protocol.TCP, Addresses.ipv4("172.16.20.16"), 80, false,
                List.of(new Backend(Addresses.ipv4("10.244.1.2"), 8080, "w1", false),
                        new Backend(Addresses.ipv4("10.244.0.2"), 8080, "lb", true)));
        ServicePort none = new ServicePort("default", "none", "", Protocol.UDP, Addresses.ipv4("172.16.20.17"), 53, false, List.of());
        String text = new DsrProgrammer("eth0", Path.of("/nonexistent"), 251)
                .render(new NodeState(ForwardMode.DSR, node, 7, List.of(web, none)));
        assertThat(text).contains("dsr_ingress/dsr_egress on eth0")
                .contains("service 172.16.20.16:80/tcp (default/web:http)")
                .contains("backend 10.244.0.2:8080 (this node, no option)")
                .contains("backend 10.244.1.2:8080: ")
                .contains("no backends (packets dropped, counted as noBackend)");
        String policies = new DsrProgrammer("eth0", Path.of("/nonexistent"), 251).render(new NodeState(ForwardMode.DSR, node, 7, List.of(
                port(Protocol.TCP, List.of(be("10.244.1.2", "w1")), List.of(be("10.244.2.2", "w2")),
                        new ServicePort.Policy(List.of(Cidr.parse("203.0.113.0/24").orElseThrow()), 10800)))));
        assertThat(policies).contains("only from 203.0.113.0/24 (others dropped, counted as notInSourceRanges)")
                .contains("session affinity by client address")
                .contains("backend 10.244.2.2:8080: terminating, established connections only");
        Matcher m = Pattern.compile(": (\\d+) of 251 slots").matcher(text);
        int total = 0;
        while (m.find()) {
            total += Integer.parseInt(m.group(1));
        }
        assertThat(total).isEqualTo(251);
    }

    /**
     * The bytes an IPv4 backend's name is hashed from, written without a String (an agent's first programming names
     * 20,000 backends), and its lb_backends value written from the address as an int: the same bytes as the text every
     * node hashes ({@code getHostAddress() + ":" + port}) and as the value written from the InetAddress.
     */
    @Test
    void anIpv4BackendsNameAndValueWrittenFromItsAddressAsAnIntAreTheUsualBytes() {
        for (String addr : List.of("0.0.0.0", "10.244.1.2", "1.22.133.4", "9.99.100.255", "255.255.255.255", "192.168.10.1")) {
            for (int port : new int[]{1, 9, 10, 80, 99, 100, 999, 1000, 8080, 9999, 10000, 65535}) {
                DsrProgrammer.BackendVal b = new DsrProgrammer.BackendVal(Addresses.ipv4(addr), port, port % 2 == 0);
                byte[] buffer = new byte[DsrProgrammer.BackendVal.IPV4_NAME_MAX];
                byte[] a = b.addr().getAddress();
                int ipv4 = (a[0] & 0xff) << 24 | (a[1] & 0xff) << 16 | (a[2] & 0xff) << 8 | (a[3] & 0xff);
                int n = DsrProgrammer.BackendVal.ipv4Name(ipv4, port, buffer);
                assertThat(new String(buffer, 0, n, java.nio.charset.StandardCharsets.UTF_8)).isEqualTo(b.name())
                        .isEqualTo(addr + ":" + port);
                byte[] fromInt = new byte[BpfLayout.BACKEND_VALUE_SIZE];
                byte[] fromAddress = new byte[BpfLayout.BACKEND_VALUE_SIZE];
                BpfLayout.backendValue4(fromInt, 0, ipv4, port, b.local());
                BpfLayout.backendValue(fromAddress, 0, b.addr(), port, b.local());
                assertThat(fromInt).isEqualTo(fromAddress);
            }
        }
    }

    @Test
    void tableSizeMustBeAnAllowedPrime() {
        assertThatThrownBy(() -> new DsrProgrammer("", Path.of("/x"), 1000)).hasMessageContaining("one of");
    }
}
