package io.lbmode.datapath.bpf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The bpf file system that holds our pins. Not mounted by default here; in a Pod the DaemonSet mounts the host's
 * /sys/fs/bpf. Note for network-namespace labs: {@code ip netns exec} gives each process a fresh /sys, so a bpffs
 * under /sys would vanish with the process; use a directory elsewhere (e.g. under /run).
 */
public final class BpfFs {
    private BpfFs() {
    }

    /** Mounts a bpffs on {@code dir} unless one is there already. */
    public static void ensureMounted(Path dir) {
        try {
            Files.createDirectories(dir);
            if (isBpffs(dir)) {
                return;
            }
        } catch (IOException e) {
            throw new BpfException("--bpffs " + dir + ": " + e.getMessage());
        }
        int rc = LibBpf.mountBpffs(dir.toAbsolutePath().toString());
        if (rc < 0) {
            throw new BpfException("--bpffs " + dir + ": no bpf file system there and mounting one failed: " + LibBpf.errno(rc)
                    + "; run as root (CAP_SYS_ADMIN) or mount it: mount -t bpf bpffs " + dir);
        }
    }

    /** True when {@code dir} itself is a bpffs mount point (per /proc/self/mountinfo). */
    public static boolean isBpffs(Path dir) throws IOException {
        String real = dir.toRealPath().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            // id parent major:minor root mount-point options ... - fstype source super-options
            String[] f = line.split(" ");
            int dash = line.indexOf(" - ");
            if (f.length > 4 && dash > 0 && f[4].equals(real) && line.substring(dash + 3).startsWith("bpf ")) {
                return true;
            }
        }
        return false;
    }

    /** Unmounts {@code dir} (lazily); for tests and labs that mounted their own. */
    public static void unmount(Path dir) {
        int rc = LibBpf.umount(dir.toAbsolutePath().toString());
        if (rc < 0 && rc != -22 /* EINVAL: not a mount point */) {
            throw new UncheckedIOException(new IOException("umount " + dir + ": " + LibBpf.errno(rc)));
        }
    }
}
