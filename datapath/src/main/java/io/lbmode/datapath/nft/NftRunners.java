package io.lbmode.datapath.nft;

import java.util.List;
import java.util.Optional;

/**
 * Picks the kernel boundary: libnftables via java.lang.foreign when it loads, else an {@code nft} subprocess; or, for
 * a dry run, none at all.
 */
public final class NftRunners {
    private NftRunners() {
    }

    public static NftRunner system() {
        StringBuilder why = new StringBuilder();
        Optional<LibNftables> lib = LibNftables.load(why);
        if (lib.isPresent()) {
            return lib.get();
        }
        System.err.println("lbmode: libnftables not usable (" + why + "); falling back to the nft command");
        return new NftProcess(List.of());
    }

    /** For {@code --dry-run}: accepts every script and sends nothing anywhere; lists no table. */
    public static NftRunner none() {
        return new NftRunner() {
            @Override
            public void run(String script) {
            }

            @Override
            public Optional<String> listTable(String family, String table) {
                return Optional.empty();
            }

            @Override
            public Optional<String> listCounter(String family, String table, String counter) {
                return Optional.empty();
            }

            @Override
            public String describe() {
                return "none (dry run)";
            }
        };
    }
}
