package io.lbmode.datapath.agent;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.bpf.BpfFs;
import io.lbmode.datapath.bpf.DsrProgrammer;
import io.lbmode.datapath.nft.Conntrack;
import io.lbmode.datapath.nft.NftRunner;
import io.lbmode.datapath.nft.SnatProgrammer;
import io.lbmode.datapath.program.ModeProgrammer;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place that knows which programmer serves which forward mode. The agent holds one per mode: the active one
 * applies, the others only clean up. The Maglev seed is not configuration here: it is part of the desired
 * {@code NodeState} the programmer is given.
 *
 * @param nft       kernel boundary for SNAT mode
 * @param conntrack UDP conntrack cleanup for SNAT mode
 * @param dsr       where DSR programs attach and pin; empty when this source can't program DSR
 */
record ProgrammerFactory(NftRunner nft, Conntrack conntrack, Optional<Dsr> dsr) implements Programmers {
    private static final Logger LOG = LoggerFactory.getLogger(ProgrammerFactory.class);
    /** Cilium's default table size. */
    static final int DEFAULT_MAGLEV_TABLE_SIZE = 16381;

    /**
     * @param interfaceName   {@code --interface}: where DSR programs attach (empty: the agent's choice, see DsrProgrammer)
     * @param bpffs           {@code --bpffs}: where DSR pins its maps and links
     * @param maglevTableSize Maglev table size M (one of {@code Maglev.TABLE_SIZES})
     * @param allowEphemeralBpffs {@code --allow-ephemeral-bpffs}: mount a bpffs on {@code bpffs} when none is there
     *                        (it vanishes with the agent); without it DSR refuses such a directory ({@link BpfFs})
     */
    record Dsr(String interfaceName, Path bpffs, int maglevTableSize, boolean allowEphemeralBpffs) {
        Dsr {
            Objects.requireNonNull(interfaceName, "interfaceName");
            Objects.requireNonNull(bpffs, "bpffs");
        }
    }

    ProgrammerFactory {
        Objects.requireNonNull(nft, "nft");
        Objects.requireNonNull(conntrack, "conntrack");
        Objects.requireNonNull(dsr, "dsr");
    }

    @Override
    public ModeProgrammer create(ForwardMode mode) {
        return switch (mode) {
            case SNAT -> new SnatProgrammer(nft, conntrack);
            case DSR -> dsr.map(d -> {
                if (d.allowEphemeralBpffs() && BpfFs.mountUnlessBpffs(d.bpffs())) {
                    LOG.warn("--allow-ephemeral-bpffs: mounted a bpf file system on {} that vanishes with this agent's "
                             + "mount namespace; the next restart breaks every established DSR connection. On a node: "
                             + "mount -t bpf bpf {} before the agent starts", d.bpffs(), d.bpffs());
                }
                return (ModeProgrammer) new DsrProgrammer(d.interfaceName(), d.bpffs(), d.maglevTableSize());
            }).orElseThrow(() -> new UnsupportedOperationException("DSR is not available with this programmer source"));
        };
    }
}
