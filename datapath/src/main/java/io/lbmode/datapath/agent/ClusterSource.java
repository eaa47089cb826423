package io.lbmode.datapath.agent;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplane;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus;
import io.lbmode.datapathconfig.DatapathConfig;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HexFormat;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * In-cluster source: informers on ConfigMap {@code lbmode-datapath} (in the agent's namespace), this node's Node,
 * every Service and every EndpointSlice (cached without what the agent never reads). Any event calls {@code onChange}.
 * {@link #read()} hands over every Service and EndpointSlice the first time, after that only those changed since the
 * previous read: the keys the events named, each as the cache holds it now (or deleted).
 */
final class ClusterSource implements AutoCloseable {
    private final List<SharedIndexInformer<?>> informers = new ArrayList<>();
    private final SharedIndexInformer<ConfigMap> configMaps;
    private final SharedIndexInformer<Node> nodes;
    private final SharedIndexInformer<Service> services;
    private final SharedIndexInformer<EndpointSlice> slices;

    /** Objects per page of an informer's first list (and of each re-list), as kubectl get pages by default. */
    static final long LIST_PAGE = 500;

    ClusterSource(KubernetesClient client, String namespace, String node, Runnable onChange) {
        ResourceEventHandler<HasMetadata> handler = calling(onChange, o -> { }, o -> { }, o -> { });
        ResourceEventHandler<HasMetadata> configMapHandler = calling(onChange,
                o -> configMapDeleted = false, o -> { }, o -> configMapDeleted = true);
        ResourceEventHandler<HasMetadata> serviceHandler = noting(changedServices, onChange);
        ResourceEventHandler<HasMetadata> sliceHandler = noting(changedSlices, onChange);
        configMaps = add(client.configMaps().inNamespace(namespace).withName(DatapathConfig.CONFIG_MAP_NAME).inform(handler(configMapHandler)));
        nodes = add(client.nodes().withName(node).inform(handler(handler)));
        // Services and EndpointSlices are cached slimmed (SlimStore): at 10,000 Services they are most of the heap. The
        // first list comes in pages, so that no more than a page of full objects is in the heap before slimming.
        // Without the informers' namespace index (a set of every key per namespace): the agent reads its caches by key
        // and as a whole, never by namespace.
        services = add(client.services().inAnyNamespace().withLimit(LIST_PAGE).runnableInformer(0).removeNamespaceIndex()
                .itemStore(new SlimStore<>()).addEventHandler(handler(serviceHandler)));
        slices = add(client.discovery().v1().endpointSlices().inAnyNamespace().withLimit(LIST_PAGE).runnableInformer(0)
                .removeNamespaceIndex().itemStore(new SlimStore<>()).addEventHandler(handler(sliceHandler)));
        services.run();
        slices.run();
    }

    /** A handler that runs {@code onChange} on every event, after {@code onAdd}, {@code onUpdate} or {@code onDelete}. */
    private static ResourceEventHandler<HasMetadata> calling(Runnable onChange, Consumer<HasMetadata> onAdd,
                                                             Consumer<HasMetadata> onUpdate, Consumer<HasMetadata> onDelete) {
        return new ResourceEventHandler<>() {
            @Override
            public void onAdd(HasMetadata obj) {
                onAdd.accept(obj);
                onChange.run();
            }

            @Override
            public void onUpdate(HasMetadata oldObj, HasMetadata newObj) {
                onUpdate.accept(newObj);
                onChange.run();
            }

            @Override
            public void onDelete(HasMetadata obj, boolean deletedFinalStateUnknown) {
                onDelete.accept(obj);
                onChange.run();
            }
        };
    }

    /** A handler that notes the key of every object it hears of in {@code keys}, then runs {@code onChange}. */
    private static ResourceEventHandler<HasMetadata> noting(Set<String> keys, Runnable onChange) {
        Consumer<HasMetadata> note = o -> keys.add(Inputs.Changed.keyOf(o));
        return calling(onChange, note, note, note);
    }

    /**
     * Keys ({@code namespace/name}) of the Services and EndpointSlices changed since the last read. An event comes
     * after the cache holds the change, so a key noted is read as the cache holds it then (or later).
     */
    private final Set<String> changedServices = ConcurrentHashMap.newKeySet();
    private final Set<String> changedSlices = ConcurrentHashMap.newKeySet();
    /** Whether {@link #read()} handed over every object once (the agent's thread only). */
    private boolean everyObjectRead;

    @SuppressWarnings("unchecked")
    private static <T extends HasMetadata> ResourceEventHandler<T> handler(ResourceEventHandler<HasMetadata> h) {
        return (ResourceEventHandler<T>) (ResourceEventHandler<?>) h;
    }

    private <T> SharedIndexInformer<T> add(SharedIndexInformer<T> informer) {
        informers.add(informer);
        return informer;
    }

    /** Whether the ConfigMap was deleted after this agent had seen it (and not created again since). */
    private volatile boolean configMapDeleted;

    boolean configMapDeleted() {
        return configMapDeleted;
    }

    Inputs read() {
        Optional<DatapathConfig> config = Optional.empty();
        Optional<String> problem = Optional.empty();
        for (ConfigMap cm : configMaps.getStore().list()) {
            try {
                config = Optional.of(DatapathConfig.fromConfigMapData(cm.getData()));
            } catch (IllegalArgumentException e) {
                problem = Optional.of(e.getMessage());
            }
        }
        Inputs.ServiceObjects objects;
        if (!everyObjectRead) {
            // Keys noted from here on are read again next time: at worst the same object twice, which changes nothing.
            changedServices.clear();
            changedSlices.clear();
            objects = new Inputs.Every(services.getStore().list(), slices.getStore().list());
            everyObjectRead = true;
        } else {
            objects = new Inputs.Changed(take(changedServices, services), take(changedSlices, slices));
        }
        return new Inputs(config, nodes.getStore().list(), objects, problem);
    }

    /** Empties {@code keys}: each key with its object as the cache holds it now, empty when deleted. */
    private static <T> Map<String, Optional<T>> take(Set<String> keys, SharedIndexInformer<T> informer) {
        Map<String, Optional<T>> out = new HashMap<>();
        for (Iterator<String> it = keys.iterator(); it.hasNext(); ) {
            String key = it.next();
            it.remove(); // before reading the cache: a change after this is noted again
            out.put(key, Optional.ofNullable(informer.getStore().getByKey(key)));
        }
        return out;
    }

    @Override
    public void close() {
        informers.forEach(SharedIndexInformer::close);
    }

    /**
     * Writes the NodeDataplane: created with its spec when missing (looked for at the first write, when its owner
     * changes and when a status patch finds it gone), status patched after every sync. The agent owns
     * the whole status, so the patch is a JSON merge patch (RFC 7386) that names every status field, with an explicit
     * null for each one this sync has no value for: a merge patch that leaves a field out keeps the stored value, which
     * would keep a {@code lastError} (and DatapathReady=False) forever after one failed sync.
     */
    static StatusSink apiSink(KubernetesClient client, String node) {
        return new StatusSink() {
            /**
             * The owner references the stored NodeDataplane was last seen or written with; null until then and after
             * it was found gone. While they are what this sync would write, a status write is one patch: the read
             * before it cost an API round trip per sync.
             */
            private List<OwnerReference> stored;

            /** The last status patch written: the same again (no-op syncs in a burst of events) is not sent. */
            private String written;

            @Override
            public void publish(NodeDataplane ndp) {
                var resource = client.resources(NodeDataplane.class).withName(ndp.getMetadata().getName());
                String patch = statusPatch(ndp.getStatus());
                if (ndp.getMetadata().getOwnerReferences().equals(stored)) {
                    if (patch.equals(written)) {
                        return;
                    }
                } else {
                    ensure(ndp);
                }
                written = null;
                try {
                    resource.subresource("status").patch(PatchContext.of(PatchType.JSON_MERGE), patch);
                } catch (KubernetesClientException e) {
                    if (e.getCode() != 404) {
                        throw e;
                    }
                    ensure(ndp); // deleted since it was last written: created again
                    resource.subresource("status").patch(PatchContext.of(PatchType.JSON_MERGE), patch);
                }
                written = patch;
            }

            /** Creates the NodeDataplane when missing, or sets its owner references when they differ. */
            private void ensure(NodeDataplane ndp) {
                stored = null;
                var resource = client.resources(NodeDataplane.class).withName(ndp.getMetadata().getName());
                NodeDataplane existing = resource.get();
                if (existing == null) {
                    NodeDataplane created = new NodeDataplane();
                    created.setMetadata(ndp.getMetadata());
                    created.setSpec(ndp.getSpec());
                    client.resources(NodeDataplane.class).resource(created).create();
                } else if (!ndp.getMetadata().getOwnerReferences().equals(existing.getMetadata().getOwnerReferences())) {
                    // Created before the Node was seen (or by an older agent), or its Node was created anew: owned by
                    // the Node of now, so that the garbage collector deletes it with that Node. Its Node deleted: no
                    // owner, so the status that says so stays readable.
                    resource.patch(PatchContext.of(PatchType.JSON), ownerPatch(ndp));
                }
                stored = List.copyOf(ndp.getMetadata().getOwnerReferences());
            }

            @Override
            public void serviceEvent(ServiceEvent event) {
                createEvent(client, node, event, Instant.now());
            }
        };
    }

    /**
     * Creates the Warning Event. Its name is derived from the Service and the message, not from the node: every node's
     * agent finds the same problem, and the first one's Event stands (the others get 409 Conflict, which is fine).
     */
    static void createEvent(KubernetesClient client, String node, StatusSink.ServiceEvent event, Instant now) {
        String time = now.truncatedTo(ChronoUnit.SECONDS).toString();
        Event e = new EventBuilder()
                .withNewMetadata().withNamespace(event.namespace()).withName(eventName(event)).endMetadata()
                .withNewInvolvedObject().withApiVersion("v1").withKind("Service").withNamespace(event.namespace())
                .withName(event.name()).withUid(event.uid().isEmpty() ? null : event.uid()).endInvolvedObject()
                .withType("Warning").withReason(event.reason()).withMessage(event.message())
                .withNewSource().withComponent(EVENT_COMPONENT).withHost(node).endSource()
                .withReportingComponent(EVENT_COMPONENT).withReportingInstance(node)
                .withFirstTimestamp(time).withLastTimestamp(time).withCount(1)
                .build();
        try {
            client.v1().events().inNamespace(event.namespace()).resource(e).create();
        } catch (KubernetesClientException ex) {
            if (ex.getCode() != 409) {
                throw ex;
            }
        }
    }

    static final String EVENT_COMPONENT = "lbmode-datapath";

    /** {@code SERVICE.lbmode-HASH}: unique per Service and message, at most 253 characters. */
    static String eventName(StatusSink.ServiceEvent event) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest((event.reason() + "\n" + event.message() + "\n" + event.uid())
                    .getBytes(StandardCharsets.UTF_8));
            String name = event.name().length() > 200 ? event.name().substring(0, 200) : event.name();
            return name + ".lbmode-" + HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    /** A JSON patch (RFC 6902) that sets {@code metadata.ownerReferences} to the NodeDataplane's, whatever was there. */
    static String ownerPatch(NodeDataplane ndp) {
        var patch = Serialization.jsonMapper().createArrayNode();
        patch.addObject().put("op", "add").put("path", "/metadata/ownerReferences")
                .set("value", Serialization.jsonMapper().valueToTree(ndp.getMetadata().getOwnerReferences()));
        return patch.toString();
    }

    /** {@code {"status": {...}}} with every field of {@link NodeDataplaneStatus}: its value, or null to remove it. */
    static String statusPatch(NodeDataplaneStatus status) {
        ObjectNode fields = Serialization.jsonMapper().valueToTree(status == null ? new NodeDataplaneStatus() : status);
        for (Field field : NodeDataplaneStatus.class.getFields()) {
            if (!Modifier.isStatic(field.getModifiers()) && !fields.has(field.getName())) {
                fields.putNull(field.getName());
            }
        }
        ObjectNode patch = Serialization.jsonMapper().createObjectNode();
        patch.set("status", fields);
        return patch.toString();
    }
}
