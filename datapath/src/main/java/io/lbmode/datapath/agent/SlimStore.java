package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LoadBalancerIngress;
import io.fabric8.kubernetes.api.model.LoadBalancerStatus;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceSpec;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointConditions;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import io.lbmode.datapath.model.NodeStateBuilder;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * An informer's cache that keeps only what {@link NodeStateBuilder} reads: objects lose their managed fields,
 * annotations (but a Service's source-range annotation), owner references and (Services) labels and conditions, (EndpointSlices) every label but the
 * Service name and each endpoint's target reference, hints and topology (the full list: {@link #slim}), and what
 * stays is compacted. At 10,000 Services the full objects were most of the agent's heap (the managed fields alone
 * are larger than the rest of an object); slimmed, a Service and its slice of 4 endpoints hold 15% of the heap they
 * held as deserialised ({@code SlimStoreFootprintTest}).
 */
final class SlimStore<T extends HasMetadata> implements ItemStore<T> {
    private final ConcurrentHashMap<String, T> items = new ConcurrentHashMap<>();

    @Override
    public String getKey(T obj) {
        return Cache.metaNamespaceKeyFunc(obj);
    }

    @Override
    public T put(String key, T obj) {
        return items.put(key, slim(obj));
    }

    @Override
    public T remove(String key) {
        return items.remove(key);
    }

    @Override
    public Stream<String> keySet() {
        return items.keySet().stream();
    }

    @Override
    public Stream<T> values() {
        return items.values().stream();
    }

    @Override
    public int size() {
        return items.size();
    }

    @Override
    public T get(String key) {
        return items.get(key);
    }

    /**
     * Drops (in place) what the desired state never reads and compacts what stays; returns {@code obj}. Kept: a
     * Service's namespace, name, uid (its Events), resourceVersion, creationTimestamp (the older of two claiming one
     * VIP:port keeps it), source-range annotation and the spec and status fields {@link NodeStateBuilder} reads; an
     * EndpointSlice's namespace, name, resourceVersion, service-name label, address type, ports and each endpoint's
     * addresses, conditions and node name.
     */
    static <T extends HasMetadata> T slim(T obj) {
        ObjectMeta m = obj.getMetadata();
        if (m != null) {
            m.setManagedFields(null);
            // The one annotation the desired state reads (source ranges, as kube-proxy reads them when the field is empty).
            String ranges = m.getAnnotations() == null ? null : m.getAnnotations().get(NodeStateBuilder.SOURCE_RANGES_ANNOTATION);
            m.setAnnotations(ranges == null || !(obj instanceof Service) ? null : Map.of(NodeStateBuilder.SOURCE_RANGES_ANNOTATION, ranges));
            m.setOwnerReferences(null);
            m.setFinalizers(null);
            m.setGeneration(null);
            if (!(obj instanceof Service)) {
                m.setCreationTimestamp(null); // a Service keeps it: the older of two claiming one VIP:port keeps it
                m.setUid(null); // a Service keeps it: the Events about it name it
            }
            m.setGenerateName(null);
            m.setNamespace(shared(m.getNamespace()));
            if (obj instanceof Service) {
                m.setName(shared(m.getName())); // also its slices' service-name label: one string
            }
        }
        switch (obj) {
            case Service s -> {
                if (m != null) {
                    m.setLabels(null);
                }
                if (s.getStatus() != null) {
                    s.getStatus().setConditions(null);
                    LoadBalancerStatus lb = s.getStatus().getLoadBalancer();
                    if (lb != null && lb.getIngress() != null) {
                        for (LoadBalancerIngress ingress : lb.getIngress()) {
                            ingress.setIpMode(null);
                            ingress.setHostname(null);
                            ingress.setPorts(null);
                        }
                        lb.setIngress(compact(lb.getIngress()));
                    }
                }
                if (s.getSpec() != null) {
                    slimSpec(s.getSpec());
                }
            }
            case EndpointSlice e -> {
                if (m != null && m.getLabels() != null) {
                    String svc = shared(m.getLabels().get(NodeStateBuilder.SERVICE_NAME_LABEL));
                    m.setLabels(svc == null ? null : Map.of(NodeStateBuilder.SERVICE_NAME_LABEL, svc));
                }
                e.setAddressType(shared(e.getAddressType()));
                if (e.getPorts() != null) {
                    for (EndpointPort p : e.getPorts()) {
                        p.setAppProtocol(null);
                        p.setName(shared(p.getName()));
                        p.setProtocol(shared(p.getProtocol()));
                    }
                    e.setPorts(compact(e.getPorts()));
                }
                if (e.getEndpoints() != null) {
                    for (Endpoint ep : e.getEndpoints()) {
                        ep.setTargetRef(null);
                        ep.setHints(null);
                        ep.setDeprecatedTopology(null);
                        ep.setZone(null);
                        ep.setHostname(null);
                        ep.setNodeName(shared(ep.getNodeName()));
                        ep.setAddresses(compact(ep.getAddresses()));
                        ep.setConditions(shared(ep.getConditions()));
                    }
                    e.setEndpoints(compact(e.getEndpoints()));
                }
            }
            default -> {
            }
        }
        dropAdditionalProperties(obj);
        return obj;
    }

    private static void slimSpec(ServiceSpec spec) {
        spec.setSelector(null);
        spec.setClusterIP(null);
        spec.setClusterIPs(null);
        spec.setIpFamilies(null);
        spec.setIpFamilyPolicy(null);
        spec.setHealthCheckNodePort(null);
        spec.setAllocateLoadBalancerNodePorts(null);
        spec.setPublishNotReadyAddresses(null);
        spec.setExternalName(null);
        spec.setType(shared(spec.getType()));
        spec.setSessionAffinity(shared(spec.getSessionAffinity()));
        spec.setExternalTrafficPolicy(shared(spec.getExternalTrafficPolicy()));
        spec.setInternalTrafficPolicy(shared(spec.getInternalTrafficPolicy()));
        spec.setTrafficDistribution(shared(spec.getTrafficDistribution()));
        spec.setLoadBalancerClass(shared(spec.getLoadBalancerClass()));
        spec.setExternalIPs(compact(spec.getExternalIPs()));
        spec.setLoadBalancerSourceRanges(compact(spec.getLoadBalancerSourceRanges()));
        if (spec.getPorts() != null) {
            for (io.fabric8.kubernetes.api.model.ServicePort p : spec.getPorts()) {
                p.setNodePort(null);
                p.setAppProtocol(null);
                p.setName(shared(p.getName()));
                p.setProtocol(shared(p.getProtocol()));
                if (p.getTargetPort() != null && p.getTargetPort().getStrVal() != null) {
                    p.setTargetPort(new IntOrString(shared(p.getTargetPort().getStrVal())));
                }
            }
            spec.setPorts(compact(spec.getPorts()));
        }
    }

    /**
     * One instance per text for the strings thousands of objects repeat (namespaces, protocols, policies, port and node
     * names, a Service's name and its slices' label): the JVM's string table holds them weakly, so a string no object
     * uses any more is collected.
     */
    private static String shared(String s) {
        return s == null ? null : s.intern();
    }

    /**
     * A list the size of its elements: the deserialiser's lists keep room for ten (an ArrayList and its array, 80
     * bytes for one address against 16). Unmodifiable, which nothing minds: the agent never writes the cached objects.
     */
    private static <E> List<E> compact(List<E> list) {
        if (list == null) {
            return null;
        }
        for (E e : list) {
            if (e == null) {
                return list; // List.copyOf refuses nulls (and an unmodifiable list's contains(null) throws)
            }
        }
        return List.copyOf(list); // a list it made before is returned as it is

    }

    /** The conditions of 40,000 endpoints are a handful of combinations: one shared (never written) object each. */
    private static final ConcurrentHashMap<List<Optional<Boolean>>, EndpointConditions> CONDITIONS = new ConcurrentHashMap<>();

    private static EndpointConditions shared(EndpointConditions c) {
        if (c == null) {
            return null;
        }
        var key = List.of(Optional.ofNullable(c.getReady()), Optional.ofNullable(c.getServing()), Optional.ofNullable(c.getTerminating()));
        return CONDITIONS.computeIfAbsent(key, k -> {
            EndpointConditions one = new EndpointConditions(c.getReady(), c.getServing(), c.getTerminating());
            one.setAdditionalProperties(Map.of());
            return one;
        });
    }

    /**
     * Every fabric8 model object carries its own map for unknown fields (empty here, but an object each: about a
     * quarter of a slimmed object's heap); the slimmed objects share one empty map instead. Nothing adds fields later:
     * only deserialisation does, before this runs.
     */
    private static void dropAdditionalProperties(HasMetadata obj) {
        Map<String, Object> none = Map.of();
        if (obj.getMetadata() != null) {
            obj.getMetadata().setAdditionalProperties(none);
        }
        switch (obj) {
            case Service s -> {
                s.setAdditionalProperties(none);
                if (s.getSpec() != null) {
                    s.getSpec().setAdditionalProperties(none);
                    if (s.getSpec().getPorts() != null) {
                        s.getSpec().getPorts().forEach(p -> p.setAdditionalProperties(none));
                    }
                }
                if (s.getStatus() != null) {
                    s.getStatus().setAdditionalProperties(none);
                    if (s.getStatus().getLoadBalancer() != null) {
                        s.getStatus().getLoadBalancer().setAdditionalProperties(none);
                        if (s.getStatus().getLoadBalancer().getIngress() != null) {
                            s.getStatus().getLoadBalancer().getIngress().forEach(i -> i.setAdditionalProperties(none));
                        }
                    }
                }
            }
            case EndpointSlice e -> {
                e.setAdditionalProperties(none);
                if (e.getPorts() != null) {
                    e.getPorts().forEach(p -> p.setAdditionalProperties(none));
                }
                if (e.getEndpoints() != null) {
                    e.getEndpoints().forEach(ep -> ep.setAdditionalProperties(none)); // the conditions are shared()
                }
            }
            default -> {
            }
        }
    }
}
