package io.lbmode.datapath.program;

/** The kernel refused a change; the message is meant for the NodeDataplane status and the log. */
public class ProgrammingException extends RuntimeException {
    public ProgrammingException(String message) {
        super(message);
    }

    public ProgrammingException(String message, Throwable cause) {
        super(message, cause);
    }
}
