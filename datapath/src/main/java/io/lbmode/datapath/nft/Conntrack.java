package io.lbmode.datapath.nft;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Removes UDP conntrack entries of a backend that left a service port. UDP has no connection end, so without this a
 * client that keeps sending from the same port would keep reaching the removed pod (kube-proxy does the same).
 * TCP entries are left alone: established connections end on their own.
 */
@FunctionalInterface
public interface Conntrack {
    void deleteUdp(String vip, int port, String backend);

    /** For tests with a fake kernel and for dry runs. */
    Conntrack NONE = (vip, port, backend) -> {
    };

    /** The {@code conntrack} command (Debian package conntrack); missing entries are not an error. */
    static Conntrack system() {
        return (vip, port, backend) -> {
            try {
                // conntrack(8) reads IPv4 unless told the family.
                List<String> family = vip.indexOf(':') >= 0 ? List.of("-f", "ipv6") : List.of();
                List<String> command = new java.util.ArrayList<>(List.of("conntrack", "-D"));
                command.addAll(family);
                command.addAll(List.of("-p", "udp", "--orig-dst", vip, "--dport", Integer.toString(port), "--reply-src", backend));
                Process p = new ProcessBuilder(command)
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (IOException e) {
                System.err.println("lbmode: could not run conntrack (" + e.getMessage() + "): install the conntrack package; "
                        + "UDP flows to removed backends stay until they time out");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
    }
}
