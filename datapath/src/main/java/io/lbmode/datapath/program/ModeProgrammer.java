package io.lbmode.datapath.program;

import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.NodeState;
import java.util.Map;

/**
 * Brings the kernel of this node to a {@link NodeState} for one forward mode. SNAT: {@code io.lbmode.datapath.nft};
 * DSR: {@code io.lbmode.datapath.bpf.DsrProgrammer}; which serves which mode is decided in
 * {@code io.lbmode.datapath.agent.ProgrammerFactory}.
 *
 * <p>Contract the agent relies on:
 * <ul>
 *   <li>The first {@link #apply} of a process adopts whatever a previous agent (same or older build) programmed and
 *       replaces it atomically: no moment without rules, and established connections keep their backend.</li>
 *   <li>Later calls apply only the difference to the previously applied state (element adds/deletes).</li>
 *   <li>{@link #drifted()} compares the kernel with what was applied last; {@link #repair()} re-applies it in full.
 *       The agent calls them every few seconds, so edits or flushes by others are undone within 10 s.</li>
 *   <li>{@link #cleanup()} removes everything this mode programs (also when another process programmed it); the agent
 *       calls it for the mode that is not active so nothing of the other mode stays behind.</li>
 * </ul>
 * Implementations are used from one agent thread at a time; they need not be thread-safe.
 */
public interface ModeProgrammer extends AutoCloseable {

    ForwardMode mode();

    /**
     * Programs {@code desired}. A service port the kernel has no room for (DSR: Maglev table memory) is left out and
     * named in {@link Applied#notProgrammed}, the others programmed: one such port never fails the apply.
     *
     * @throws ProgrammingException with a message for the NodeDataplane status when the kernel refused it; the
     *                              previous state stays in place (transactions are all or nothing)
     */
    Applied apply(NodeState desired);

    /** What {@link #apply} would program for {@code desired} from scratch, as text for {@code --dry-run}; touches nothing. */
    String render(NodeState desired);

    /** True when the kernel no longer holds what was applied last (false before the first apply). */
    boolean drifted();

    /** Re-applies the last applied state in full (atomic replace). No-op before the first apply. */
    void repair();

    /** Removes everything this mode programs on the node. Safe to call when nothing is programmed. */
    void cleanup();

    /** Packets the datapath dropped, by reason (NodeDataplane {@code status.drops}); empty when the mode counts none. */
    Map<String, Long> dropCounters();

    /** Releases handles (not the programmed state: that must outlive the agent). */
    @Override
    default void close() {
    }
}
