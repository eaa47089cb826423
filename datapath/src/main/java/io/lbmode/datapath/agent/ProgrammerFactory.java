package io.lbmode.datapath.agent;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.nft.NftRunner;
import io.lbmode.datapath.nft.SnatProgrammer;
import io.lbmode.datapath.program.ModeProgrammer;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Creates the programmer for a forward mode. The agent holds one per mode: the active one applies, the other one
 * only cleans up.
 *
 * @param nft             kernel boundary for SNAT mode
 * @param interfaceName   {@code --interface}: where DSR programs attach (empty: the agent's choice, see DsrProgrammer)
 * @param bpffs           {@code --bpffs}: where DSR pins its maps and links
 * @param hashSeed        Maglev seed shared by every node ({@code DatapathConfig.hashSeed})
 * @param maglevTableSize Maglev table size M (a prime from the list in dsr-option.md)
 */
public record ProgrammerFactory(NftRunner nft, String interfaceName, Path bpffs, long hashSeed, int maglevTableSize) {
    /** Cilium's default table size. */
    public static final int DEFAULT_MAGLEV_TABLE_SIZE = 16381;

    public ProgrammerFactory {
        Objects.requireNonNull(nft, "nft");
        Objects.requireNonNull(interfaceName, "interfaceName");
        Objects.requireNonNull(bpffs, "bpffs");
    }

    public ModeProgrammer create(ForwardMode mode) {
        return switch (mode) {
            case SNAT -> new SnatProgrammer(nft, io.lbmode.datapath.nft.Conntrack.system());
            case DSR -> dsr();
        };
    }

    private ModeProgrammer dsr() {
        return new io.lbmode.datapath.bpf.DsrProgrammer(interfaceName, bpffs, hashSeed, maglevTableSize);
    }
}
