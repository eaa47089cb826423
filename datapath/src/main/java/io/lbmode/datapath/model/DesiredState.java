package io.lbmode.datapath.model;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.datapath.model.NodeStateBuilder.Contribution;
import io.lbmode.datapath.model.NodeStateBuilder.Ignored;
import io.lbmode.datapath.model.NodeStateBuilder.Result;
import io.lbmode.datapath.model.NodeStateBuilder.Skip;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * One node's desired state kept up to date object by object: the Services and EndpointSlices it is built from, what
 * each LoadBalancer Service contributes on its own ({@link NodeStateBuilder}'s rules), which Service holds each
 * VIP:port, and the service ports held, sorted, with their totals (the sum of their digests for the
 * state hash, backends, IPv6 ports).
 *
 * <p>A changed object marks the one Service it belongs to; {@link #build} rebuilds the marked Services and settles
 * the VIP:ports they claim or claimed, nothing else. So one change costs what it touches (plus an array copy of
 * references for the new {@link NodeState}), not the number of Services: at 10,000 Services, rebuilding and sorting
 * all of them cost 23-70 ms per change. {@link NodeStateBuilder#build} is this class fed every object at once;
 * {@code DesiredStateTest} checks that any sequence of changes ends in the state built from scratch.
 *
 * <p>The rules between Services, kept here:
 * <ul>
 *   <li>Two Services claiming one VIP, protocol and port: the older keeps it ({@code metadata.creationTimestamp},
 *       then namespace/name; a missing timestamp counts as youngest), the other is reported; when the holder goes or
 *       lets the port go, the next oldest claimant takes it. A Service listing one port twice keeps the first.</li>
 *   <li>Skips and ignored fields are listed in Service order (oldest first): a Service's own skips, then one per port
 *       it lost, in port order.</li>
 * </ul>
 * Objects are keyed by namespace and name: an object with the key of one already held replaces it (see
 * {@link #replaceAll} for a full read). Not thread-safe: one agent thread uses it.
 */
public final class DesiredState {
    // ---- the objects ----
    private final Map<String, Service> services = new HashMap<>();
    private final Map<String, EndpointSlice> slices = new HashMap<>();
    /** Slice key -> the Service whose endpoints it holds (slices holding none are not listed). */
    private final Map<String, String> sliceService = new HashMap<>();
    /** Service key -> keys of its slices, sorted: equal objects give equal states in whatever order they came. */
    private final Map<String, List<String>> slicesByService = new HashMap<>();
    /** Services to rebuild: changed themselves, or one of their slices did. */
    private Set<String> changed = new HashSet<>();

    // ---- what was built from them ----
    /** What the last build was for; another mode, VIP ranges or node rebuilds everything. */
    private record Settings(ForwardMode mode, VipRanges vipRanges, String nodeName) {
    }

    private Settings settings;

    /** Where a Service stands among those claiming one VIP:port: older first. Unique per Service. */
    private record Age(String created, String namespace, String name) implements Comparable<Age> {
        static Age of(Service s) {
            String created = s.getMetadata().getCreationTimestamp();
            // RFC 3339 UTC timestamps in the API's one format order as text; "~" sorts after every digit.
            return new Age(created == null ? "~" : created, NodeStateBuilder.ns(s.getMetadata().getNamespace()), s.getMetadata().getName());
        }

        @Override
        public int compareTo(Age o) {
            int c = created.compareTo(o.created);
            if (c == 0) {
                c = namespace.compareTo(o.namespace);
            }
            return c != 0 ? c : name.compareTo(o.name);
        }
    }

    /** A Service's {@code index}th port claiming its VIP:port; the claims of one VIP:port are sorted, the first holds it. */
    private record Claim(Age age, int index, ServicePort port, long digest, String service) implements Comparable<Claim> {
        @Override
        public int compareTo(Claim o) {
            int c = age.compareTo(o.age);
            return c != 0 ? c : Integer.compare(index, o.index);
        }
    }

    /** One Service as last built: its contribution and one claim per port. */
    private record Built(Age age, Contribution contribution, List<Claim> claims) {
    }

    /** What is reported about one Service. */
    private record Reports(List<Skip> skips, List<Ignored> ignored) {
    }

    private final Map<String, Built> built = new HashMap<>();
    private final Map<ServicePort.Key, List<Claim>> claims = new HashMap<>();
    /** The holders, sorted (distinct keys), and their totals. */
    private final ArrayList<ServicePort> forwarded = new ArrayList<>();
    private SortedServicePorts.Totals totals = SortedServicePorts.Totals.NONE;
    /** Services with anything to report, oldest first. */
    private final TreeMap<Age, Reports> reports = new TreeMap<>();
    /** The last build's result, returned again while nothing changed. */
    private Result last;

    /** {@code namespace/name} of a Service (namespace {@code default} when empty): how its EndpointSlices name it. */
    public static String serviceKey(String namespace, String name) {
        return NodeStateBuilder.serviceKey(namespace, name);
    }

    /** Adds or replaces a Service (one without a name can't be told apart and is left out). */
    public void putService(Service service) {
        if (service.getMetadata() == null || service.getMetadata().getName() == null) {
            return;
        }
        String key = serviceKey(service.getMetadata().getNamespace(), service.getMetadata().getName());
        if (services.put(key, service) != service) {
            changed.add(key);
        }
    }

    /** Removes the Service {@link #serviceKey} names; nothing when there is none. */
    public void removeService(String key) {
        if (services.remove(key) != null) {
            changed.add(key);
        }
    }

    /**
     * Adds or replaces an EndpointSlice under {@code key} (its {@code namespace/name}). The same object again changes
     * nothing: an informer replaces an object on every change, so the same instance means the same content.
     */
    public void putSlice(String key, EndpointSlice slice) {
        EndpointSlice previous = slices.put(key, slice);
        if (previous == slice) {
            return;
        }
        unfile(key);
        NodeStateBuilder.serviceOf(slice).ifPresent(service -> {
            sliceService.put(key, service);
            List<String> keys = new ArrayList<>(slicesByService.getOrDefault(service, List.of()));
            int at = Collections.binarySearch(keys, key);
            keys.add(-at - 1, key);
            slicesByService.put(service, keys.size() == 1 ? List.of(key) : keys);
            changed.add(service);
        });
    }

    /** Removes the EndpointSlice held under {@code key}; nothing when there is none. */
    public void removeSlice(String key) {
        if (slices.remove(key) != null) {
            unfile(key);
        }
    }

    /** Drops the slice {@code key} from its Service's list and marks that Service. */
    private void unfile(String key) {
        String service = sliceService.remove(key);
        if (service == null) {
            return;
        }
        List<String> keys = new ArrayList<>(slicesByService.get(service));
        keys.remove(key);
        if (keys.isEmpty()) {
            slicesByService.remove(service);
        } else {
            slicesByService.put(service, keys);
        }
        changed.add(service);
    }

    /**
     * Holds exactly these objects (a full read: a state directory's documents); unchanged objects (the same instances)
     * are not rebuilt. Of two Services with one namespace and name the later is held; EndpointSlices without a name,
     * or with the name of an earlier one, are held too, told apart by their place among those of that name.
     */
    public void replaceAll(List<Service> nextServices, List<EndpointSlice> nextSlices) {
        Map<String, Service> byKey = new HashMap<>();
        for (Service s : nextServices) {
            if (s.getMetadata() != null && s.getMetadata().getName() != null) {
                byKey.put(serviceKey(s.getMetadata().getNamespace(), s.getMetadata().getName()), s);
            }
        }
        for (String key : List.copyOf(services.keySet())) {
            if (!byKey.containsKey(key)) {
                removeService(key);
            }
        }
        byKey.values().forEach(this::putService);

        Map<String, EndpointSlice> slicesByKey = new HashMap<>();
        for (EndpointSlice s : nextSlices) {
            String name = s.getMetadata() == null ? null : s.getMetadata().getName();
            String first = name == null ? "#" : NodeStateBuilder.ns(s.getMetadata().getNamespace()) + "/" + name;
            String key = first;
            for (int n = 2; slicesByKey.containsKey(key); n++) {
                key = first + "#" + n; // a file may list two slices of one name (or none): each counts
            }
            slicesByKey.put(key, s);
        }
        for (String key : List.copyOf(slices.keySet())) {
            if (!slicesByKey.containsKey(key)) {
                removeSlice(key);
            }
        }
        slicesByKey.forEach(this::putSlice);
    }

    /** The uid of a Service held (for the Events that name it). */
    public Optional<String> uid(String namespace, String name) {
        Service s = services.get(serviceKey(namespace, name));
        return s == null ? Optional.empty() : Optional.ofNullable(s.getMetadata().getUid());
    }

    /** The desired state of node {@code nodeName} now, rebuilding only the Services changed since the last build. */
    public Result build(ForwardMode mode, long hashSeed, VipRanges vipRanges, String nodeName, List<Node> nodes) {
        Settings now = new Settings(mode, vipRanges, nodeName);
        if (!now.equals(settings)) {
            startOver();
            settings = now;
        }
        NodeInfo node = NodeStateBuilder.nodeInfo(nodeName, nodes);
        if (changed.isEmpty() && last != null && last.state().hashSeed() == hashSeed && last.state().node().equals(node)) {
            return last;
        }
        try {
            rebuildChanged();
        } catch (RuntimeException e) {
            settings = null; // half rebuilt: the next build starts over
            throw e;
        }
        NodeState state = new NodeState(mode, node, hashSeed,
                SortedServicePorts.trusted(forwarded.toArray(ServicePort[]::new), totals));
        List<Skip> skips = new ArrayList<>();
        List<Ignored> ignored = new ArrayList<>();
        for (Reports r : reports.values()) {
            skips.addAll(r.skips());
            ignored.addAll(r.ignored());
        }
        last = new Result(state, skips, ignored);
        return last;
    }

    private void startOver() {
        built.clear();
        claims.clear();
        forwarded.clear();
        totals = SortedServicePorts.Totals.NONE;
        reports.clear();
        last = null;
        changed.addAll(services.keySet());
    }

    private void rebuildChanged() {
        Set<String> rebuilt = changed;
        changed = new HashSet<>();
        // The holder of each VIP:port touched, as it was before: settled once all claims are in.
        Map<ServicePort.Key, Optional<Claim>> touched = new HashMap<>();
        for (String key : rebuilt) {
            Built old = built.remove(key);
            if (old != null) {
                reports.remove(old.age());
                old.claims().forEach(c -> withdraw(c, touched));
            }
            Service svc = services.get(key);
            if (svc != null && NodeStateBuilder.isLoadBalancer(svc)) {
                Age age = Age.of(svc);
                Contribution contribution = NodeStateBuilder.contribution(svc, age.namespace(), age.name(), slicesOf(key),
                        settings.nodeName(), settings.vipRanges());
                List<Claim> own = new ArrayList<>(contribution.ports().size());
                for (ServicePort port : contribution.ports()) {
                    Claim c = new Claim(age, own.size(), port, SortedServicePorts.digest(port), key);
                    own.add(c);
                    stake(c, touched);
                }
                built.put(key, new Built(age, contribution, List.copyOf(own)));
            }
        }
        Set<String> toReport = new HashSet<>(rebuilt);
        touched.forEach((portKey, before) -> {
            List<Claim> now = claims.get(portKey);
            Claim holder = now == null ? null : now.getFirst();
            Claim was = before.orElse(null);
            if (holder != was) {
                if (was != null) {
                    unforward(was);
                }
                if (holder != null) {
                    forward(holder);
                }
            }
            if (now != null) {
                now.forEach(c -> toReport.add(c.service())); // a claimant whose holder changed reports anew
            }
        });
        for (String key : toReport) {
            Built b = built.get(key);
            if (b != null) {
                Reports r = reportsOf(b);
                if (r.skips().isEmpty() && r.ignored().isEmpty()) {
                    reports.remove(b.age());
                } else {
                    reports.put(b.age(), r);
                }
            }
        }
    }

    private List<EndpointSlice> slicesOf(String service) {
        List<String> keys = slicesByService.getOrDefault(service, List.of());
        List<EndpointSlice> out = new ArrayList<>(keys.size());
        keys.forEach(k -> out.add(slices.get(k)));
        return out;
    }

    private void stake(Claim c, Map<ServicePort.Key, Optional<Claim>> touched) {
        ServicePort.Key key = c.port().key();
        List<Claim> list = claims.get(key);
        touched.computeIfAbsent(key, k -> Optional.ofNullable(list == null ? null : list.getFirst()));
        if (list == null) {
            claims.put(key, List.of(c));
            return;
        }
        List<Claim> next = new ArrayList<>(list);
        int at = Collections.binarySearch(next, c);
        next.add(at < 0 ? -at - 1 : at, c);
        claims.put(key, List.copyOf(next));
    }

    private void withdraw(Claim c, Map<ServicePort.Key, Optional<Claim>> touched) {
        ServicePort.Key key = c.port().key();
        List<Claim> list = claims.get(key);
        touched.computeIfAbsent(key, k -> Optional.of(list.getFirst()));
        if (list.size() == 1) {
            claims.remove(key);
            return;
        }
        List<Claim> next = new ArrayList<>(list);
        next.remove(c);
        claims.put(key, List.copyOf(next));
    }

    private void forward(Claim c) {
        int at = Collections.binarySearch(forwarded, c.port());
        forwarded.add(-at - 1, c.port());
        totals = totals.plus(c.port(), c.digest());
    }

    private void unforward(Claim c) {
        int at = Collections.binarySearch(forwarded, c.port());
        forwarded.remove(at);
        totals = totals.minus(c.port(), c.digest());
    }

    private Reports reportsOf(Built b) {
        List<Skip> skips = new ArrayList<>(b.contribution().skips());
        for (Claim c : b.claims()) {
            ServicePort sp = c.port();
            Claim holder = claims.get(sp.key()).getFirst();
            if (holder != c) {
                skips.add(new Skip(sp.namespace(), sp.name(), sp.key() + " is already used by the older Service "
                        + holder.port().namespace() + "/" + holder.port().name() + "; this port skipped"));
            }
        }
        return new Reports(List.copyOf(skips), b.contribution().ignored());
    }
}
