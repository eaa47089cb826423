package io.lbmode.datapath.program;

import java.time.Duration;
import java.util.Objects;

/**
 * What one {@link ModeProgrammer#apply} did.
 *
 * @param full    true for an atomic full replace (first apply, repair), false for an incremental update
 * @param changes number of kernel objects added or removed (elements, chains); 0 when nothing changed
 * @param took    time spent talking to the kernel
 */
public record Applied(boolean full, int changes, Duration took) {
    public Applied {
        Objects.requireNonNull(took, "took");
    }

    public boolean changedAnything() {
        return full || changes > 0;
    }
}
