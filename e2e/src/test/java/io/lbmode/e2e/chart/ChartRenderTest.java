package io.lbmode.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("apiserver")
class ChartRenderTest {

    private static MockApiServer api;

    @BeforeAll
    static void startApiServer() {
        api = new MockApiServer();
    }

    @AfterAll
    static void stopApiServer() {
        api.close();
    }

    @Test
    void defaultValuesRender() {
        HelmChart.Rendered rendered = HelmChart.template(Map.of());
        try { java.nio.file.Files.writeString(java.nio.file.Path.of("target/rendered.yaml"), rendered.yaml()); } catch (Exception e) { }
        for (HasMetadata o : rendered.objects()) {
            System.out.println(o.getClass().getName() + " " + o.getMetadata().getName());
        }
        assertThat(rendered.objects()).isNotEmpty();
    }
}
