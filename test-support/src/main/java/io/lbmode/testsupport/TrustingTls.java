package io.lbmode.testsupport;

import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/** TLS clients of the tests, trusting one CA only, as the API server trusts a webhook's caBundle. */
public final class TrustingTls {
    private TrustingTls() {
    }

    /** A client context trusting only {@code ca}: a handshake succeeds only with a certificate the CA signed. */
    public static SSLContext trusting(X509Certificate ca) {
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            trust.setCertificateEntry("ca", ca);
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(trust);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, factory.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("could not build a TLS context trusting " + ca.getSubjectX500Principal(), e);
        }
    }
}
