package io.lbmode.datapath.program;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What one {@link ModeProgrammer#apply} did.
 *
 * @param full          true for an atomic full replace (first apply, repair), false for an incremental update
 * @param changes       number of kernel objects added or removed (elements, chains); 0 when nothing changed
 * @param took          time spent talking to the kernel
 * @param notProgrammed the service ports of the applied state the kernel does not hold after this apply, in the
 *                      state's order, each with why (all of them, not only the ones this apply left out first): a
 *                      port that does not fit leaves the others programmed; empty when every port is programmed
 */
public record Applied(boolean full, int changes, Duration took, List<NotProgrammed> notProgrammed) {
    public Applied {
        Objects.requireNonNull(took, "took");
        notProgrammed = List.copyOf(notProgrammed);
    }

    /** Every service port programmed. */
    public Applied(boolean full, int changes, Duration took) {
        this(full, changes, took, List.of());
    }

    public boolean changedAnything() {
        return full || changes > 0;
    }

    /**
     * A service port the apply left out while it programmed the others.
     *
     * @param namespace the Service's namespace
     * @param name      the Service's name
     * @param port      the service port as users know it, e.g. {@code 172.16.20.16:80/TCP (default/web:http)}
     * @param reason    why, and what to do about it; it is tried again on every apply
     */
    public record NotProgrammed(String namespace, String name, String port, String reason) {
        public NotProgrammed {
            Objects.requireNonNull(namespace, "namespace");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(port, "port");
            Objects.requireNonNull(reason, "reason");
        }

        /** {@code namespace/name}. */
        public String service() {
            return namespace + "/" + name;
        }

        /** What the Service's owner reads (log line, Event, status). */
        public String message() {
            return "service port " + port + " is not programmed: " + reason;
        }
    }
}
