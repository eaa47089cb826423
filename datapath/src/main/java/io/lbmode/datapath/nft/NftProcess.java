package io.lbmode.datapath.nft;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/** {@code nft -f -} as a subprocess (what kube-proxy does): the fallback when libnftables can't be loaded. */
public final class NftProcess implements NftRunner {
    private final List<String> prefix;

    /** @param prefix command before {@code nft}, e.g. {@code ip netns exec NS}; empty for the current namespace */
    public NftProcess(List<String> prefix) {
        this.prefix = List.copyOf(prefix);
    }

    public NftProcess() {
        this(List.of());
    }

    private String[] exec(String stdin, String... args) {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add("nft");
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            try (OutputStream in = p.getOutputStream()) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
            int rc = p.waitFor();
            return new String[]{Integer.toString(rc), out.join(), err.join()};
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
    public void run(String script) {
        String[] r = exec(script, "-f", "-");
        if (!"0".equals(r[0])) {
            throw new NftException(NftErrors.explain(r[2]));
        }
    }

    @Override
    public Optional<String> listTable(String family, String table) {
        String[] r = exec("", "list", "table", family, table);
        if ("0".equals(r[0])) {
            return Optional.of(r[1]);
        }
        if (r[2].contains("No such file or directory")) {
            return Optional.empty();
        }
        throw new NftException(NftErrors.explain(r[2]));
    }

    @Override
    public String describe() {
        return "nft -f - (subprocess)";
    }
}
