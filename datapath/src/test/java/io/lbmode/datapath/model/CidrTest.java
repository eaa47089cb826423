package io.lbmode.datapath.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** {@code loadBalancerSourceRanges} prefixes of both families: parse, host bits, text, order, containment. */
@Tag("unit")
class CidrTest {

    static Cidr cidr(String text) {
        return Cidr.parse(text).orElseThrow(() -> new AssertionError("not parsed: " + text));
    }

    @Test
    void ipv6PrefixesParseWithHostBitsClearedAndRfc5952Text() {
        assertThat(cidr("2001:DB8:0:0:0:0:0:7/64")).hasToString("2001:db8::/64");
        assertThat(cidr("2001:db8:1234:5678:9abc::1/52")).hasToString("2001:db8:1234:5000::/52");
        assertThat(cidr("fd00:1::2/127")).hasToString("fd00:1::2/127");
        assertThat(cidr("fd00:1::3/127")).hasToString("fd00:1::2/127");
        assertThat(cidr("fd00:1::2")).as("a bare address is a /128").hasToString("fd00:1::2/128");
        assertThat(cidr("fd00:1::2").host()).isTrue();
        assertThat(cidr("::/0")).hasToString("::/0");
        assertThat(cidr(" 2001:db8::/32 ").family()).isEqualTo(IpFamily.IPV6);
        assertThat(cidr("203.0.113.77/24").family()).isEqualTo(IpFamily.IPV4);
        assertThat(cidr("203.0.113.77").host()).isTrue();
        assertThat(cidr("2001:db8::/32")).isEqualTo(cidr("2001:db8:ffff::/32"));
    }

    @Test
    void unreadableOrOutOfRangePrefixesAreRefused() {
        Stream.of("2001:db8::/129", "2001:db8::/1000", "2001:db8::/", "2001:db8::/-1", "2001:db8::/6a", "fe80::1%eth0/64",
                        "::ffff:10.0.0.1/120", "2001:db8:::/32", "2001:db8::/32/1", "10.0.0.0/33", "10.0.0/8", "", "  ",
                        "example.com/24", "2001:db8::/٣٢")
                .forEach(t -> assertThat(Cidr.parse(t)).as(t).isEmpty());
        assertThat(Cidr.parse(null)).isEmpty();
        assertThatThrownBy(() -> new Cidr(Addresses.ip("2001:db8::"), 129)).hasMessageContaining("IPv6 prefix must be 0-128");
        assertThatThrownBy(() -> new Cidr(Addresses.ip("10.0.0.0"), 33)).hasMessageContaining("IPv4 prefix must be 0-32");
    }

    @Test
    void containsOnlyAddressesOfItsOwnFamily() {
        Cidr v6 = cidr("2001:db8:1::/48");
        assertThat(v6.contains(Addresses.ip("2001:db8:1:ffff::1"))).isTrue();
        assertThat(v6.contains(Addresses.ip("2001:db8:2::1"))).isFalse();
        assertThat(cidr("::/0").contains(Addresses.ip("fd00::1"))).isTrue();
        assertThat(cidr("::/0").contains(Addresses.ip("10.0.0.1"))).as("::/0 holds no IPv4 client").isFalse();
        assertThat(cidr("0.0.0.0/0").contains(Addresses.ip("fd00::1"))).as("0.0.0.0/0 holds no IPv6 client").isFalse();
        assertThat(cidr("fd00:1::2/127").contains(Addresses.ip("fd00:1::3"))).isTrue();
        assertThat(cidr("fd00:1::2/127").contains(Addresses.ip("fd00:1::4"))).isFalse();
        assertThat(cidr("10.0.1.0/23").contains(Addresses.ip("10.0.0.255"))).isTrue();
    }

    @Test
    void orderIsIpv4FirstThenByNetworkThenLength() {
        List<Cidr> sorted = Stream.of("fd00::/8", "2001:db8::/48", "2001:db8::/32", "10.0.0.0/8", "::/0", "10.0.0.0/16")
                .map(CidrTest::cidr).sorted().toList();
        assertThat(sorted).extracting(Cidr::toString)
                .containsExactly("10.0.0.0/8", "10.0.0.0/16", "::/0", "2001:db8::/32", "2001:db8::/48", "fd00::/8");
    }

    @Test
    void eachVipAppliesTheRangesOfItsOwnFamily() {
        ServicePort.Policy both = new ServicePort.Policy(List.of(cidr("2001:db8::/32"), cidr("10.0.1.0/24")), 0);
        ServicePort v4 = port("172.16.20.16", both);
        ServicePort v6 = port("fd00:172:16:20::10", both);
        assertThat(v4.sourceRanges()).extracting(Cidr::toString).containsExactly("10.0.1.0/24");
        assertThat(v6.sourceRanges()).extracting(Cidr::toString).containsExactly("2001:db8::/32");
        ServicePort v6OnlyV4Ranges = port("fd00:172:16:20::10", new ServicePort.Policy(List.of(cidr("10.0.1.0/24")), 0));
        assertThat(v6OnlyV4Ranges.policy().restricted()).as("restricted: closed").isTrue();
        assertThat(v6OnlyV4Ranges.sourceRanges()).as("and no client of its family admitted").isEmpty();
    }

    static ServicePort port(String vip, ServicePort.Policy policy) {
        return new ServicePort("default", "web", "", Protocol.TCP, Addresses.ip(vip), 80, false, List.of(), List.of(), policy);
    }
}
