package io.lbmode.e2e.k3s;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.exception.NotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.testcontainers.DockerClientFactory;

/**
 * The two lbmode images, built by images/build.sh into the local Docker engine under a registry name that never
 * resolves ({@value #REGISTRY}), then saved as tarballs k3s imports at start (pull policy Never in the chart).
 */
final class LbmodeImages {

    static final String REGISTRY = "lbmode.local";
    static final String TAG = "e2e";
    static final String OPERATOR = REGISTRY + "/lbmode-operator:" + TAG;
    static final String DATAPATH = REGISTRY + "/lbmode-datapath:" + TAG;

    private LbmodeImages() {
    }

    /** Builds the images with images/build.sh unless both are already in the Docker engine. */
    static void ensureBuilt(Path root) throws IOException, InterruptedException {
        DockerClient docker = DockerClientFactory.instance().client();
        if (present(docker, OPERATOR) && present(docker, DATAPATH)) {
            return;
        }
        boolean jarsBuilt = Files.exists(root.resolve("operator/target/quarkus-app/quarkus-run.jar"))
                && Files.exists(root.resolve("datapath/target/lbmode-datapath.jar"));
        List<String> command = new java.util.ArrayList<>(List.of("bash", root.resolve("images/build.sh").toString(),
                "--registry", REGISTRY, "--tag", TAG));
        if (jarsBuilt) {
            command.add("--skip-maven");
        }
        Process build = new ProcessBuilder(command).directory(root.toFile()).inheritIO().start();
        if (!build.waitFor(20, TimeUnit.MINUTES) || build.exitValue() != 0) {
            throw new IllegalStateException("images/build.sh failed (" + String.join(" ", command) + "); run it by hand "
                    + "to see why");
        }
    }

    /** {@code docker save IMAGE > dir/NAME.tar}, returns the file. */
    static Path save(String image, Path dir) throws IOException {
        Files.createDirectories(dir);
        Path tar = dir.resolve(image.substring(image.lastIndexOf('/') + 1).replace(':', '-') + ".tar");
        try (InputStream in = DockerClientFactory.instance().client().saveImageCmd(image).exec()) {
            Files.copy(in, tar, StandardCopyOption.REPLACE_EXISTING);
        }
        return tar;
    }

    private static boolean present(DockerClient docker, String image) {
        try {
            docker.inspectImageCmd(image).exec();
            return true;
        } catch (NotFoundException e) {
            return false;
        }
    }
}
