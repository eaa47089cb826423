package io.lbmode.datapath.bpf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The bpf file system that holds the DSR pins (maps, programs). Pins must outlive the agent: a restarted agent
 * adopts the pinned maps, so established DSR connections keep their backends. That holds only for a bpffs mounted
 * before the agent, outside it: the host's /sys/fs/bpf (systemd mounts it at boot; the DaemonSet mounts the host's
 * into the pod). A bpffs the agent mounted itself lives in the agent's mount namespace and, wherever that namespace
 * is the agent's own ({@code ip netns exec} gives each process a fresh /sys, a container its own mounts), vanishes
 * with the process, and with it every established connection at the next restart. So the agent never mounts one,
 * unless told to for a test ({@code --allow-ephemeral-bpffs}).
 */
public final class BpfFs {
    private BpfFs() {
    }

    /**
     * Fails with what to do when {@code dir} is not in a mounted bpffs.
     *
     * @throws BpfException naming the directory, why it matters and the mount command
     */
    public static void requirePersistent(Path dir) {
        if (!onBpffs(dir)) {
            throw new BpfException(notBpffs(dir));
        }
    }

    /** The refusal: what is wrong, why it matters, and what a host without a bpffs must do. */
    static String notBpffs(Path dir) {
        return "--bpffs " + dir + " is not a mounted bpf file system. DSR pins its maps there so that established "
               + "connections survive an agent restart, and a bpffs the agent mounted itself would vanish with it. "
               + "Mount one on the host: mount -t bpf bpf " + dir + " (systemd does this for /sys/fs/bpf at boot; "
               + "add it to /etc/fstab as 'bpf " + dir + " bpf defaults 0 0' where nothing does); the lbmode "
               + "DaemonSet mounts the host's /sys/fs/bpf into the agent. Tests and labs may pass "
               + "--allow-ephemeral-bpffs instead";
    }

    /**
     * {@code --allow-ephemeral-bpffs}: mounts a bpffs on {@code dir} unless it is in one already.
     *
     * @return true when this call mounted one (it vanishes with this process's mount namespace)
     */
    public static boolean mountUnlessBpffs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new BpfException("--bpffs " + dir + ": " + e.getMessage());
        }
        if (onBpffs(dir)) {
            return false;
        }
        int rc = LibBpf.mountBpffs(dir.toAbsolutePath().toString());
        if (rc < 0) {
            throw new BpfException("--bpffs " + dir + ": no bpf file system there and mounting one failed: " + LibBpf.errno(rc)
                    + "; run as root (CAP_SYS_ADMIN) or mount it: mount -t bpf bpf " + dir);
        }
        return true;
    }

    /** True when {@code dir} (or, if it does not exist yet, the directory it would be created in) is in a bpffs. */
    public static boolean onBpffs(Path dir) {
        try {
            return bpffsMountOf(resolve(dir), Files.readAllLines(Path.of("/proc/self/mountinfo"))).isPresent();
        } catch (IOException e) {
            throw new BpfException("--bpffs " + dir + ": reading /proc/self/mountinfo failed: " + e.getMessage());
        }
    }

    /** The real path of {@code dir}: its nearest existing ancestor's real path, then the rest. */
    private static Path resolve(Path dir) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        Path existing = abs;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        return existing == null ? abs : existing.toRealPath().resolve(existing.relativize(abs));
    }

    /**
     * The mount point of the bpffs that holds {@code realDir}, per mountinfo lines ({@code proc(5)}): the mount
     * whose mount point is the longest prefix of the path, the later of two on the same point (it covers the
     * earlier); empty when that mount is not a bpffs.
     */
    static Optional<String> bpffsMountOf(Path realDir, List<String> mountinfo) {
        String best = null;
        boolean bestIsBpf = false;
        for (String line : mountinfo) {
            // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
            String[] f = line.split(" ");
            int dash = line.indexOf(" - ");
            if (f.length < 5 || dash < 0) {
                continue;
            }
            String mountPoint = unescape(f[4]);
            if (!realDir.startsWith(Path.of(mountPoint))) {
                continue;
            }
            if (best == null || mountPoint.length() >= best.length()) {
                best = mountPoint;
                bestIsBpf = line.substring(dash + 3).startsWith("bpf ");
            }
        }
        return bestIsBpf ? Optional.of(best) : Optional.empty();
    }

    /** mountinfo escapes space, tab, newline and backslash as \ooo. */
    private static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** Unmounts {@code dir} (lazily); for tests and labs that mounted their own. */
    public static void unmount(Path dir) {
        int rc = LibBpf.umount(dir.toAbsolutePath().toString());
        if (rc < 0 && rc != -22 /* EINVAL: not a mount point */) {
            throw new UncheckedIOException(new IOException("umount " + dir + ": " + LibBpf.errno(rc)));
        }
    }
}
