package io.lbmode.datapath.model;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LoadBalancerIngress;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointConditions;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.lbmode.crds.cluster.v1.ForwardMode;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Turns Kubernetes objects into this node's {@link NodeState}, with the Service semantics users know from kube-proxy:
 * what each Service asks for on its own is here, the rules between Services (who keeps a VIP:port two claim, what the
 * mode forwards) and the state kept up to date change by change are in {@link DesiredState}.
 *
 * <ul>
 *   <li>Only {@code type: LoadBalancer} Services; each {@code status.loadBalancer.ingress[].ip}, IPv4 or IPv6, that
 *       the Cluster's address pools or VIPs hold ({@link VipRanges}) is a VIP; others are refused and reported. A
 *       dual-stack Service ({@code ipFamilies: [IPv4, IPv6]}) has one of each, each served by the endpoints of its own
 *       family: IPv4 and IPv6 EndpointSlices ({@code addressType}) alike.</li>
 *   <li>Two Services claiming one VIP, protocol and port: the older keeps it ({@code metadata.creationTimestamp},
 *       then namespace/name), the other is reported ({@link DesiredState}).</li>
 *   <li>A Service (or a port or VIP of it) that can't be programmed is skipped and reported ({@link Skip}), the rest
 *       programmed; an endpoint listed in two EndpointSlices is one backend.</li>
 *   <li>Every TCP and UDP port; the backend port comes from the EndpointSlice port with the same name and protocol
 *       (that is how named targetPorts are resolved: the EndpointSlice controller resolved them per pod); a slice
 *       without ports falls back to a numeric targetPort.</li>
 *   <li>Ready endpoints take new connections; when none is ready, serving terminating ones do (graceful termination),
 *       never others. While ready ones exist, serving terminating ones are listed as draining: established
 *       connections to them may finish.</li>
 *   <li>{@code externalTrafficPolicy: Local}: endpoints on this node only.</li>
 *   <li>{@code spec.loadBalancerSourceRanges}, else the older annotation {@value #SOURCE_RANGES_ANNOTATION} (as
 *       kube-proxy reads them); a Service with an entry that is not an IPv4 prefix is skipped, never opened to all.</li>
 *   <li>{@code sessionAffinity: ClientIP} with {@code sessionAffinityConfig.clientIP.timeoutSeconds}.</li>
 * </ul>
 * Pure: no I/O, no clock; equal inputs give equal states.
 */
public final class NodeStateBuilder {
    /** Label every EndpointSlice carries naming its Service. */
    public static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";
    /** Source ranges before {@code spec.loadBalancerSourceRanges} existed; kube-proxy still reads it when the field is empty. */
    public static final String SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges";

    private NodeStateBuilder() {
    }

    /**
     * Something of a Service that is not programmed, and why: the whole Service, or one port or VIP of it.
     *
     * @param namespace Service namespace
     * @param name      Service name
     * @param reason    what is wrong, naming the field, and what is skipped
     */
    public record Skip(String namespace, String name, String reason) {
        public Skip {
            Objects.requireNonNull(namespace, "namespace");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(reason, "reason");
        }

        /** {@code namespace/name}. */
        public String service() {
            return namespace + "/" + name;
        }
    }

    /**
     * A field a Service sets that lbmode does not honour (README: "Service fields"): programmed without it.
     *
     * @param field the field and its value, e.g. {@code spec.loadBalancerClass: example.com/other}
     */
    public record Ignored(String namespace, String name, String field) {
        public Ignored {
            Objects.requireNonNull(namespace, "namespace");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(field, "field");
        }

        public String service() {
            return namespace + "/" + name;
        }
    }

    /**
     * The state, what was skipped and why, and the fields set but ignored: to report, not to fail on (one bad Service
     * must not stop the others). Both lists are in Service order.
     */
    public record Result(NodeState state, List<Skip> skips, List<Ignored> ignored) {
        public Result {
            Objects.requireNonNull(state, "state");
            skips = List.copyOf(skips);
            ignored = List.copyOf(ignored);
        }

        /** The Services with at least one skip, in order ({@code namespace/name}). */
        public List<String> skippedServices() {
            return skips.stream().map(Skip::service).distinct().toList();
        }
    }

    /** The desired state of {@code nodeName} from every Node, Service and EndpointSlice there is. */
    public static Result build(ForwardMode mode, long hashSeed, VipRanges vipRanges, String nodeName, List<Node> nodes,
                               List<Service> services, List<EndpointSlice> slices) {
        DesiredState desired = new DesiredState();
        desired.replaceAll(services, slices);
        return desired.build(mode, hashSeed, vipRanges, nodeName, nodes);
    }

    /** This node as the Node objects describe it (its address unknown while there is no Node of that name). */
    static NodeInfo nodeInfo(String nodeName, List<Node> nodes) {
        return new NodeInfo(nodeName, nodes.stream()
                .filter(n -> n.getMetadata() != null && nodeName.equals(n.getMetadata().getName()))
                .findFirst().flatMap(NodeStateBuilder::nodeAddress).orElse(NodeInfo.UNKNOWN_ADDRESS));
    }

    /** The Service whose endpoints {@code slice} holds ({@code namespace/name}); empty when it holds none (no label, FQDN). */
    static Optional<String> serviceOf(EndpointSlice slice) {
        if (slice.getMetadata() == null || slice.getMetadata().getLabels() == null) {
            return Optional.empty();
        }
        String svc = slice.getMetadata().getLabels().get(SERVICE_NAME_LABEL);
        if (svc == null || !(slice.getAddressType() == null || "IPv4".equals(slice.getAddressType())
                || "IPv6".equals(slice.getAddressType()))) {
            return Optional.empty();
        }
        return Optional.of(ns(slice.getMetadata().getNamespace()) + "/" + svc);
    }

    /**
     * What one LoadBalancer Service asks for on its own, before it meets the others (which of two Services claiming one
     * VIP:port keeps it is {@link DesiredState}'s part): its service ports in {@code spec.ports} order, what of it is
     * skipped and why, and the fields it sets that lbmode ignores.
     */
    record Contribution(List<ServicePort> ports, List<Skip> skips, List<Ignored> ignored) {
        Contribution {
            ports = List.copyOf(ports);
            skips = List.copyOf(skips);
            ignored = List.copyOf(ignored);
        }
    }

    /** {@link Contribution} of {@code svc}, a LoadBalancer Service, with the EndpointSlices labelled with its name. */
    static Contribution contribution(Service svc, String namespace, String name, List<EndpointSlice> slices,
                                     String nodeName, VipRanges vipRanges) {
        List<Skip> skips = new ArrayList<>();
        List<ServicePort> ports;
        try {
            ports = servicePorts(svc, namespace, name, slices, nodeName, vipRanges, skips);
        } catch (RuntimeException e) {
            // Whatever the checks missed: this Service is not programmed, every other one is.
            ports = List.of();
            skips.add(new Skip(namespace, name, "can't be programmed (" + (e.getMessage() == null
                    ? e.getClass().getSimpleName() : e.getMessage()) + "); skipped"));
        }
        return new Contribution(ports, skips, ignoredFields(svc, namespace, name));
    }

    /** Whether lbmode programs {@code svc} at all: a named Service of {@code type: LoadBalancer}. */
    static boolean isLoadBalancer(Service svc) {
        return svc.getMetadata() != null && svc.getMetadata().getName() != null
                && svc.getSpec() != null && "LoadBalancer".equals(svc.getSpec().getType());
    }

    /** {@code namespace/name}, the namespace {@code default} when empty: how Services and their slices find each other. */
    static String serviceKey(String namespace, String name) {
        return ns(namespace) + "/" + name;
    }

    /** The service ports of one LoadBalancer Service (one per VIP and port), with what was skipped. */
    private static List<ServicePort> servicePorts(Service svc, String namespace, String name, List<EndpointSlice> svcSlices,
                                                  String nodeName, VipRanges vipRanges, List<Skip> skips) {
        List<ServicePort> out = new ArrayList<>();
        List<InetAddress> vips = vips(svc, namespace, name, vipRanges, skips);
        if (vips.isEmpty()) {
            return out;
        }
        if (svc.getSpec().getPorts() == null || svc.getSpec().getPorts().isEmpty()) {
            skips.add(new Skip(namespace, name, "spec.ports is empty; nothing to program"));
            return out;
        }
        boolean localOnly = "Local".equals(svc.getSpec().getExternalTrafficPolicy());
        Optional<ServicePort.Policy> policy = policy(svc, namespace, name, skips);
        if (policy.isEmpty()) {
            return out;
        }
        reportUnreadableAddresses(svcSlices, namespace, name, skips);
        List<io.fabric8.kubernetes.api.model.ServicePort> specPorts = svc.getSpec().getPorts();
        for (int i = 0; i < specPorts.size(); i++) {
            var p = specPorts.get(i);
            String field = "spec.ports[" + i + "]" + (p.getName() == null || p.getName().isEmpty() ? "" : " (" + p.getName() + ")");
            String portName = p.getName() == null ? "" : p.getName();
            Optional<Protocol> protocol = Protocol.fromKubernetes(p.getProtocol());
            if (protocol.isEmpty()) {
                skips.add(new Skip(namespace, name, field + ".protocol " + p.getProtocol()
                        + " is not supported (TCP and UDP are); this port skipped"));
                continue;
            }
            if (p.getPort() == null || p.getPort() < 1 || p.getPort() > 65535) {
                skips.add(new Skip(namespace, name, field + ".port " + (p.getPort() == null ? "is missing" : p.getPort() + " is not 1-65535")
                        + "; this port skipped"));
                continue;
            }
            IntOrString target = p.getTargetPort();
            if (target != null && target.getIntVal() != null && (target.getIntVal() < 1 || target.getIntVal() > 65535)) {
                skips.add(new Skip(namespace, name, field + ".targetPort " + target.getIntVal()
                        + " is not 1-65535; this port skipped"));
                continue;
            }
            Endpoints endpoints = endpoints(svcSlices, portName, protocol.get(), target, p.getPort(), nodeName);
            List<Backend> backends = endpoints.active();
            List<Backend> draining = endpoints.draining();
            if (localOnly) {
                backends = backends.stream().filter(Backend::local).toList();
                draining = draining.stream().filter(Backend::local).toList();
            }
            for (InetAddress vip : vips) {
                out.add(new ServicePort(namespace, name, portName, protocol.get(), vip, p.getPort(), localOnly,
                        ofFamily(backends, vip), ofFamily(draining, vip), policy.get()));
            }
        }
        return out;
    }

    /**
     * Fields lbmode does not honour, when a Service sets them to something other than what the API server fills in
     * (so that every LoadBalancer Service does not report the node ports and health-check port it always gets).
     */
    private static List<Ignored> ignoredFields(Service svc, String namespace, String name) {
        var spec = svc.getSpec();
        List<Ignored> out = new ArrayList<>();
        if (spec.getLoadBalancerClass() != null && !spec.getLoadBalancerClass().isEmpty()) {
            out.add(new Ignored(namespace, name, "spec.loadBalancerClass: " + spec.getLoadBalancerClass()));
        }
        if ("Local".equals(spec.getInternalTrafficPolicy())) {
            out.add(new Ignored(namespace, name, "spec.internalTrafficPolicy: Local"));
        }
        // spec.ipFamilyPolicy is honoured: every ingress address, IPv4 and IPv6, is programmed in its family.
        if (spec.getExternalIPs() != null && !spec.getExternalIPs().isEmpty()) {
            out.add(new Ignored(namespace, name, "spec.externalIPs: " + String.join(",", spec.getExternalIPs())));
        }
        if (spec.getLoadBalancerIP() != null && !spec.getLoadBalancerIP().isEmpty()) {
            out.add(new Ignored(namespace, name, "spec.loadBalancerIP: " + spec.getLoadBalancerIP()));
        }
        if (spec.getTrafficDistribution() != null && !spec.getTrafficDistribution().isEmpty()) {
            out.add(new Ignored(namespace, name, "spec.trafficDistribution: " + spec.getTrafficDistribution()));
        }
        return out;
    }

    static String ns(String namespace) {
        return namespace == null || namespace.isEmpty() ? "default" : namespace;
    }

    /** InternalIP first (what pods on other nodes see), else ExternalIP. */
    static Optional<Inet4Address> nodeAddress(Node node) {
        if (node.getStatus() == null || node.getStatus().getAddresses() == null) {
            return Optional.empty();
        }
        for (String type : List.of("InternalIP", "ExternalIP")) {
            for (NodeAddress a : node.getStatus().getAddresses()) {
                if (type.equals(a.getType())) {
                    Optional<Inet4Address> ip = Addresses.parseIpv4(a.getAddress());
                    if (ip.isPresent()) {
                        return ip;
                    }
                }
            }
        }
        return Optional.empty();
    }

    /** A VIP is served by the endpoints of its own family only (an IPv6 VIP by the IPv6 EndpointSlices). */
    private static List<Backend> ofFamily(List<Backend> backends, InetAddress vip) {
        IpFamily family = IpFamily.of(vip);
        return backends.stream().filter(b -> b.family() == family).toList();
    }

    /** The Service's ingress IPs (IPv4 and IPv6) that {@code vipRanges} allows; every other one is reported. */
    private static List<InetAddress> vips(Service svc, String namespace, String name, VipRanges vipRanges, List<Skip> skips) {
        if (svc.getStatus() == null || svc.getStatus().getLoadBalancer() == null
                || svc.getStatus().getLoadBalancer().getIngress() == null) {
            return List.of();
        }
        Set<InetAddress> vips = new LinkedHashSet<>();
        for (LoadBalancerIngress ingress : svc.getStatus().getLoadBalancer().getIngress()) {
            if (ingress.getIp() == null) {
                continue; // hostname-only ingress (cloud LBs): nothing to program on a node
            }
            Optional<InetAddress> ip = Addresses.parse(ingress.getIp());
            if (ip.isEmpty()) {
                skips.add(new Skip(namespace, name, "status.loadBalancer.ingress ip '" + ingress.getIp()
                        + "' is not an IPv4 or IPv6 address; this VIP skipped"));
                continue;
            }
            Optional<String> refusal = vipRanges.refusal(ip.get());
            if (refusal.isPresent()) {
                skips.add(new Skip(namespace, name, "status.loadBalancer.ingress " + refusal.get()));
            } else {
                vips.add(ip.get());
            }
        }
        return List.copyOf(vips);
    }

    /**
     * The source ranges and affinity of a Service; empty (with a warning) when a source range can't be read: a Service
     * meant to be reachable from some clients only must not become reachable from all.
     */
    private static Optional<ServicePort.Policy> policy(Service svc, String namespace, String name, List<Skip> skips) {
        List<String> ranges = svc.getSpec().getLoadBalancerSourceRanges();
        String field = "spec.loadBalancerSourceRanges";
        if (ranges == null || ranges.isEmpty()) {
            String annotation = svc.getMetadata().getAnnotations() == null ? null
                    : svc.getMetadata().getAnnotations().get(SOURCE_RANGES_ANNOTATION);
            ranges = annotation == null || annotation.isBlank() ? List.of() : List.of(annotation.split(","));
            field = "annotation " + SOURCE_RANGES_ANNOTATION;
        }
        List<Cidr> cidrs = new ArrayList<>();
        for (String r : ranges) {
            Optional<Cidr> cidr = Cidr.parse(r);
            if (cidr.isEmpty()) {
                skips.add(new Skip(namespace, name, field + " entry '" + r.trim()
                        + "' is not an IPv4 or IPv6 prefix (a.b.c.d/n, x:y::/n); Service skipped so it is not opened to every client"));
                return Optional.empty();
            }
            cidrs.add(cidr.get());
        }
        int affinity = 0;
        if ("ClientIP".equals(svc.getSpec().getSessionAffinity())) {
            var config = svc.getSpec().getSessionAffinityConfig();
            Integer timeout = config == null || config.getClientIP() == null ? null : config.getClientIP().getTimeoutSeconds();
            affinity = timeout == null ? ServicePort.Policy.DEFAULT_AFFINITY_SECONDS : timeout;
            if (affinity < 1 || affinity > ServicePort.Policy.MAX_AFFINITY_SECONDS) {
                skips.add(new Skip(namespace, name, "spec.sessionAffinityConfig.clientIP.timeoutSeconds " + timeout
                        + " is outside 1-" + ServicePort.Policy.MAX_AFFINITY_SECONDS + "; using "
                        + ServicePort.Policy.DEFAULT_AFFINITY_SECONDS));
                affinity = ServicePort.Policy.DEFAULT_AFFINITY_SECONDS;
            }
        }
        return Optional.of(new ServicePort.Policy(cidrs, affinity));
    }

    /**
     * Reports each endpoint address of the Service's EndpointSlices that is not an IPv4 or IPv6 address, naming the
     * slice and the field; {@link #endpoints} leaves them out. The API server validates these addresses, so only a
     * hand-written state dir can hold one, and that is where a user needs to be told which line is wrong.
     */
    private static void reportUnreadableAddresses(List<EndpointSlice> slices, String namespace, String name, List<Skip> skips) {
        for (EndpointSlice slice : slices) {
            List<Endpoint> endpoints = slice.getEndpoints() == null ? List.of() : slice.getEndpoints();
            for (int i = 0; i < endpoints.size(); i++) {
                List<String> addresses = endpoints.get(i).getAddresses() == null ? List.of() : endpoints.get(i).getAddresses();
                for (int j = 0; j < addresses.size(); j++) {
                    if (Addresses.parse(addresses.get(j)).isEmpty()) {
                        String slicename = slice.getMetadata() == null ? null : slice.getMetadata().getName();
                        skips.add(new Skip(namespace, name, "EndpointSlice " + (slicename == null ? "(unnamed)" : slicename)
                                + " endpoints[" + i + "].addresses[" + j + "] '" + addresses.get(j)
                                + "' is not an IPv4 or IPv6 address; this endpoint skipped"));
                    }
                }
            }
        }
    }

    /** Where new connections go, and which endpoints only finish what they have. */
    private record Endpoints(List<Backend> active, List<Backend> draining) {
    }

    private static Endpoints endpoints(List<EndpointSlice> slices, String portName, Protocol protocol,
                                       IntOrString targetPort, int servicePort, String nodeName) {
        List<Backend> ready = new ArrayList<>();
        List<Backend> servingTerminating = new ArrayList<>();
        for (EndpointSlice slice : slices) {
            Optional<Integer> port = slicePort(slice, portName, protocol, targetPort, servicePort);
            if (port.isEmpty() || slice.getEndpoints() == null) {
                continue;
            }
            for (Endpoint ep : slice.getEndpoints()) {
                EndpointConditions c = ep.getConditions();
                // Kubernetes: a missing ready condition means ready; missing serving means "as ready"; missing terminating means not.
                boolean isReady = c == null || c.getReady() == null || c.getReady();
                boolean serving = c == null || c.getServing() == null ? isReady : c.getServing();
                boolean terminating = c != null && c.getTerminating() != null && c.getTerminating();
                String epNode = ep.getNodeName() == null ? "" : ep.getNodeName();
                if (ep.getAddresses() == null) {
                    continue;
                }
                for (String address : ep.getAddresses()) {
                    Optional<InetAddress> ip = Addresses.parse(address);
                    if (ip.isEmpty()) {
                        continue;
                    }
                    Backend b = new Backend(ip.get(), port.get(), epNode, !epNode.isEmpty() && epNode.equals(nodeName));
                    if (isReady && !terminating) {
                        ready.add(b);
                    } else if (serving && terminating) {
                        servingTerminating.add(b);
                    }
                }
            }
        }
        List<Backend> active = distinct(ready);
        List<Backend> terminating = distinct(servingTerminating).stream()
                .filter(t -> active.stream().noneMatch(a -> a.endpoint().equals(t.endpoint()))).toList();
        return active.isEmpty() ? new Endpoints(terminating, List.of()) : new Endpoints(active, terminating);
    }

    /**
     * One backend per address and port: the same endpoint can appear in two EndpointSlices (a controller's slice
     * being replaced, or two slices that disagree on its node), and a backend listed twice would get twice the
     * traffic (and two Maglev names). Of the copies, the one with the first node name wins, on every node alike.
     */
    private static List<Backend> distinct(List<Backend> backends) {
        java.util.Map<String, Backend> byEndpoint = new java.util.TreeMap<>();
        backends.stream().sorted().forEach(b -> byEndpoint.putIfAbsent(b.endpoint(), b));
        return List.copyOf(byEndpoint.values());
    }

    /** The backend port for a service port in one slice: the slice port with the same name and protocol. */
    private static Optional<Integer> slicePort(EndpointSlice slice, String portName, Protocol protocol,
                                               IntOrString targetPort, int servicePort) {
        List<EndpointPort> ports = slice.getPorts();
        if (ports == null || ports.isEmpty()) {
            // No port list: only a numeric targetPort (or the port itself) can say where to send.
            if (targetPort == null) {
                return Optional.of(servicePort);
            }
            return targetPort.getIntVal() != null ? Optional.of(targetPort.getIntVal()) : Optional.empty();
        }
        for (EndpointPort ep : ports) {
            String name = ep.getName() == null ? "" : ep.getName();
            if (name.equals(portName) && Protocol.fromKubernetes(ep.getProtocol()).equals(Optional.of(protocol))
                    && ep.getPort() != null && ep.getPort() >= 1 && ep.getPort() <= 65535) {
                return Optional.of(ep.getPort());
            }
        }
        return Optional.empty();
    }
}
