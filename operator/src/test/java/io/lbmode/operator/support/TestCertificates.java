package io.lbmode.operator.support;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Real X.509 material for the webhook tests: a test CA and server certificates for {@code localhost} and
 * {@code 127.0.0.1} signed by it, written as the files of a Kubernetes TLS Secret ({@code tls.crt}, {@code tls.key}).
 */
public final class TestCertificates {
    private static final SecureRandom RANDOM = new SecureRandom();

    public record Issued(X509Certificate certificate, PrivateKey key) {
    }

    private TestCertificates() {
    }

    public static Issued ca() {
        KeyPair keys = keyPair();
        X500Name name = new X500Name("CN=lbmode test CA");
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, serial(),
                    Date.from(Instant.now().minus(Duration.ofHours(1))), Date.from(Instant.now().plus(Duration.ofDays(2))),
                    name, keys.getPublic());
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            return new Issued(sign(builder, keys.getPrivate()), keys.getPrivate());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A server certificate for localhost signed by {@code ca}; {@code cn} tells two of them apart. */
    public static Issued server(Issued ca, String cn) {
        KeyPair keys = keyPair();
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(ca.certificate(), serial(),
                    Date.from(Instant.now().minus(Duration.ofHours(1))), Date.from(Instant.now().plus(Duration.ofDays(1))),
                    new X500Name("CN=" + cn), keys.getPublic());
            builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[]{
                    new GeneralName(GeneralName.dNSName, "localhost"),
                    new GeneralName(GeneralName.iPAddress, "127.0.0.1")}));
            builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            return new Issued(sign(builder, ca.key()), keys.getPrivate());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes tls.crt and tls.key into {@code dir}, each by an atomic rename as the kubelet's Secret volume does. */
    public static void writeSecret(Path dir, Issued server) {
        try {
            Files.createDirectories(dir);
            replace(dir.resolve("tls.key"), pem(new JcaPKCS8Generator(server.key(), null)));
            replace(dir.resolve("tls.crt"), pem(server.certificate()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void writePem(Path file, Object object) {
        try {
            Files.createDirectories(file.getParent());
            replace(file, pem(object));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void writeKey(Path file, PrivateKey key) {
        try {
            Files.createDirectories(file.getParent());
            replace(file, pem(new JcaPKCS8Generator(key, null)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static X509Certificate readCertificate(Path file) {
        try (var in = Files.newInputStream(file)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot read certificate " + file, e);
        }
    }

    public static PrivateKey readKey(Path file) {
        try (var parser = new org.bouncycastle.openssl.PEMParser(Files.newBufferedReader(file))) {
            Object object = parser.readObject();
            var info = (org.bouncycastle.asn1.pkcs.PrivateKeyInfo) object;
            return new org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter().getPrivateKey(info);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void replace(Path file, String content) throws IOException {
        Path tmp = Files.createTempFile(file.getParent(), ".tmp", ".pem");
        Files.writeString(tmp, content);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static String pem(Object object) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(object);
        }
        return out.toString();
    }

    private static KeyPair keyPair() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static BigInteger serial() {
        return new BigInteger(64, RANDOM).abs().add(BigInteger.ONE);
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey key) {
        try {
            var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(key);
            return new JcaX509CertificateConverter().getCertificate(builder.build(signer));
        } catch (Exception e) {
            throw new IllegalStateException("cannot sign test certificate", e);
        }
    }
}
