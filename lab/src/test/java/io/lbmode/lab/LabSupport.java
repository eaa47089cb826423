package io.lbmode.lab;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Lab tests need root; outside CI they are skipped with the reason, in CI ({@code CI=true}) a skip is a failure. */
public final class LabSupport {
    private LabSupport() {
    }

    public static void requireRoot() {
        boolean root = "root".equals(System.getProperty("user.name"));
        if (!root && "true".equalsIgnoreCase(System.getenv("CI"))) {
            fail("lab tests need root (network namespaces, nftables) and CI runs as root: run the build as root");
        }
        assumeTrue(root, "lab tests need root (network namespaces, nftables): run as root to include them");
    }
}
