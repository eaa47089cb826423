package io.lbmode.datapath.nft;

/** nft refused a script; the message carries nft's error output. */
public class NftException extends RuntimeException {
    public NftException(String message) {
        super(message);
    }
}
