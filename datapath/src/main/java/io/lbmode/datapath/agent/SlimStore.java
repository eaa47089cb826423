package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import io.lbmode.datapath.model.NodeStateBuilder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * An informer's cache that keeps only what {@link NodeStateBuilder} reads: objects lose their managed fields,
 * annotations (but a Service's source-range annotation), owner references and (Services) labels and conditions, (EndpointSlices) every label but the
 * Service name and each endpoint's target reference, hints and topology. At 10,000 Services the full objects
 * were most of the agent's heap (the managed fields alone are larger than the rest of an object).
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

    /** Drops (in place) what the desired state never reads; returns {@code obj}. */
    static <T extends HasMetadata> T slim(T obj) {
        ObjectMeta m = obj.getMetadata();
        if (m != null) {
            m.setManagedFields(null);
            // The one annotation the desired state reads (source ranges, as kube-proxy reads them when the field is empty).
            String ranges = m.getAnnotations() == null ? null : m.getAnnotations().get(NodeStateBuilder.SOURCE_RANGES_ANNOTATION);
            m.setAnnotations(ranges == null || !(obj instanceof Service) ? null : Map.of(NodeStateBuilder.SOURCE_RANGES_ANNOTATION, ranges));
            m.setOwnerReferences(null);
            m.setFinalizers(null);
            if (!(obj instanceof Service)) {
                m.setCreationTimestamp(null); // a Service keeps it: the older of two claiming one VIP:port keeps it
            }
            m.setGenerateName(null);
        }
        switch (obj) {
            case Service s -> {
                if (m != null) {
                    m.setLabels(null);
                }
                if (s.getStatus() != null) {
                    s.getStatus().setConditions(null);
                }
                if (s.getSpec() != null) {
                    s.getSpec().setSelector(null);
                }
            }
            case EndpointSlice e -> {
                if (m != null && m.getLabels() != null) {
                    String svc = m.getLabels().get(NodeStateBuilder.SERVICE_NAME_LABEL);
                    m.setLabels(svc == null ? null : Map.of(NodeStateBuilder.SERVICE_NAME_LABEL, svc));
                }
                if (e.getEndpoints() != null) {
                    for (Endpoint ep : e.getEndpoints()) {
                        ep.setTargetRef(null);
                        ep.setHints(null);
                        ep.setDeprecatedTopology(null);
                        ep.setZone(null);
                    }
                }
            }
            default -> {
            }
        }
        dropAdditionalProperties(obj);
        return obj;
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
                    for (Endpoint ep : e.getEndpoints()) {
                        ep.setAdditionalProperties(none);
                        if (ep.getConditions() != null) {
                            ep.getConditions().setAdditionalProperties(none);
                        }
                    }
                }
            }
            default -> {
            }
        }
    }
}
