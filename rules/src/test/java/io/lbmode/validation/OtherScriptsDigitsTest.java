package io.lbmode.validation;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Cluster's address fields are read from ASCII digits only, as the agent reads them: {@code \d} in
 * {@link Ipv4}'s pattern is ASCII unless UNICODE_CHARACTER_CLASS is set, and {@link Ipv6} admits {@code [0-9A-Fa-f:.]}
 * only, so {@code ١٧٢.16.20.0/24} (172 in Arabic-Indic digits) is an error here, never 172.16.20.0/24.
 */
@Tag("unit")
class OtherScriptsDigitsTest {

    @Test
    void addressesBlocksAndPoolsInOtherScriptsDigitsAreErrors() {
        Stream.of("\u0661\u0667\u0662.16.20.1", "\uff11\uff17\uff12.16.20.1", "10.0.0.\u0968")
                .forEach(t -> assertThat(Ipv4.address(t)).as(t).isEmpty());
        assertThat(Ipv4.cidr("10.96.0.0/\u0968\u0966")).as("/20 in Devanagari digits").isInstanceOf(Ipv4.Result.Bad.class);
        assertThat(Ipv4.poolRange("172.16.20.1-172.16.20.\uff19")).isInstanceOf(Ipv4.Result.Bad.class);
        Stream.of("fd00::\uff11", "fd00::\uff21", "\u0661\u0660::1").forEach(t -> assertThat(Ipv6.address(t)).as(t).isEmpty());
        assertThat(Ipv6.cidr("fd00::/\uff16\uff14")).isInstanceOf(Ipv6.Result.Bad.class);
        assertThat(Ipv4.cidr("10.96.0.0/20")).isInstanceOf(Ipv4.Result.Ok.class);
    }
}
