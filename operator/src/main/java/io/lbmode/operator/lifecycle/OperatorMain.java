package io.lbmode.operator.lifecycle;

import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Entry point of {@code quarkus-run.jar}: checks, before Quarkus starts, that the webhook certificate files exist,
 * so a missing Secret mount is one clear line instead of a stack trace from the TLS registry.
 */
@QuarkusMain
public final class OperatorMain {
    static final String DEFAULT_CERT_DIR = "/etc/lbmode/webhook-tls";

    private OperatorMain() {
    }

    public static void main(String... args) {
        String certDir = certDir();
        for (String file : new String[]{"tls.crt", "tls.key"}) {
            Path path = Path.of(certDir, file);
            if (!Files.isReadable(path)) {
                System.err.println("lbmode operator: webhook TLS file " + path + " is missing or unreadable: mount the "
                        + "webhook TLS Secret (tls.crt, tls.key) at " + certDir + ", or point LBMODE_WEBHOOK_CERT_DIR "
                        + "(or -Dlbmode.webhook.cert-dir) at a directory that has both files");
                System.exit(2);
            }
        }
        Quarkus.run(args);
    }

    /** Same sources and precedence as Quarkus config: system property, then environment, then the default. */
    static String certDir() {
        String property = System.getProperty("lbmode.webhook.cert-dir");
        if (property != null && !property.isBlank()) {
            return property;
        }
        String env = System.getenv("LBMODE_WEBHOOK_CERT_DIR");
        return env != null && !env.isBlank() ? env : DEFAULT_CERT_DIR;
    }
}
