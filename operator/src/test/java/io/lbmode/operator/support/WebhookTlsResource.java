package io.lbmode.operator.support;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.nio.file.Path;
import java.util.Map;

/**
 * Before the app starts: a test CA and a first server certificate in {@code target/webhook-tls} (the "mounted
 * Secret"), with a 1 s reload period (WebhookCertificateWatcher) so the rotation tests do not wait long. The CA key
 * stays next to it so that tests can issue the rotated certificate.
 */
public class WebhookTlsResource implements QuarkusTestResourceLifecycleManager {
    public static final Path BASE = Path.of("target", "webhook-tls").toAbsolutePath();
    public static final Path SECRET_DIR = BASE.resolve("secret");
    public static final Path CA_CERT = BASE.resolve("ca.crt");
    public static final Path CA_KEY = BASE.resolve("ca.key");

    @Override
    public Map<String, String> start() {
        var ca = TestCertificates.ca();
        TestCertificates.writePem(CA_CERT, ca.certificate());
        TestCertificates.writeKey(CA_KEY, ca.key());
        TestCertificates.writeSecret(SECRET_DIR, TestCertificates.server(ca, "lbmode-webhook-1"));
        return Map.of("lbmode.webhook.cert-dir", SECRET_DIR.toString(), "lbmode.webhook.reload-period", "1s");
    }

    @Override
    public void stop() {
    }
}
