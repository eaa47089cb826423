package io.lbmode.datapath.bpf;

/** The kernel or libbpf refused something; the message names the map, program or interface and what to do. */
public class BpfException extends RuntimeException {
    public BpfException(String message) {
        super(message);
    }
}
