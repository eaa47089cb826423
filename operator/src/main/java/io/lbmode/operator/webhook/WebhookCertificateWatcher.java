package io.lbmode.operator.webhook;

import io.lbmode.operator.config.OperatorConfig;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.tls.CertificateUpdatedEvent;
import io.quarkus.tls.TlsConfiguration;
import io.quarkus.tls.TlsConfigurationRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.impl.KeyStoreHelper;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collections;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Re-reads the webhook's {@code tls.crt} and {@code tls.key} every {@code lbmode.webhook.reload-period} and hands a
 * new pair to the HTTPS server only when it actually changed.
 *
 * <p>Why not the TLS registry's own {@code reload-period}: it reloads and pushes new SSL options into the Vert.x server
 * on every period even when the files did not change, and a handshake arriving while Vert.x swaps its SSL context can
 * fail ("Remote host terminated the handshake", a Vert.x race in {@code TCPServerBase}). With failurePolicy Fail that
 * denied a user's request every so often for nothing. Here the swap happens once per real rotation.
 *
 * <p>A pair is loaded only when the certificate parses and the key belongs to it, so a rotation caught half-written
 * (new certificate, old key) is skipped and picked up on a later tick once both files are in place.
 */
@ApplicationScoped
public class WebhookCertificateWatcher {
    static final String TLS_CONFIGURATION = "webhook";
    /** Counter of the watcher's ticks, by result. */
    public static final String CHECKS = "lbmode.webhook.certificate.checks";
    private static final Logger LOG = Logger.getLogger(WebhookCertificateWatcher.class);

    @Inject
    OperatorConfig config;

    @Inject
    TlsConfigurationRegistry registry;

    @Inject
    Event<CertificateUpdatedEvent> certificateUpdated;

    @Inject
    Vertx vertx;

    @Inject
    MeterRegistry meters;

    private ScheduledExecutorService timer;
    /** SHA-256 of the pair the server uses; null: unknown, the next valid pair read is loaded. */
    private byte[] loaded;
    /** SHA-256 of the last pair refused, so an invalid pair is logged once, not on every tick. */
    private byte[] refused;

    void start(@Observes StartupEvent startup) {
        loaded = fingerprintOfTheLoadedPair();
        // One daemon thread of our own: the HTTP server's observer of CertificateUpdatedEvent blocks until Vert.x has
        // swapped the SSL options, which must not happen on an event-loop thread.
        timer = Executors.newSingleThreadScheduledExecutor(task -> {
            Thread thread = new Thread(task, "lbmode-webhook-cert-watcher");
            thread.setDaemon(true);
            return thread;
        });
        long period = Math.max(1, config.webhook().reloadPeriod().toMillis());
        timer.scheduleWithFixedDelay(this::checkQuietly, period, period, TimeUnit.MILLISECONDS);
    }

    void stop(@Observes ShutdownEvent shutdown) {
        if (timer != null) {
            timer.shutdownNow();
        }
    }

    /** One tick, counted in {@value #CHECKS} by result: loaded (a new pair), kept (the server keeps its pair), failed. */
    private void checkQuietly() {
        String result = "failed";
        try {
            result = check() ? "loaded" : "kept";
        } catch (RuntimeException e) {
            // A failing tick must not cancel the schedule: the next one tries again.
            LOG.warnf("Webhook certificate check failed, retrying in %s: %s", config.webhook().reloadPeriod(), e);
        } finally {
            Counter.builder(CHECKS).description("Checks of the webhook certificate files by result")
                    .tag("result", result).register(meters).increment();
        }
    }

    /** One tick: {@code true} when a new certificate was loaded. */
    synchronized boolean check() {
        Optional<Pair> read = read();
        if (read.isEmpty()) {
            return false;
        }
        Pair pair = read.get();
        if (Arrays.equals(pair.fingerprint(), loaded)) {
            return false;
        }
        Optional<X509Certificate> certificate = validate(pair);
        if (certificate.isEmpty()) {
            return false;
        }
        TlsConfiguration tls = registry.get(TLS_CONFIGURATION).orElseThrow();
        if (!tls.reload()) {
            LOG.warnf("Webhook certificate in %s changed but the TLS registry could not reload it; retrying",
                    config.webhook().certDir());
            return false;
        }
        // If the files changed again between our read and the registry's, the fingerprint differs on the next tick
        // and that pair is loaded then: we never record a pair we did not validate.
        loaded = pair.fingerprint();
        certificateUpdated.fire(new CertificateUpdatedEvent(TLS_CONFIGURATION, tls));
        X509Certificate c = certificate.get();
        LOG.infof("Webhook certificate reloaded from %s: %s, serial %s, valid until %s", config.webhook().certDir(),
                c.getSubjectX500Principal().getName(), c.getSerialNumber().toString(16), c.getNotAfter().toInstant());
        return true;
    }

    /**
     * The fingerprint of the files at startup if they hold the certificate the TLS registry loaded at startup;
     * otherwise (they rotated in between, or the comparison is not possible) null, so the first tick loads them.
     */
    private byte[] fingerprintOfTheLoadedPair() {
        try {
            Optional<Pair> pair = read();
            KeyStore store = registry.get(TLS_CONFIGURATION).orElseThrow().getKeyStore();
            if (pair.isEmpty() || store == null) {
                return null;
            }
            Optional<X509Certificate> onDisk = validate(pair.get());
            for (String alias : Collections.list(store.aliases())) {
                if (onDisk.isPresent() && onDisk.get().equals(store.getCertificate(alias))) {
                    return pair.get().fingerprint();
                }
            }
            return null;
        } catch (GeneralSecurityException | RuntimeException e) {
            return null;
        }
    }

    private Optional<Pair> read() {
        Path dir = Path.of(config.webhook().certDir());
        try {
            return Optional.of(new Pair(Files.readAllBytes(dir.resolve("tls.crt")),
                    Files.readAllBytes(dir.resolve("tls.key"))));
        } catch (IOException e) {
            // Mid-rotation or a transient mount problem: the server keeps the pair it has.
            LOG.debugf("Webhook certificate files in %s not readable now: %s", dir, e);
            return Optional.empty();
        }
    }

    /** The certificate when the key parses and belongs to it; empty (logged once per pair) otherwise. */
    private Optional<X509Certificate> validate(Pair pair) {
        try {
            // Vert.x's own PEM loader: the same parsing the server does (PKCS#8, PKCS#1 RSA and SEC1 EC keys).
            KeyStore store = new PemKeyCertOptions().setCertValue(Buffer.buffer(pair.certificate()))
                    .setKeyValue(Buffer.buffer(pair.key())).loadKeyStore(vertx);
            for (String alias : Collections.list(store.aliases())) {
                if (store.isKeyEntry(alias)) {
                    PrivateKey key = (PrivateKey) store.getKey(alias, KeyStoreHelper.DUMMY_PASSWORD.toCharArray());
                    Certificate[] chain = store.getCertificateChain(alias);
                    if (chain != null && chain.length > 0 && chain[0] instanceof X509Certificate leaf
                            && belongTogether(key, leaf)) {
                        return Optional.of(leaf);
                    }
                }
            }
            return refuse(pair, "the key in tls.key does not belong to the certificate in tls.crt");
        } catch (Exception e) {
            return refuse(pair, e.toString());
        }
    }

    private Optional<X509Certificate> refuse(Pair pair, String why) {
        if (!Arrays.equals(pair.fingerprint(), refused)) {
            refused = pair.fingerprint();
            LOG.warnf("Webhook certificate in %s changed but is not loaded (yet), the server keeps the current one: %s",
                    config.webhook().certDir(), why);
        }
        return Optional.empty();
    }

    /** Signs with the key and verifies with the certificate's public key. */
    private static boolean belongTogether(PrivateKey key, X509Certificate certificate) throws GeneralSecurityException {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> key.getAlgorithm(); // Ed25519, Ed448, EdDSA
        };
        byte[] probe = "lbmode-webhook-certificate-check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (NoSuchAlgorithmException unusualKeyType) {
            return true; // it parsed, which is all we can check for a key type the JDK cannot sign with
        }
    }

    private record Pair(byte[] certificate, byte[] key) {
        byte[] fingerprint() {
            try {
                MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
                // Length-prefixed, so moving bytes from one file to the other changes the fingerprint.
                sha256.update(ByteBuffer.allocate(Integer.BYTES).putInt(certificate.length).array());
                sha256.update(certificate);
                sha256.update(key);
                return sha256.digest();
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
