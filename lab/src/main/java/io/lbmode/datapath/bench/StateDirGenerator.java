package io.lbmode.datapath.bench;

import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a state dir with a Cluster, a Node "bench" and N LoadBalancer Services with K endpoints each (for the RSS
 * benchmark). usage: {@code StateDirGenerator DIR N K [snat|dsr]} (the Cluster's forwardMode, default snat).
 */
public final class StateDirGenerator {
    private StateDirGenerator() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        int n = Integer.parseInt(args[1]);
        int k = Integer.parseInt(args[2]);
        io.lbmode.crds.cluster.v1.ForwardMode mode = args.length > 3 && args[3].equals("dsr")
                ? io.lbmode.crds.cluster.v1.ForwardMode.DSR : io.lbmode.crds.cluster.v1.ForwardMode.SNAT;
        Files.createDirectories(dir);
        // The VIPs (KubeProxyLayout.vip) go beyond the lab's pool: the agent programs only VIPs from the Cluster's pools.
        Files.writeString(dir.resolve("cluster.yaml"), io.lbmode.datapath.fixtures.LabObjects.cluster(mode)
                .replace("addresses: [172.16.20.0/24]", "addresses: [172.16.0.0/12]")
                + "---\napiVersion: v1\nkind: Node\nmetadata: {name: bench}\nstatus:\n  addresses: [{type: InternalIP, address: 10.0.0.10}]\n");
        // Several files: KubeYaml caps one file at 3 MB.
        int perFile = 2000;
        for (int f = 0; f * perFile < n; f++) {
            try (Writer w = Files.newBufferedWriter(dir.resolve("services-" + f + ".yaml"))) {
                for (int i = f * perFile; i < Math.min(n, (f + 1) * perFile); i++) {
                    w.write("---\napiVersion: v1\nkind: Service\nmetadata: {name: s" + i + ", namespace: default}\n"
                            + "spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP, targetPort: 8080}]}\n"
                            + "status: {loadBalancer: {ingress: [{ip: " + KubeProxyLayout.vip(i).getHostAddress() + "}]}}\n"
                            + "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s" + i
                            + "-1, namespace: default, labels: {kubernetes.io/service-name: s" + i + "}}\naddressType: IPv4\n"
                            + "ports: [{port: 8080, protocol: TCP}]\nendpoints:\n");
                    for (int e = 0; e < k; e++) {
                        w.write("- {addresses: [" + KubeProxyLayout.endpoint(i, e, 0).getHostAddress() + "], nodeName: w, conditions: {ready: true}}\n");
                    }
                }
            }
        }
    }
}
