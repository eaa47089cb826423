package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.lbmode.datapath.model.Addresses;
import io.lbmode.datapath.model.Cidr;
import io.lbmode.datapath.model.IpFamily;
import java.lang.foreign.MemorySegment;
import java.net.Inet6Address;
import java.util.HexFormat;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Reading pinned map entries back (adoption, drift): an IPv6 field is an IPv6 address whatever its bytes. The 16
 * bytes of {@code ::ffff:172.16.20.99} (IPv4-mapped) are what InetAddress.getByAddress returns as an Inet4Address,
 * which made adopting a map that held such a foreign entry throw ClassCastException.
 */
@Tag("unit")
class BpfLayoutDecodingTest {
    /** An lb_services6 key for [::ffff:172.16.20.99]:9000/tcp: vip(16) port(2, BE) proto(1) pad(1). */
    static final byte[] MAPPED_SVC6_KEY = HexFormat.of().parseHex("00000000000000000000ffffac101463" + "2328" + "06" + "00");

    @Test
    void anIpv4MappedAddressInAnIpv6FieldStaysIpv6() {
        Inet6Address fromBytes = BpfLayout.getAddr6(MAPPED_SVC6_KEY, 0);
        Inet6Address fromSegment = BpfLayout.getAddr6(MemorySegment.ofArray(MAPPED_SVC6_KEY), 0);
        assertThat(fromBytes.getAddress()).hasSize(16).isEqualTo(java.util.Arrays.copyOf(MAPPED_SVC6_KEY, 16));
        assertThat(fromSegment).isEqualTo(fromBytes);
        assertThat(Addresses.text(fromBytes)).isEqualTo("::ffff:ac10:1463");
        assertThat(BpfLayout.u16(MAPPED_SVC6_KEY, 16)).isEqualTo(9000);
        assertThat(BpfLayout.getAddr(HexFormat.of().parseHex("ac101463"), 0)).isEqualTo(Addresses.ipv4("172.16.20.99"));
    }

    @Test
    void aMappedPrefixWithHostBitsIsClearedAsAnIpv6Prefix() {
        // an lb_src_ranges6 client prefix ::ffff:172.16.20.99/120 as a foreign writer could leave it
        Cidr c = new Cidr(BpfLayout.getAddr6(MAPPED_SVC6_KEY, 0), 120);
        assertThat(c.family()).isEqualTo(IpFamily.IPV6);
        assertThat(c.network()).isInstanceOf(Inet6Address.class);
        assertThat(c).hasToString("::ffff:ac10:1400/120");
        assertThat(c.contains(Addresses.ipv4("172.16.20.1"))).as("never an IPv4 prefix").isFalse();
    }
}
