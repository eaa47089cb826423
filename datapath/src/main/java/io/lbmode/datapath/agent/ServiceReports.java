package io.lbmode.datapath.agent;

import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus.SkippedService;
import io.lbmode.datapath.model.DesiredState;
import io.lbmode.datapath.model.NodeStateBuilder;
import io.lbmode.datapath.program.Applied;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the agent tells users about Services it could not program (or programmed without a field they set): a log line
 * and a Warning Event once per Service and distinct reason, not once per sync (a sync can run every few milliseconds),
 * and the count and first names in NodeDataplane status. A reason that goes away and comes back is reported again.
 * Two sources, each replacing only its own reports: the desired state's build ({@link #report}: Services that cannot be
 * programmed anywhere) and the programmer's apply ({@link #notProgrammed}: service ports this node's kernel had no room
 * for).
 */
final class ServiceReports {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceReports.class);

    private final StatusSink sink;
    /** {@code namespace/name reason-kind message} of every report made and still true. */
    private Set<String> reported = new HashSet<>();
    /** Skipped Services of the last build, in order: {@code namespace/name -> reasons}. */
    private Map<String, List<String>> skipped = Map.of();
    /** As {@link #reported}, of the programmer's last successful apply. */
    private Set<String> reportedNotProgrammed = new HashSet<>();
    /** Services with service ports the last successful apply left out, in the state's order: {@code namespace/name -> reasons}. */
    private Map<String, List<String>> notProgrammed = Map.of();
    private int notProgrammedPorts;

    ServiceReports(StatusSink sink) {
        this.sink = sink;
    }

    /** Logs and sends what is new in {@code built}; {@code objects} give the uid an Event names. */
    void report(NodeStateBuilder.Result built, DesiredState objects) {
        Set<String> now = new HashSet<>();
        Map<String, List<String>> skippedNow = new LinkedHashMap<>();
        for (NodeStateBuilder.Skip skip : built.skips()) {
            skippedNow.computeIfAbsent(skip.service(), k -> new ArrayList<>()).add(skip.reason());
            once(skip.namespace(), skip.name(), StatusSink.ServiceEvent.SKIPPED, skip.reason(), objects, reported, now);
        }
        for (NodeStateBuilder.Ignored ignored : built.ignored()) {
            String message = ignored.field() + " is not honoured by lbmode (see the datapath README: Service fields); the"
                    + " Service is programmed without it";
            once(ignored.namespace(), ignored.name(), StatusSink.ServiceEvent.IGNORED, message, objects, reported, now);
        }
        reported = now;
        skipped = skippedNow;
    }

    /**
     * Logs and sends what is new in the service ports an apply left out ({@link Applied#notProgrammed}, all of them
     * each time); those no longer left out are forgotten, so their Services leave the status.
     */
    void notProgrammed(List<Applied.NotProgrammed> ports, DesiredState objects) {
        Set<String> now = new HashSet<>();
        Map<String, List<String>> byService = new LinkedHashMap<>();
        for (Applied.NotProgrammed port : ports) {
            String message = port.message();
            byService.computeIfAbsent(port.service(), k -> new ArrayList<>()).add(message);
            once(port.namespace(), port.name(), StatusSink.ServiceEvent.SKIPPED, message, objects, reportedNotProgrammed, now);
        }
        reportedNotProgrammed = now;
        notProgrammed = byService;
        notProgrammedPorts = ports.size();
    }

    /** Service ports the last successful apply left out (the kernel holds the others). */
    int notProgrammedPorts() {
        return notProgrammedPorts;
    }

    /**
     * Notes a report on Service {@code namespace/name} in {@code now}; logs it and sends its Event only when it is not in
     * {@code before} (made already and still true): once per Service, kind and message. Skips are warnings, ignored
     * fields information.
     */
    private void once(String namespace, String name, String kind, String message, DesiredState objects, Set<String> before,
                      Set<String> now) {
        String service = namespace + "/" + name;
        String key = service + " " + kind + " " + message;
        now.add(key);
        if (!before.contains(key)) {
            if (kind.equals(StatusSink.ServiceEvent.SKIPPED)) {
                LOG.warn("service {}: {}", service, message);
            } else {
                LOG.info("service {}: {}", service, message);
            }
            send(new StatusSink.ServiceEvent(namespace, name, objects.uid(namespace, name).orElse(""), kind, message));
        }
    }

    private void send(StatusSink.ServiceEvent event) {
        try {
            sink.serviceEvent(event);
        } catch (Exception e) {
            LOG.warn("could not write an Event on service {}/{}: {}", event.namespace(), event.name(), e.getMessage());
        }
    }

    /** Sets {@code skippedServices} and the first {@value NodeDataplaneStatus#SKIPPED_LISTED} of them. */
    void status(NodeDataplaneStatus status) {
        Map<String, List<String>> all = skipped;
        if (!notProgrammed.isEmpty()) {
            Map<String, List<String>> merged = new LinkedHashMap<>(skipped);
            notProgrammed.forEach((service, reasons) -> merged.merge(service, reasons, (a, b) -> {
                List<String> both = new ArrayList<>(a);
                both.addAll(b);
                return both;
            }));
            all = merged;
        }
        if (all.isEmpty()) {
            return;
        }
        status.skippedServices = all.size();
        status.skipped = all.entrySet().stream().limit(NodeDataplaneStatus.SKIPPED_LISTED)
                .map(e -> new SkippedService(e.getKey(), String.join("; ", e.getValue()))).toList();
    }
}
