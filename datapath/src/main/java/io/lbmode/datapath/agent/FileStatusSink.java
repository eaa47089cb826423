package io.lbmode.datapath.agent;

import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.yaml.KubeYaml;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Standalone status: {@code DIR/.status/nodedataplane-NODE.yaml}, replaced atomically (write + rename). */
final class FileStatusSink implements StatusSink {
    private final Path file;

    FileStatusSink(Path stateDir, String node) {
        this.file = stateDir.resolve(".status").resolve("nodedataplane-" + node + ".yaml");
    }

    Path file() {
        return file;
    }

    @Override
    public void publish(NodeDataplane ndp) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, KubeYaml.toYaml(ndp), StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
