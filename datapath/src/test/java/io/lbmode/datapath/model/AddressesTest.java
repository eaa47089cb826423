package io.lbmode.datapath.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.lbmode.crds.cluster.v1.ForwardMode;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Addresses and prefixes are read from ASCII digits only: Java's {@code Character.isDigit} and
 * {@code Integer.parseInt} also take Arabic-Indic ({@code ١٠}), fullwidth ({@code １０}) or Devanagari digits, and
 * would read {@code ١٠.0.0.1} as 10.0.0.1, an address that neither the API server nor nft sees in that text.
 */
@Tag("unit")
class AddressesTest {
    /** Each is an ASCII form ({@code 10}, {@code 24}, {@code 1}) written in another script. */
    static final String ARABIC_INDIC_10 = "\u0661\u0660";
    static final String FULLWIDTH_10 = "\uff11\uff10";
    static final String DEVANAGARI_24 = "\u0968\u096a";
    static final String FULLWIDTH_1 = "\uff11";
    static final String FULLWIDTH_A = "\uff21";

    @Test
    void ipv4AddressesOfOtherScriptsDigitsAreNotAddresses() {
        Stream.of(ARABIC_INDIC_10 + ".0.0.1", FULLWIDTH_10 + ".0.0.1", "10.0.0." + DEVANAGARI_24, "172.16.20." + FULLWIDTH_1)
                .forEach(t -> {
                    assertThat(Addresses.parseIpv4(t)).as(t).isEmpty();
                    assertThat(Addresses.parse(t)).as(t).isEmpty();
                });
        assertThat(Addresses.parseIpv4("10.0.0.1")).contains(Addresses.ipv4("10.0.0.1"));
    }

    @Test
    void ipv6AddressesOfOtherScriptsDigitsOrLettersAreNotAddresses() {
        Stream.of("2001:db8::" + FULLWIDTH_1, "2001:db8::" + FULLWIDTH_A, "fd00::" + ARABIC_INDIC_10,
                        FULLWIDTH_10 + "::1", "64:ff9b::" + FULLWIDTH_10 + ".0.0.1")
                .forEach(t -> {
                    assertThat(Addresses.parseIpv6(t)).as(t).isEmpty();
                    assertThat(Addresses.parse(t)).as(t).isEmpty();
                });
        assertThat(Addresses.parseIpv6("2001:DB8::a")).contains((java.net.Inet6Address) Addresses.ip("2001:db8::a"));
    }

    @Test
    void prefixesAndRangesOfOtherScriptsDigitsAreRefused() {
        Stream.of(ARABIC_INDIC_10 + ".0.0.0/8", "10.0.0.0/" + DEVANAGARI_24, "2001:db8::" + FULLWIDTH_A + "/128")
                .forEach(t -> assertThat(Cidr.parse(t)).as(t).isEmpty());
        Stream.of(ARABIC_INDIC_10 + ".0.0.0/8", "10.0.0.0/" + DEVANAGARI_24, "10.0.0.1-10.0.0." + FULLWIDTH_10,
                        "fd00::/" + FULLWIDTH_10)
                .forEach(t -> assertThat(VipRanges.Range.parse(t)).as(t).isEmpty());
        assertThat(VipRanges.Range.parse("10.0.0.0/24")).isPresent();
    }

    @Test
    void aVipOrSourceRangeInOtherScriptsDigitsIsReportedNamingTheField() {
        var vip = lb("vip", "\u0661\u0667\u0662.16.20.16"); // 172 in Arabic-Indic digits
        var ranges = new ServiceBuilder(lb("ranges", "172.16.20.17"))
                .editSpec().withLoadBalancerSourceRanges("203.0.113.0/" + DEVANAGARI_24).endSpec().build();
        var result = NodeStateBuilder.build(ForwardMode.SNAT, 7, NodeStateBuilderTest.VIPS, "w1", NodeStateBuilderTest.NODES,
                List.of(vip, ranges), List.of());
        assertThat(result.state().services()).isEmpty();
        assertThat(result.skips()).extracting(s -> s.service() + ": " + s.reason()).satisfiesExactlyInAnyOrder(
                s -> assertThat(s).contains("default/vip", "status.loadBalancer.ingress ip", "is not an IPv4 or IPv6 address"),
                s -> assertThat(s).contains("default/ranges", "spec.loadBalancerSourceRanges entry", "is not an IPv4 or IPv6 prefix"));
    }

    private static io.fabric8.kubernetes.api.model.Service lb(String name, String vip) {
        return NodeStateBuilderTest.lb(name, vip, "Cluster", NodeStateBuilderTest.port("", "TCP", 80, new IntOrString(8080)));
    }
}
