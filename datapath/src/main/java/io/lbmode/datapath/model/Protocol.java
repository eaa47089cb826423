package io.lbmode.datapath.model;

import java.util.Locale;
import java.util.Optional;

/** Transport protocols a LoadBalancer Service port can use and lbmode forwards (SCTP is not supported). */
public enum Protocol {
    TCP, UDP;

    /** Lower-case spelling used by nft and in status ({@code tcp}, {@code udp}). */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Kubernetes spelling ({@code TCP}, {@code UDP}); absent means TCP, as in Kubernetes. */
    public static Optional<Protocol> fromKubernetes(String value) {
        if (value == null || value.isBlank()) {
            return Optional.of(TCP);
        }
        return switch (value.trim().toUpperCase(Locale.ROOT)) {
            case "TCP" -> Optional.of(TCP);
            case "UDP" -> Optional.of(UDP);
            default -> Optional.empty();
        };
    }
}
