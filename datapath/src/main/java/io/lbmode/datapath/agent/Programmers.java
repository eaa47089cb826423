package io.lbmode.datapath.agent;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.nft.NftRunner;
import io.lbmode.datapath.program.ModeProgrammer;

/**
 * How the agent gets a programmer for a mode and hash seed: {@link #real} in production; tests pass one that only
 * touches a fake kernel (so a unit test never detaches anything from the host's interfaces).
 */
@FunctionalInterface
public interface Programmers {
    /** @throws UnsupportedOperationException when this build or environment can't program {@code mode} */
    ModeProgrammer create(ForwardMode mode, long hashSeed);

    static Programmers real(NftRunner nft, AgentOptions options) {
        return (mode, seed) -> new ProgrammerFactory(nft, options.interfaceName(), options.bpffs(), seed,
                ProgrammerFactory.DEFAULT_MAGLEV_TABLE_SIZE).create(mode);
    }

    /** SNAT on {@code nft} only; DSR reported as unavailable. */
    static Programmers snatOnly(NftRunner nft) {
        return (mode, seed) -> switch (mode) {
            case SNAT -> new io.lbmode.datapath.nft.SnatProgrammer(nft);
            case DSR -> throw new UnsupportedOperationException("DSR is not available with this programmer source");
        };
    }
}
