package io.lbmode.datapath.nft;

/** Turns nft's error output into a message that says what to do. */
final class NftErrors {
    private NftErrors() {
    }

    static String explain(String nftError) {
        String text = nftError == null ? "" : nftError.strip();
        if (text.contains("Operation not permitted")) {
            return "nftables refused the change (Operation not permitted): the agent needs root or CAP_NET_ADMIN in the node's network namespace";
        }
        if (text.length() > 2000) {
            text = text.substring(0, 2000) + " ...";
        }
        return "nftables refused the change: " + (text.isEmpty() ? "(no error text)" : text);
    }
}
