package io.lbmode.yaml;

/**
 * Input that is not usable as a Kubernetes document: not YAML, too large, too deep, an alias, or a field of the
 * wrong type. The message is meant for users: it names the line or field path and says what to fix.
 */
public class KubeYamlException extends Exception {
    public KubeYamlException(String message) {
        super(message);
    }

    public KubeYamlException(String message, Throwable cause) {
        super(message, cause);
    }
}
