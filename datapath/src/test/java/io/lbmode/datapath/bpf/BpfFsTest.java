package io.lbmode.datapath.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Whether DSR's pins would outlive the agent: only in a bpffs mounted before it (mountinfo lines as the kernel writes
 * them on a systemd host, in a pod, and in {@code ip netns exec}).
 */
@Tag("unit")
class BpfFsTest {
    static final String ROOT = "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw";
    static final String SYS = "23 27 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw";
    static final String SYSTEMD_BPFFS = "34 23 0:30 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:14 - bpf bpf rw,mode=700";
    /** A pod: the host's /sys/fs/bpf bind-mounted with HostToContainer propagation. */
    static final String POD_BPFFS = "612 600 0:30 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime master:14 - bpf bpf rw,mode=700";
    /** {@code ip netns exec}: a fresh sysfs, no bpffs on it. */
    static final String NETNS_SYS = "56 53 0:41 / /sys rw,relatime - sysfs s12c-probe rw";
    static final String LAB_BPFFS = "80 27 0:52 / /run/lbmode-lab/l1/bpffs/lb rw,relatime - bpf bpf rw";

    @Test
    void theHostsBpffsAndThePodsBindOfItHoldPinsThatOutliveTheAgent() {
        assertThat(BpfFs.bpffsMountOf(Path.of("/sys/fs/bpf"), List.of(ROOT, SYS, SYSTEMD_BPFFS))).hasValue("/sys/fs/bpf");
        assertThat(BpfFs.bpffsMountOf(Path.of("/sys/fs/bpf"), List.of(ROOT, SYS, POD_BPFFS))).hasValue("/sys/fs/bpf");
        assertThat(BpfFs.bpffsMountOf(Path.of("/sys/fs/bpf/lbmode-test"), List.of(ROOT, SYS, SYSTEMD_BPFFS)))
                .as("a directory inside a bpffs").hasValue("/sys/fs/bpf");
        assertThat(BpfFs.bpffsMountOf(Path.of("/run/lbmode-lab/l1/bpffs/lb"), List.of(ROOT, SYS, LAB_BPFFS))).isPresent();
    }

    @Test
    void aDirectoryThatIsNoBpffsIsRefused() {
        assertThat(BpfFs.bpffsMountOf(Path.of("/sys/fs/bpf"), List.of(ROOT, NETNS_SYS))).as("ip netns exec's fresh /sys").isEmpty();
        assertThat(BpfFs.bpffsMountOf(Path.of("/sys/fs/bpf"), List.of(ROOT, SYS))).as("a host without a bpffs").isEmpty();
        assertThat(BpfFs.bpffsMountOf(Path.of("/sys/fs/bpffoo"), List.of(ROOT, SYS, SYSTEMD_BPFFS))).as("a sibling with a common prefix").isEmpty();
        assertThat(BpfFs.bpffsMountOf(Path.of("/sys/fs/bpf"), List.of(ROOT, SYS, SYSTEMD_BPFFS,
                "90 34 0:60 / /sys/fs/bpf rw - tmpfs tmpfs rw"))).as("a bpffs covered by a later mount").isEmpty();
        assertThat(BpfFs.bpffsMountOf(Path.of("/run/my pins"), List.of(ROOT, "81 27 0:53 / /run/my\\040pins rw - bpf bpf rw")))
                .as("escaped mount point").hasValue("/run/my pins");
    }

    @Test
    void theRefusalSaysWhyAndWhatAHostWithoutABpffsMustDo() {
        assertThat(BpfFs.notBpffs(Path.of("/sys/fs/bpf"))).contains("--bpffs /sys/fs/bpf is not a mounted bpf file system",
                "established connections survive an agent restart", "mount -t bpf bpf /sys/fs/bpf",
                "DaemonSet mounts the host's /sys/fs/bpf", "--allow-ephemeral-bpffs");
    }
}
