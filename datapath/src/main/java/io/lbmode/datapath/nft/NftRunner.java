package io.lbmode.datapath.nft;

import java.util.Optional;

/**
 * The kernel boundary of SNAT mode: everything lbmode does to nftables goes through these two calls, so the rule
 * logic can be tested against an in-memory fake (test code: {@code FakeNftRunner}) without root, and the real kernel
 * is exercised in the lab module.
 */
public interface NftRunner {

    /**
     * Runs an nft script ({@code nft -f} syntax) as one transaction: all of it or nothing.
     *
     * @throws NftException with nft's own error text when the kernel or the parser refuses it
     */
    void run(String script);

    /** {@code nft list table FAMILY NAME} in nft's text form, or empty when the table does not exist. */
    Optional<String> listTable(String family, String table);

    /**
     * A named counter's values as text containing {@code packets N bytes M} (as {@code nft list counter FAMILY TABLE
     * NAME} writes them), or empty when the table or counter does not exist. Read at every status write, so it must
     * be cheap at any table size (libnftables: over netlink, see {@code NftNetlink}).
     */
    Optional<String> listCounter(String family, String table, String counter);

    /**
     * The nftables ruleset generation of this network namespace: the kernel changes it with every committed
     * transaction of any table. Empty when this runner can't tell (then drift checks always list the table).
     */
    default java.util.OptionalLong generation() {
        return java.util.OptionalLong.empty();
    }

    /**
     * Whether table {@code family table} exists, asked without listing it; empty when this runner can't tell cheaply
     * (then a full load is one nft transaction, {@link #addElements} is not used).
     */
    default Optional<Boolean> tableExists(String family, String table) {
        return Optional.empty();
    }

    /**
     * The layout of table {@code family table} (comment, chains and their number of rules, sets), read without its
     * elements; empty when there is no such table or this runner can't read it cheaply.
     */
    default Optional<TableLayout> tableLayout(String family, String table) {
        return Optional.empty();
    }

    /**
     * Adds {@code elements} to existing sets and maps in one transaction, straight in the kernel's netlink form
     * (skipping nft's parser); false when this runner can't, and the caller runs {@link BulkElements#script} instead.
     *
     * @throws NftException when the kernel refuses the batch
     */
    default boolean addElements(BulkElements elements) {
        return false;
    }

    /** Short description for logs and status: which implementation talks to the kernel. */
    String describe();
}
