package io.lbmode.validation;

import io.lbmode.forwardmode.Migration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The engine's decision on a create or an update: every problem at once, warnings that do not block, and the
 * migration the operator should apply (the 1.16 preview annotation turning into {@code forwardMode}).
 */
public record Verdict(List<Problem> problems, List<String> warnings, Optional<Migration> migration) {
    public Verdict {
        problems = List.copyOf(problems);
        warnings = List.copyOf(warnings);
        Objects.requireNonNull(migration, "migration");
    }

    public boolean allowed() {
        return problems.isEmpty();
    }
}
