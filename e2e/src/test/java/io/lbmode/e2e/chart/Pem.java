package io.lbmode.e2e.chart;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** PEM parsing with java.security only: certificates, and the PKCS#1 RSA keys Helm's genSignedCert writes. */
final class Pem {

    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z ]+)-----\\s*([A-Za-z0-9+/=\\s]+?)-----END \\1-----");

    private Pem() {
    }

    static List<X509Certificate> certificates(String pem) throws GeneralSecurityException {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        return blocks(pem, "CERTIFICATE").stream().map(der -> {
            try {
                return (X509Certificate) factory.generateCertificate(new ByteArrayInputStream(der));
            } catch (GeneralSecurityException e) {
                throw new IllegalArgumentException("not an X.509 certificate: " + e.getMessage(), e);
            }
        }).toList();
    }

    static PrivateKey privateKey(String pem) throws GeneralSecurityException {
        Matcher m = BLOCK.matcher(pem);
        if (!m.find()) {
            throw new IllegalArgumentException("no PEM block in the key");
        }
        byte[] der = Base64.getMimeDecoder().decode(m.group(2));
        return switch (m.group(1)) {
            case "PRIVATE KEY" -> KeyFactory.getInstance(guessAlgorithm(der)).generatePrivate(new PKCS8EncodedKeySpec(der));
            case "RSA PRIVATE KEY" -> KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(rsaPkcs1ToPkcs8(der)));
            case "EC PRIVATE KEY" -> throw new IllegalArgumentException("SEC1 EC keys are not expected from the chart");
            default -> throw new IllegalArgumentException("unexpected PEM block " + m.group(1));
        };
    }

    private static String guessAlgorithm(byte[] pkcs8) {
        // rsaEncryption OID 1.2.840.113549.1.1.1 appears in the AlgorithmIdentifier of RSA keys.
        byte[] rsaOid = {0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01};
        return indexOf(pkcs8, rsaOid) >= 0 ? "RSA" : "EC";
    }

    /** Wraps a PKCS#1 RSAPrivateKey into PKCS#8: SEQUENCE { 0, AlgorithmIdentifier(rsaEncryption, NULL), OCTET STRING }. */
    static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
        byte[] version = {0x02, 0x01, 0x00};
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01,
                0x01, 0x01, 0x05, 0x00};
        byte[] octets = tlv(0x04, pkcs1);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(version);
        body.writeBytes(algorithm);
        body.writeBytes(octets);
        return tlv(0x30, body.toByteArray());
    }

    private static byte[] tlv(int tag, byte[] value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int length = value.length;
        if (length < 0x80) {
            out.write(length);
        } else {
            int bytes = (32 - Integer.numberOfLeadingZeros(length) + 7) / 8;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(length >>> (8 * i));
            }
        }
        out.writeBytes(value);
        return out.toByteArray();
    }

    private static List<byte[]> blocks(String pem, String type) {
        Matcher m = BLOCK.matcher(pem);
        List<byte[]> blocks = new java.util.ArrayList<>();
        while (m.find()) {
            if (m.group(1).equals(type)) {
                blocks.add(Base64.getMimeDecoder().decode(m.group(2)));
            }
        }
        if (blocks.isEmpty()) {
            throw new IllegalArgumentException("no " + type + " block in:\n" + pem);
        }
        return blocks;
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
