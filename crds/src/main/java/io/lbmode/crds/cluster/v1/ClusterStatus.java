package io.lbmode.crds.cluster.v1;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code status} of a {@link Cluster}, written by the operator once per reconcile.
 *
 * <p>Conditions: {@code Valid} (the engine's verdict) and {@code DatapathReady} (every node programs the
 * effective mode).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ClusterStatus {
    public Long observedGeneration;
    /** {@code dsr} or {@code snat}: the field, else the 1.16 preview annotation, else snat. */
    public String effectiveForwardMode;
    public List<Condition> conditions = new ArrayList<>();
    public NodesSummary nodes;

    /** What the datapath agents report, aggregated from the {@code NodeDataplane} objects. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class NodesSummary {
        /** Nodes whose agent programs this cluster's effective mode without error. */
        public Integer programmed;
        public Integer total;
        /** Number of nodes per programmed mode, e.g. {@code {dsr: 3}}. */
        public Map<String, Integer> byMode;
        /** Names of nodes that are not (yet) programmed, at most a handful. */
        public List<String> notProgrammed;
        /** Where this cluster's datapath is driven from: {@code this cluster}, or its own cluster for user clusters. */
        public String drivenBy;
    }
}
