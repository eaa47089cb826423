package io.lbmode.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A full load into a node without lbmode's tables sends the bulk of its elements as an nf_tables netlink batch
 * written by lbmode (not nft text): the kernel must end up with exactly what one nft transaction gives, in both
 * families. Real kernel, in a network namespace of its own ({@link SnatBulkLoadCheck} runs there).
 */
@Tag("lab")
class SnatBulkLoadLabTest {

    @Test
    void aNetlinkBulkLoadGivesTheSameTablesAsOneNftTransaction() throws Exception {
        LabSupport.requireRoot();
        String ns = "lbm-bulk-" + ProcessHandle.current().pid();
        run(List.of("ip", "netns", "add", ns));
        try {
            String java = ProcessHandle.current().info().command().orElse("java");
            Process p = new ProcessBuilder("ip", "netns", "exec", ns, java, "--enable-native-access=ALL-UNNAMED", "-cp",
                    System.getProperty("java.class.path"), SnatBulkLoadCheck.class.getName(), "700")
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(out).isZero();
            assertThat(out).contains("equal");
        } finally {
            run(List.of("ip", "netns", "del", ns));
        }
    }

    private static void run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).inheritIO().start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", command)).isZero();
    }
}
