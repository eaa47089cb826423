package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.lbmode.datapath.model.DesiredState;
import io.lbmode.datapathconfig.DatapathConfig;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What a source (state dir or informers) currently knows: the agent's only input.
 *
 * @param config   cluster configuration; absent until the ConfigMap/Cluster is known
 * @param nodes    the Nodes the source knows (in a cluster, this agent's own)
 * @param objects  the Services and EndpointSlices: all of them, or those changed since the source's last read
 * @param problem  why the objects could not be read (a YAML error naming the file); empty when fine
 */
public record Inputs(Optional<DatapathConfig> config, List<Node> nodes, ServiceObjects objects, Optional<String> problem) {
    public Inputs {
        Objects.requireNonNull(config, "config");
        nodes = List.copyOf(nodes);
        Objects.requireNonNull(objects, "objects");
        Objects.requireNonNull(problem, "problem");
    }

    /** A full read: every Service and EndpointSlice there is. */
    public Inputs(Optional<DatapathConfig> config, List<Node> nodes, List<Service> services, List<EndpointSlice> endpointSlices,
                  Optional<String> problem) {
        this(config, nodes, new Every(services, endpointSlices), problem);
    }

    /** The Services and EndpointSlices a source hands over. */
    public sealed interface ServiceObjects permits Every, Changed {
    }

    /** Every object there is: what the agent held and is not listed here is gone. */
    public record Every(List<Service> services, List<EndpointSlice> endpointSlices) implements ServiceObjects {
        public Every {
            services = List.copyOf(services);
            endpointSlices = List.copyOf(endpointSlices);
        }
    }

    /**
     * The objects changed since the source's previous read, by {@link #keyOf}: the object as it is now, or
     * empty when it was deleted. The informers' way: a change costs what changed, not the number of objects.
     */
    public record Changed(Map<String, Optional<Service>> services, Map<String, Optional<EndpointSlice>> endpointSlices)
            implements ServiceObjects {
        public Changed {
            services = Map.copyOf(services);
            endpointSlices = Map.copyOf(endpointSlices);
        }

        /**
         * The key of a Service or EndpointSlice in a change set, whichever source hands it over: {@code namespace/name},
         * namespace {@code default} when empty (a state dir's documents may leave it out; the API server never does, so
         * in a cluster this is the informer store's own key). The desired state holds Services under the same key.
         */
        public static String keyOf(HasMetadata object) {
            return DesiredState.serviceKey(object.getMetadata().getNamespace(), object.getMetadata().getName());
        }
    }

    /** The Services of a full read (a state directory's); a change set has no such list. */
    public List<Service> services() {
        return every().services();
    }

    /** The EndpointSlices of a full read (a state directory's); a change set has no such list. */
    public List<EndpointSlice> endpointSlices() {
        return every().endpointSlices();
    }

    private Every every() {
        if (objects instanceof Every every) {
            return every;
        }
        throw new IllegalStateException("these inputs hold the objects changed since the last read, not every object");
    }
}
