package io.lbmode.validation;

import java.util.Objects;

/**
 * One reason a Cluster is invalid.
 *
 * @param field   the field path, e.g. {@code spec.clusterNetwork.forwardMode}
 * @param message what is wrong and what to do, without the field path
 */
public record Problem(String field, String message) {
    public Problem {
        Objects.requireNonNull(field, "field");
        Objects.requireNonNull(message, "message");
    }

    @Override
    public String toString() {
        return field + ": " + message;
    }
}
