package io.lbmode.crds.nodedataplane.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.List;
import java.util.Map;

/** Written by the datapath agent after each sync; {@code lastError} is absent when the last sync succeeded. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class NodeDataplaneStatus {
    /** How many skipped Services {@link #skipped} names at most (the status stays small at any number of Services). */
    public static final int SKIPPED_LISTED = 20;

    /** A Service that was not (or not fully) programmed, and why. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class SkippedService {
        /** {@code namespace/name}. */
        public String service;
        /** What is wrong and what to change, e.g. {@code spec.ports[0].port 0 is not 1-65535}. */
        public String reason;

        public SkippedService() {
        }

        public SkippedService(String service, String reason) {
            this.service = service;
            this.reason = reason;
        }
    }

    /** Mode programmed in the kernel: {@code dsr} or {@code snat}. */
    public String mode;
    /** Interface the DSR programs are attached to, or SNAT traffic leaves by. */
    public String interfaceName;
    /** LoadBalancer Service ports (VIP, protocol, port) programmed. */
    public Integer services;
    /** Backends (pod address and port) programmed across all services. */
    public Integer endpoints;
    /** Increases by one with every change applied to the kernel. */
    public Long rulesetGeneration;
    /** Hash of the desired state last programmed: equal hashes mean equal rules on two nodes. */
    public String rulesetHash;
    /** RFC 3339 time of the last successful sync (also when nothing changed). */
    public String lastSyncTime;
    /** Why the last sync failed; absent when it succeeded. */
    public String lastError;
    /**
     * Packets dropped by the datapath, by reason, e.g. {@code {fragNeeded: 3}} (DSR) or {@code {notInSourceRanges: 5}} (both
     * modes: connections from clients outside a Service's {@code loadBalancerSourceRanges}).
     */
    public Map<String, Long> drops;
    /** LoadBalancer Services this node did not program, or programmed only in part (the reasons: {@link #skipped}). */
    public Integer skippedServices;
    /** The first {@value #SKIPPED_LISTED} of them by namespace and name, with the reason; each also gets a Warning Event. */
    public List<SkippedService> skipped;
    /** Version of the agent that wrote this status. */
    public String agentVersion;
    /**
     * {@code Programmed}: True when the kernel holds the desired state; False (reason SyncFailed, ModeChangeFailed
     * or RepairFailed, the message as in lastError) while the agent retries.
     */
    public List<Condition> conditions;
}
