package io.lbmode.version;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Tag("unit")
class BareMetalVersionTest {
    /** In ascending order; shuffled and sorted back by the test. */
    static final List<String> ORDERED = List.of("1.9.0", "1.15.9", "1.16.0", "1.16.5", "1.16.10", "1.28.0",
            "1.28.100-gke.9", "1.28.100-gke.10", "1.28.300", "1.28.300-gke.131", "1.28.1000", "1.29.0", "1.30.0-gke.1", "2.0.0");

    @Test
    void versionsCompareNumerically() {
        List<BareMetalVersion> versions = new ArrayList<>(ORDERED.stream().map(v -> BareMetalVersion.parse(v).orElseThrow()).toList());
        Collections.shuffle(versions, new Random(42));
        Collections.sort(versions);
        assertThat(versions).extracting(BareMetalVersion::toString).containsExactlyElementsOf(ORDERED);
    }

    @Test
    void theDocumentedExamples() {
        BareMetalVersion v116 = BareMetalVersion.parse("1.16.0").orElseThrow();
        BareMetalVersion v128 = BareMetalVersion.parse("1.28.0").orElseThrow();
        BareMetalVersion gke = BareMetalVersion.parse("1.28.300-gke.131").orElseThrow();
        BareMetalVersion v129 = BareMetalVersion.parse("1.29.0").orElseThrow();
        assertThat(v116).isLessThan(v128);
        assertThat(v128).isLessThan(gke);
        assertThat(gke).isLessThan(v129);
        assertThat(gke.atLeast(BareMetalVersion.V1_28_0)).isTrue();
        assertThat(v116.isBefore(BareMetalVersion.V1_28_0)).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "1.28", "1.28.x", "v1.28.0", "1.28.0-", "01.28.0", "1.28.0 gke", "latest", "1.28.0-gke..1"})
    void notVersions(String text) {
        assertThat(BareMetalVersion.parse(text)).isEmpty();
    }
}
