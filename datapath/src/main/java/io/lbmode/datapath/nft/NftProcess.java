package io.lbmode.datapath.nft;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** {@code nft -f -} as a subprocess (what kube-proxy does): the fallback when libnftables can't be loaded. */
public final class NftProcess extends ScriptNftRunner {
    private final List<String> prefix;

    /** @param prefix command before {@code nft}, e.g. {@code ip netns exec NS}; empty for the current namespace */
    public NftProcess(List<String> prefix) {
        this.prefix = List.copyOf(prefix);
    }

    public NftProcess() {
        this(List.of());
    }

    @Override
    Answer execute(String script) {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of("nft", "-f", "-"));
        try {
            Process p = new ProcessBuilder(cmd).start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            try (OutputStream in = p.getOutputStream()) {
                in.write(script.getBytes(StandardCharsets.UTF_8));
            }
            int rc = p.waitFor();
            return new Answer(rc, out.join(), err.join());
        } catch (IOException e) {
            throw new NftException("could not run nft (" + e.getMessage() + "): install nftables (apt-get install nftables)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NftException("interrupted while running nft");
        }
    }

    private static String read(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public String describe() {
        return "nft -f - (subprocess)";
    }
}
