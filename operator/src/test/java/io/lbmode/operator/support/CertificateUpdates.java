package io.lbmode.operator.support;

import io.quarkus.tls.CertificateUpdatedEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.concurrent.atomic.AtomicInteger;

/** Counts the {@link CertificateUpdatedEvent}s of the test application (each one swaps the server's SSL options). */
@ApplicationScoped
public class CertificateUpdates {
    private final AtomicInteger webhook = new AtomicInteger();

    void on(@Observes CertificateUpdatedEvent event) {
        if ("webhook".equals(event.name())) {
            webhook.incrementAndGet();
        }
    }

    public int webhook() {
        return webhook.get();
    }
}
