package io.lbmode.datapath.agent;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.nft.Conntrack;
import io.lbmode.datapath.nft.NftRunner;
import io.lbmode.datapath.nft.NftRunners;
import io.lbmode.datapath.program.ModeProgrammer;
import java.util.Optional;

/**
 * How the agent gets a programmer for a mode: {@link #of} in production; tests pass one that only touches a fake
 * kernel (so a unit test never detaches anything from the host's interfaces). Which programmer serves which mode is
 * decided once, in {@link ProgrammerFactory}.
 */
@FunctionalInterface
public interface Programmers {
    /** @throws UnsupportedOperationException when this build or environment can't program {@code mode} */
    ModeProgrammer create(ForwardMode mode);

    /**
     * What {@code options} ask for: the real kernel, or for {@code --dry-run} SNAT rendering only on a runner that
     * touches nothing (a dry run must not touch the kernel at all, not even to remove the other mode's state).
     */
    static Programmers of(AgentOptions options) {
        return options.dryRun() ? snatOnly(NftRunners.none()) : real(NftRunners.system(), options);
    }

    static Programmers real(NftRunner nft, AgentOptions options) {
        return new ProgrammerFactory(nft, Conntrack.system(), Optional.of(new ProgrammerFactory.Dsr(options.interfaceName(),
                options.bpffs(), ProgrammerFactory.DEFAULT_MAGLEV_TABLE_SIZE, options.allowEphemeralBpffs())));
    }

    /** SNAT on {@code nft} only, without conntrack cleanup; DSR reported as unavailable. */
    static Programmers snatOnly(NftRunner nft) {
        return new ProgrammerFactory(nft, Conntrack.NONE, Optional.empty());
    }
}
