package io.lbmode.datapath.agent;

import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus;
import io.lbmode.crds.nodedataplane.v1alpha1.NodeDataplaneStatus.SkippedService;
import io.lbmode.datapath.model.DesiredState;
import io.lbmode.datapath.model.NodeStateBuilder;
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
 */
final class ServiceReports {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceReports.class);

    private final StatusSink sink;
    /** {@code namespace/name reason-kind message} of every report made and still true. */
    private Set<String> reported = new HashSet<>();
    /** Skipped Services of the last build, in order: {@code namespace/name -> reasons}. */
    private Map<String, List<String>> skipped = Map.of();

    ServiceReports(StatusSink sink) {
        this.sink = sink;
    }

    /** Logs and sends what is new in {@code built}; {@code objects} give the uid an Event names. */
    void report(NodeStateBuilder.Result built, DesiredState objects) {
        Set<String> now = new HashSet<>();
        Map<String, List<String>> skippedNow = new LinkedHashMap<>();
        for (NodeStateBuilder.Skip skip : built.skips()) {
            skippedNow.computeIfAbsent(skip.service(), k -> new ArrayList<>()).add(skip.reason());
            String key = skip.service() + " " + StatusSink.ServiceEvent.SKIPPED + " " + skip.reason();
            now.add(key);
            if (!reported.contains(key)) {
                LOG.warn("service {}: {}", skip.service(), skip.reason());
                send(new StatusSink.ServiceEvent(skip.namespace(), skip.name(), objects.uid(skip.namespace(), skip.name()).orElse(""),
                        StatusSink.ServiceEvent.SKIPPED, skip.reason()));
            }
        }
        for (NodeStateBuilder.Ignored ignored : built.ignored()) {
            String message = ignored.field() + " is not honoured by lbmode (see the datapath README: Service fields); the"
                    + " Service is programmed without it";
            String key = ignored.service() + " " + StatusSink.ServiceEvent.IGNORED + " " + message;
            now.add(key);
            if (!reported.contains(key)) {
                LOG.info("service {}: {}", ignored.service(), message);
                send(new StatusSink.ServiceEvent(ignored.namespace(), ignored.name(), objects.uid(ignored.namespace(), ignored.name()).orElse(""),
                        StatusSink.ServiceEvent.IGNORED, message));
            }
        }
        reported = now;
        skipped = skippedNow;
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
        if (skipped.isEmpty()) {
            return;
        }
        status.skippedServices = skipped.size();
        status.skipped = skipped.entrySet().stream().limit(NodeDataplaneStatus.SKIPPED_LISTED)
                .map(e -> new SkippedService(e.getKey(), String.join("; ", e.getValue()))).toList();
    }
}
