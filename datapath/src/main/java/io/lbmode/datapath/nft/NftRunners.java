package io.lbmode.datapath.nft;

import java.util.List;
import java.util.Optional;

/** Picks the real kernel boundary: libnftables via java.lang.foreign when it loads, else an {@code nft} subprocess. */
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
}
