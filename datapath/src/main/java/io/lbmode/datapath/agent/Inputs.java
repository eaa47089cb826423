package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.lbmode.datapathconfig.DatapathConfig;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What a source (state dir or informers) currently knows: the agent's only input.
 *
 * @param config   cluster configuration; absent until the ConfigMap/Cluster is known
 * @param problem  why the objects could not be read (a YAML error naming the file); empty when fine
 */
public record Inputs(Optional<DatapathConfig> config, List<Node> nodes, List<Service> services,
                     List<EndpointSlice> endpointSlices, Optional<String> problem) {
    public Inputs {
        Objects.requireNonNull(config, "config");
        nodes = List.copyOf(nodes);
        services = List.copyOf(services);
        endpointSlices = List.copyOf(endpointSlices);
        Objects.requireNonNull(problem, "problem");
    }
}
